using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Keyward.Core.Errors;

namespace Keyward.Engines.Postgres;

/// <summary>A connection's non-secret settings, stored as JSON in <c>engine_configs.settings</c> (item empty).</summary>
internal sealed record PostgresConnectionSettings(
    [property: JsonPropertyName("connection_url")] string ConnectionUrl,
    [property: JsonPropertyName("username")] string Username,
    [property: JsonPropertyName("max_open_leases")] int? MaxOpenLeases,
    [property: JsonPropertyName("root_rotated_at")] DateTimeOffset? RootRotatedAt)
{
    /// <summary>
    /// Whether <paramref name="connectionUrl"/> (canonical, <see cref="PostgresConnectionSpec.Url"/>) and
    /// <paramref name="username"/> are where this connection logs in now: same host, port, database, TLS mode, timeout and
    /// login. Anything else is another target, which gets the password only if the request gives it again, and only while
    /// no lease of the connection is open.
    /// </summary>
    public bool SameTarget(string connectionUrl, string username) =>
        string.Equals(ConnectionUrl, connectionUrl, StringComparison.Ordinal) && string.Equals(Username, username, StringComparison.Ordinal);
}

/// <summary>A connection's sealed fields: the password Keyward logs in with, and one being rotated to (see rotate-root).</summary>
internal sealed record PostgresConnectionSecrets(
    [property: JsonPropertyName("password")] string Password,
    [property: JsonPropertyName("pending_password")] string? PendingPassword);

/// <summary>A role (item <c>role/NAME</c>): the statements that create and drop a login, and its lease terms in seconds.</summary>
internal sealed record PostgresRoleSettings(
    [property: JsonPropertyName("creation_statements")] IReadOnlyList<string> CreationStatements,
    [property: JsonPropertyName("revocation_statements")] IReadOnlyList<string>? RevocationStatements,
    [property: JsonPropertyName("default_ttl")] long DefaultTtlSeconds,
    [property: JsonPropertyName("max_ttl")] long MaxTtlSeconds)
{
    public const int MaxStatements = 32;
    public const int MaxStatementLength = 16 * 1024;
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromHours(1);
    public static readonly TimeSpan DefaultMaxTtl = TimeSpan.FromHours(24);
    public static readonly TimeSpan MaxTtlLimit = TimeSpan.FromDays(30);

    private static readonly string[] Placeholders = ["{{name}}", "{{password}}", "{{expiration}}"];

    public TimeSpan Ttl => TimeSpan.FromSeconds(DefaultTtlSeconds);

    public TimeSpan MaxTtl => TimeSpan.FromSeconds(MaxTtlSeconds);

    /// <summary>Validates a role definition from a request (every refusal a 400 naming the field).</summary>
    public static PostgresRoleSettings Create(IReadOnlyList<string>? creation, IReadOnlyList<string>? revocation, TimeSpan? defaultTtl, TimeSpan? maxTtl)
    {
        ValidateStatements("creation_statements", creation ?? throw KeywardErrors.MissingField("creation_statements"), required: true);
        if (!creation.Any(s => s.Contains("{{name}}", StringComparison.Ordinal)))
        {
            throw KeywardErrors.InvalidField("creation_statements", "must create the login named {{name}}.");
        }

        if (revocation is not null)
        {
            ValidateStatements("revocation_statements", revocation, required: false);
        }

        var max = maxTtl ?? DefaultMaxTtl;
        var ttl = defaultTtl ?? (DefaultTtl < max ? DefaultTtl : max);
        if (max > MaxTtlLimit)
        {
            throw KeywardErrors.TtlExceedsLimit("max_ttl is at most 30d.");
        }

        if (ttl > max)
        {
            throw KeywardErrors.InvalidField("default_ttl", "must not exceed max_ttl.");
        }

        return new PostgresRoleSettings([.. creation], revocation is null ? null : [.. revocation], (long)ttl.TotalSeconds, (long)max.TotalSeconds);
    }

    private static void ValidateStatements(string field, IReadOnlyList<string> statements, bool required)
    {
        if ((required && statements.Count == 0) || statements.Count > MaxStatements)
        {
            throw KeywardErrors.InvalidField(field, $"{(required ? "1" : "0")} to {MaxStatements} SQL statements.");
        }

        foreach (var statement in statements)
        {
            if (string.IsNullOrWhiteSpace(statement) || statement.Length > MaxStatementLength)
            {
                throw KeywardErrors.InvalidField(field, $"each statement is non-empty and at most {MaxStatementLength} characters.");
            }

            // A misspelt placeholder would reach the database verbatim; refuse it here.
            var rest = statement;
            foreach (var placeholder in Placeholders)
            {
                rest = rest.Replace(placeholder, "", StringComparison.Ordinal);
            }

            if (rest.Contains("{{", StringComparison.Ordinal))
            {
                throw KeywardErrors.InvalidField(field, "the only placeholders are {{name}}, {{password}} and {{expiration}}.");
            }
        }
    }

    /// <summary>
    /// Fills the placeholders. Names are <c>kw_[a-z0-9_]</c>; <c>{{password}}</c> is given as the password's SCRAM-SHA-256
    /// verifier (<see cref="ScramVerifier"/>: base64 and <c>$:</c>), so nothing needs escaping and the password itself
    /// never reaches the database.
    /// </summary>
    public static string Render(string statement, string name, string? password, DateTimeOffset expiration) =>
        statement
            .Replace("{{name}}", name, StringComparison.Ordinal)
            .Replace("{{password}}", password ?? "", StringComparison.Ordinal)
            .Replace("{{expiration}}", Expiration(expiration), StringComparison.Ordinal);

    /// <summary><c>YYYY-MM-DD HH:MM:SS+00</c>, as PostgreSQL's <c>VALID UNTIL</c> reads it.</summary>
    public static string Expiration(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "+00";
}

internal static class EngineJson
{
    public static string Write<T>(T value) => JsonSerializer.Serialize(value);

    public static T Read<T>(string json) => JsonSerializer.Deserialize<T>(json) ?? throw new JsonException("null engine settings");

    public static T Read<T>(ReadOnlySpan<byte> json) => JsonSerializer.Deserialize<T>(json) ?? throw new JsonException("null engine settings");
}
