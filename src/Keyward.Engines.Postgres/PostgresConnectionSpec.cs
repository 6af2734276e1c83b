using System.Data.Common;
using System.Globalization;
using System.Net;
using Keyward.Core.Errors;
using Npgsql;

namespace Keyward.Engines.Postgres;

/// <summary>
/// Where a connection points, parsed from its <c>connection_url</c>: a <c>postgresql://host:port/db?sslmode=…</c> URI
/// or an Npgsql <c>Host=…;Port=…;Database=…</c> string, both without credentials (they are separate fields, the
/// password sealed). Only the keys below are accepted; anything else (credentials, pass files, Kerberos, several
/// hosts, options that change what runs on the server) is refused by name.
/// </summary>
internal sealed record PostgresConnectionSpec(string Host, int Port, string Database, SslMode SslMode, int ConnectTimeoutSeconds)
{
    public const int DefaultPort = 5432;
    public const int DefaultConnectTimeoutSeconds = 5;
    public const int CommandTimeoutSeconds = 15;

    /// <summary>Npgsql's <c>Require Auth</c>: any authentication method but <c>password</c> (cleartext).</summary>
    public const string RefuseCleartextPassword = "!Password";

    /// <summary>Accepted keys of the key-value form (spelled as Npgsql does, case and spaces ignored) and of the URI query.</summary>
    private static readonly Dictionary<string, string> Keys = new(StringComparer.Ordinal)
    {
        ["host"] = "host", ["server"] = "host", ["port"] = "port", ["database"] = "database", ["db"] = "database",
        ["sslmode"] = "sslmode", ["timeout"] = "timeout", ["connecttimeout"] = "timeout", ["connect_timeout"] = "timeout",
    };

    private static readonly string[] CredentialKeys = ["username", "user", "userid", "user_id", "uid", "password", "psw", "pwd", "passfile"];

    /// <summary>The canonical URI form, returned by reads.</summary>
    public string Url => string.Create(CultureInfo.InvariantCulture,
        $"postgresql://{(Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host)}:{Port}/{Uri.EscapeDataString(Database)}?sslmode={SslModeName(SslMode)}&connect_timeout={ConnectTimeoutSeconds}");

    public static PostgresConnectionSpec Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw KeywardErrors.MissingField("connection_url");
        }

        if (text.Length > 2048)
        {
            throw KeywardErrors.InvalidConnectionUrl("connection_url is at most 2048 characters.");
        }

        var values = text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase)
            ? FromUri(text)
            : FromKeyValues(text);
        return FromValues(values);
    }

    /// <summary>The Npgsql connection string to <paramref name="address"/> (the checked address; TLS verify-full keeps the name).</summary>
    public string ConnectionString(IPAddress address, string username, string password, string applicationName) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = SslMode == SslMode.VerifyFull ? Host : address.ToString(),
            Port = Port,
            Database = Database,
            Username = username,
            Password = password,
            SslMode = SslMode,
            Timeout = ConnectTimeoutSeconds,
            CommandTimeout = CommandTimeoutSeconds,
            ApplicationName = applicationName,
            MaxPoolSize = 8,
            ConnectionIdleLifetime = 60,
            IncludeErrorDetail = false,

            // Never the password in cleartext: a server (or whoever answers at its address) that asks for it with the
            // "password" method is refused before anything is sent. SCRAM (and MD5) prove the password without sending it.
            RequireAuth = RefuseCleartextPassword,

            // Keyward leaves no session state behind (its lock is the transaction's): no DISCARD ALL round trip per use.
            NoResetOnClose = true,
        }.ConnectionString;

    private static Dictionary<string, string> FromUri(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
        {
            throw KeywardErrors.InvalidConnectionUrl("connection_url is not a valid postgresql://host:port/database URI.");
        }

        if (uri.UserInfo.Length > 0)
        {
            throw KeywardErrors.InvalidConnectionUrl("connection_url must not carry credentials; send them as username and password.");
        }

        if (uri.Fragment.Length > 0)
        {
            throw KeywardErrors.InvalidConnectionUrl("connection_url must not have a fragment.");
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal) { ["host"] = uri.Host.Trim('[', ']') };
        if (!uri.IsDefaultPort && uri.Port > 0)
        {
            values["port"] = uri.Port.ToString(CultureInfo.InvariantCulture);
        }

        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length > 0)
        {
            values["database"] = database;
        }

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
            Add(values, key, Uri.UnescapeDataString(equals < 0 ? "" : pair[(equals + 1)..]));
        }

        return values;
    }

    private static Dictionary<string, string> FromKeyValues(string text)
    {
        var builder = new DbConnectionStringBuilder();
        try
        {
            builder.ConnectionString = text;
        }
        catch (ArgumentException)
        {
            throw KeywardErrors.InvalidConnectionUrl("connection_url is neither a postgresql:// URI nor a Key=Value;… connection string.");
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string key in builder.Keys)
        {
            Add(values, key, Convert.ToString(builder[key], CultureInfo.InvariantCulture) ?? "");
        }

        // Npgsql itself must accept it as well (it refuses keys it does not know).
        try
        {
            _ = new NpgsqlConnectionStringBuilder(text);
        }
        catch (ArgumentException)
        {
            throw KeywardErrors.InvalidConnectionUrl("connection_url is not a connection string Npgsql accepts.");
        }

        return values;
    }

    private static void Add(Dictionary<string, string> values, string key, string value)
    {
        var normalized = key.Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant();
        if (CredentialKeys.Contains(normalized))
        {
            throw KeywardErrors.InvalidConnectionUrl("connection_url must not carry credentials; send them as username and password.");
        }

        if (!Keys.TryGetValue(normalized, out var canonical))
        {
            throw KeywardErrors.InvalidConnectionUrl(
                $"connection_url has a key that is not accepted: '{(key.Length <= 40 ? key : key[..40])}' (accepted: host, port, database, sslmode, connect_timeout).");
        }

        if (!values.TryAdd(canonical, value))
        {
            throw KeywardErrors.InvalidConnectionUrl($"connection_url names '{canonical}' twice.");
        }
    }

    private static PostgresConnectionSpec FromValues(Dictionary<string, string> values)
    {
        var host = values.GetValueOrDefault("host") ?? throw KeywardErrors.InvalidConnectionUrl("connection_url needs a host.");
        if (host.Length == 0 || host.Contains(',', StringComparison.Ordinal) || host.StartsWith('/')
            || (Uri.CheckHostName(host) == UriHostNameType.Unknown))
        {
            throw KeywardErrors.InvalidConnectionUrl("connection_url needs exactly one host name or IP address (no lists, no socket paths).");
        }

        var port = DefaultPort;
        if (values.TryGetValue("port", out var portText)
            && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            throw KeywardErrors.InvalidConnectionUrl("connection_url's port must be 1-65535.");
        }

        var database = values.GetValueOrDefault("database");
        if (string.IsNullOrEmpty(database) || database.Length > 63)
        {
            throw KeywardErrors.InvalidConnectionUrl("connection_url needs a database name (at most 63 bytes).");
        }

        var sslMode = SslMode.Prefer;
        if (values.TryGetValue("sslmode", out var sslText) && !TryParseSslMode(sslText, out sslMode))
        {
            throw KeywardErrors.InvalidConnectionUrl("sslmode must be disable, allow, prefer, require, verify-ca or verify-full.");
        }

        var timeout = DefaultConnectTimeoutSeconds;
        if (values.TryGetValue("timeout", out var timeoutText)
            && (!int.TryParse(timeoutText, NumberStyles.None, CultureInfo.InvariantCulture, out timeout) || timeout is < 1 or > 60))
        {
            throw KeywardErrors.InvalidConnectionUrl("connect_timeout must be 1-60 seconds.");
        }

        return new PostgresConnectionSpec(host.ToLowerInvariant(), port, database, sslMode, timeout);
    }

    private static bool TryParseSslMode(string text, out SslMode mode)
    {
        mode = text.Replace("-", "", StringComparison.Ordinal).ToLowerInvariant() switch
        {
            "disable" => SslMode.Disable,
            "allow" => SslMode.Allow,
            "prefer" => SslMode.Prefer,
            "require" => SslMode.Require,
            "verifyca" => SslMode.VerifyCA,
            "verifyfull" => SslMode.VerifyFull,
            _ => (SslMode)(-1),
        };
        return (int)mode >= 0;
    }

    private static string SslModeName(SslMode mode) => mode switch
    {
        SslMode.Disable => "disable",
        SslMode.Allow => "allow",
        SslMode.Require => "require",
        SslMode.VerifyCA => "verify-ca",
        SslMode.VerifyFull => "verify-full",
        _ => "prefer",
    };
}
