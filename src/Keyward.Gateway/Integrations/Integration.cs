using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Keyward.Core.Errors;
using Keyward.Core.Validation;
using Keyward.Gateway.Egress;
using Keyward.Gateway.Forwarding;

namespace Keyward.Gateway.Integrations;

/// <summary>How the secret's field goes into the upstream request.</summary>
public enum InjectKind
{
    /// <summary><c>Authorization: Bearer VALUE</c>.</summary>
    Bearer,

    /// <summary><c>NAME: VALUE</c> (an API-key header such as <c>x-api-key</c>).</summary>
    Header,

    /// <summary><c>Authorization: Basic base64(NAME:VALUE)</c> — <c>name</c> is the user name (may be empty).</summary>
    Basic,

    /// <summary>A query parameter <c>NAME=VALUE</c> (URL-encoded).</summary>
    Query,
}

/// <summary>The methods and upstream path glob one allow entry lets through.</summary>
public sealed record IntegrationAllow(IReadOnlyList<string> Methods, UpstreamPathGlob Path)
{
    public bool Allows(string method, string rawPath) =>
        Methods.Contains(method, StringComparer.Ordinal) && Path.Matches(rawPath);
}

/// <summary>Optional limits: requests per second per agent session, requests per run (split across the agent tree).</summary>
public sealed record IntegrationLimits(int? PerAgentRps, long? RunBudget);

/// <summary>
/// A tenant's registered upstream (<c>PUT /v1/integrations/{name}</c>): where the gateway forwards, which secret field it
/// injects and how, which methods and paths it lets through, and the limits. Validated once here; stored as JSON in the
/// tenant's configuration rows (engine <c>gateway</c>), versioned for optimistic writes.
/// </summary>
public sealed record Integration(
    string Name,
    Uri Upstream,
    string SecretPath,
    string SecretField,
    InjectKind Inject,
    string? InjectName,
    IReadOnlyList<IntegrationAllow> Allow,
    bool AllowInsecureLoopback,
    IntegrationLimits Limits)
{
    public const int MaxAllowEntries = 64;
    public const int MaxPerAgentRps = 100_000;
    public const long MaxRunBudget = 1_000_000_000;

    /// <summary>Methods the gateway never forwards (a tunnel would bypass every rule).</summary>
    private static readonly string[] RefusedMethods = ["CONNECT", "TRACE"];

    /// <summary>Header names an integration may not inject into: they carry routing or framing, or Keyward's own.</summary>
    private static readonly string[] RefusedInjectHeaders =
        ["host", "connection", "content-length", "content-type", "transfer-encoding", "upgrade", "te", "trailer", "keep-alive",
         "proxy-authorization", "proxy-connection", "forwarded", "cookie", "expect"];

    /// <summary>The header the credential goes into (null for query injection).</summary>
    [JsonIgnore]
    public string? InjectedHeader => Inject switch
    {
        InjectKind.Bearer or InjectKind.Basic => "Authorization",
        InjectKind.Header => InjectName,
        _ => null,
    };

    /// <summary>The query parameter the credential goes into (query injection only).</summary>
    [JsonIgnore]
    public string? InjectedQuery => Inject == InjectKind.Query ? InjectName : null;

    /// <summary>Whether the gateway lets <paramref name="method"/> on <paramref name="rawPath"/> through.</summary>
    public bool Allows(string method, string rawPath) => Allow.Any(a => a.Allows(method, rawPath));

    /// <summary>Validates a request's fields. <paramref name="addresses"/> decides whether loopback may be asked for.</summary>
    public static Integration Create(
        string? name, string? upstream, string? secretPath, string? secretField, string? injectKind, string? injectName,
        IReadOnlyList<(IReadOnlyList<string>? Methods, string? Path)>? allow, bool? allowInsecureLoopback, int? perAgentRps, long? runBudget,
        UpstreamAddresses addresses)
    {
        name = Names.RequireName("Integration name", name);
        var loopback = allowInsecureLoopback ?? false;
        if (loopback && !addresses.AllowLoopback)
        {
            throw KeywardErrors.InvalidField("allow_insecure_loopback", "this server does not allow loopback upstreams (the operator enables them with --gateway-allow-loopback, or --dev).");
        }

        var upstreamUri = ParseUpstream(upstream, loopback, addresses);
        var path = Core.Validation.SecretPath.Require(secretPath ?? throw KeywardErrors.MissingField("secret_path"));
        if (string.IsNullOrEmpty(secretField) || secretField.Length > 256 || secretField.Any(char.IsControl))
        {
            throw secretField is null ? KeywardErrors.MissingField("secret_field") : KeywardErrors.InvalidField("secret_field", "1 to 256 characters, no control characters.");
        }

        var kind = injectKind switch
        {
            "bearer" => InjectKind.Bearer,
            "header" => InjectKind.Header,
            "basic" => InjectKind.Basic,
            "query" => InjectKind.Query,
            null => throw KeywardErrors.MissingField("inject.kind"),
            _ => throw KeywardErrors.InvalidField("inject.kind", "bearer, header, basic or query"),
        };
        var nameField = ValidateInjectName(kind, injectName);

        if (allow is null || allow.Count == 0)
        {
            throw KeywardErrors.MissingField("allow");
        }

        if (allow.Count > MaxAllowEntries)
        {
            throw KeywardErrors.InvalidField("allow", $"at most {MaxAllowEntries} entries");
        }

        var entries = new List<IntegrationAllow>(allow.Count);
        for (var i = 0; i < allow.Count; i++)
        {
            var (methods, glob) = allow[i];
            if (methods is null || methods.Count == 0)
            {
                throw KeywardErrors.MissingField($"allow[{i}].methods");
            }

            foreach (var method in methods)
            {
                if (string.IsNullOrEmpty(method) || method.Length > 16 || !method.All(c => c is >= 'A' and <= 'Z'))
                {
                    throw KeywardErrors.InvalidField($"allow[{i}].methods", "HTTP methods in upper case, such as GET or POST");
                }

                if (RefusedMethods.Contains(method, StringComparer.Ordinal))
                {
                    throw KeywardErrors.InvalidField($"allow[{i}].methods", $"{method} is never forwarded");
                }
            }

            if (!UpstreamPathGlob.TryParse(glob, out var parsed, out var reason))
            {
                throw glob is null ? KeywardErrors.MissingField($"allow[{i}].path") : KeywardErrors.InvalidField($"allow[{i}].path", reason!);
            }

            entries.Add(new IntegrationAllow([.. methods.Distinct(StringComparer.Ordinal)], parsed!));
        }

        if (perAgentRps is < 1 or > MaxPerAgentRps)
        {
            throw KeywardErrors.InvalidField("limits.per_agent_rps", $"an integer from 1 to {MaxPerAgentRps}");
        }

        if (runBudget is < 1 or > MaxRunBudget)
        {
            throw KeywardErrors.InvalidField("limits.run_budget", $"an integer from 1 to {MaxRunBudget}");
        }

        return new Integration(name, upstreamUri, path, secretField, kind, nameField, entries, loopback, new IntegrationLimits(perAgentRps, runBudget));
    }

    private static Uri ParseUpstream(string? upstream, bool allowLoopback, UpstreamAddresses addresses)
    {
        if (upstream is null)
        {
            throw KeywardErrors.MissingField("upstream");
        }

        if (upstream.Length > 2048 || !Uri.TryCreate(upstream, UriKind.Absolute, out var uri))
        {
            throw KeywardErrors.InvalidUpstream("upstream must be an absolute https:// URL.");
        }

        if (uri.UserInfo.Length > 0 || upstream.Contains('@', StringComparison.Ordinal))
        {
            throw KeywardErrors.InvalidUpstream("upstream must not carry credentials (user:password@); the gateway injects the secret.");
        }

        if (uri.Query.Length > 0 || uri.Fragment.Length > 0 || upstream.Contains('?', StringComparison.Ordinal) || upstream.Contains('#', StringComparison.Ordinal))
        {
            throw KeywardErrors.InvalidUpstream("upstream is a base URL: no query or fragment.");
        }

        var loopbackHost = IsLoopbackHost(uri.Host);
        if (uri.Scheme == Uri.UriSchemeHttp)
        {
            if (!allowLoopback || !loopbackHost)
            {
                throw KeywardErrors.InvalidUpstream("upstream must be https://; plain http is allowed only to a loopback host with allow_insecure_loopback.");
            }
        }
        else if (uri.Scheme != Uri.UriSchemeHttps)
        {
            throw KeywardErrors.InvalidUpstream("upstream must be an https:// URL.");
        }

        // A literal address is checked now, for an early answer; every address is checked again at each connection.
        if (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var literal) && addresses.Refusal(literal, allowLoopback) is { } refusal)
        {
            throw KeywardErrors.InvalidUpstream($"upstream {uri.Host} is not reachable through the gateway: {refusal}");
        }

        if (loopbackHost && !allowLoopback)
        {
            throw KeywardErrors.InvalidUpstream("upstream is a loopback host; only an integration with allow_insecure_loopback on a server that allows it may use one.");
        }

        var path = uri.AbsolutePath;
        var text = uri.GetLeftPart(UriPartial.Path);
        return new Uri(path.EndsWith('/') ? text : text + "/");
    }

    private static bool IsLoopbackHost(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
        || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static string? ValidateInjectName(InjectKind kind, string? injectName)
    {
        switch (kind)
        {
            case InjectKind.Bearer:
                return injectName is null ? null : throw KeywardErrors.InvalidField("inject.name", "a bearer credential always goes in Authorization; leave name out");
            case InjectKind.Basic:
                if (injectName is not null && (injectName.Length > 256 || injectName.Contains(':', StringComparison.Ordinal) || injectName.Any(char.IsControl)))
                {
                    throw KeywardErrors.InvalidField("inject.name", "the basic user name: at most 256 characters, no ':' or control characters");
                }

                return injectName ?? "";
            case InjectKind.Header:
                if (string.IsNullOrEmpty(injectName) || injectName.Length > 64 || !injectName.All(IsTokenChar))
                {
                    throw injectName is null ? KeywardErrors.MissingField("inject.name") : KeywardErrors.InvalidField("inject.name", "an HTTP header name");
                }

                if (RefusedInjectHeaders.Contains(injectName, StringComparer.OrdinalIgnoreCase)
                    || injectName.StartsWith("x-keyward-", StringComparison.OrdinalIgnoreCase)
                    || injectName.StartsWith("x-forwarded-", StringComparison.OrdinalIgnoreCase))
                {
                    throw KeywardErrors.InvalidField("inject.name", $"'{injectName}' cannot carry the credential");
                }

                return injectName;
            default:
                if (string.IsNullOrEmpty(injectName) || injectName.Length > 64 || !injectName.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
                {
                    throw injectName is null ? KeywardErrors.MissingField("inject.name") : KeywardErrors.InvalidField("inject.name", "a query parameter name of letters, digits, '_', '-' or '.'");
                }

                return injectName;
        }
    }

    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal);

    /// <summary>The stored JSON (and the shape reads return).</summary>
    public string ToJson() => JsonSerializer.Serialize(ToView(), Core.Storage.StoredJson.SnakeCaseWithoutNulls);

    public IntegrationView ToView() => new(
        Name, Upstream.ToString(), SecretPath, SecretField,
        new IntegrationInject(Inject.ToString().ToLowerInvariant(), Inject == InjectKind.Bearer ? null : InjectName),
        [.. Allow.Select(a => new IntegrationAllowView(a.Methods, a.Path.Text))],
        AllowInsecureLoopback,
        Limits.PerAgentRps is null && Limits.RunBudget is null ? null : new IntegrationLimitsView(Limits.PerAgentRps, Limits.RunBudget));

    /// <summary>Reads a stored integration (already validated when it was written; the address rules are checked at each connection).</summary>
    public static Integration FromJson(string json)
    {
        var view = JsonSerializer.Deserialize<IntegrationView>(json, Core.Storage.StoredJson.SnakeCaseWithoutNulls) ?? throw new JsonException("empty integration");
        var kind = Enum.Parse<InjectKind>(view.Inject.Kind, ignoreCase: true);
        return new Integration(
            view.Name, new Uri(view.Upstream), view.SecretPath, view.SecretField, kind,
            kind == InjectKind.Basic ? view.Inject.Name ?? "" : view.Inject.Name,
            [.. view.Allow.Select(a => new IntegrationAllow(a.Methods, UpstreamPathGlob.TryParse(a.Path, out var g, out _) ? g! : throw new JsonException("stored glob")))],
            view.AllowInsecureLoopback,
            new IntegrationLimits(view.Limits?.PerAgentRps, view.Limits?.RunBudget));
    }

}

public sealed record IntegrationInject(string Kind, string? Name);

public sealed record IntegrationAllowView(IReadOnlyList<string> Methods, string Path);

public sealed record IntegrationLimitsView(int? PerAgentRps, long? RunBudget);

/// <summary>An integration as reads return it (never a secret: the value stays in <see cref="SecretPath"/>).</summary>
public sealed record IntegrationView(
    string Name, string Upstream, string SecretPath, string SecretField, IntegrationInject Inject,
    IReadOnlyList<IntegrationAllowView> Allow, bool AllowInsecureLoopback, IntegrationLimitsView? Limits)
{
    // The row's own columns: set on reads, left out of the stored settings (where they would only be zeros).
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long Version { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public DateTimeOffset CreatedAt { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public DateTimeOffset UpdatedAt { get; init; }
}
