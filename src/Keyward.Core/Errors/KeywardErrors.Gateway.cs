namespace Keyward.Core.Errors;

/// <summary>The gateway's errors: integrations, refused requests, upstream failures, budgets.</summary>
public static partial class KeywardErrors
{
    // 400
    public static KeywardException InvalidUpstream(string detail) =>
        Bad("invalid_upstream", "Invalid upstream", detail);

    public static KeywardException GatewayHeaderRefused(string name, string why) =>
        Bad("gateway_header_refused", "Header refused", $"'{Truncate(name)}' cannot be sent through the gateway: {why}");

    public static KeywardException GatewayQueryRefused(string name, string why) =>
        Bad("gateway_query_refused", "Query parameter refused", $"'{Truncate(name)}' cannot be sent through the gateway: {why}");

    public static KeywardException BudgetExceedsRemaining(string integration, long remaining) =>
        Bad("budget_exceeds_remaining", "Budget exceeds what is left",
            $"A slice of integration '{Truncate(integration)}' may be at most what the caller has left: {remaining}.");

    // 403
    public static KeywardException GatewayNotAllowed(string integration, string method, string path) =>
        new(403, "gateway_not_allowed", "Not allowed by the integration",
            $"Integration '{Truncate(integration)}' does not allow {Truncate(method)} {Truncate(path)}.") { Kind = RefusalKind.OutOfScope };

    // 404
    public static KeywardException IntegrationNotFound(string name) =>
        new(404, "integration_not_found", "Integration not found", $"No integration '{Truncate(name)}' in this tenant.");

    /// <summary>
    /// An integration whose secret the caller may not <c>use</c>: answered exactly like one that does not exist (no way
    /// to learn which names exist, nor their secret paths), audited as a denial outside the caller's rules.
    /// </summary>
    public static KeywardException IntegrationNotUsable(string name) =>
        new(404, "integration_not_found", "Integration not found", $"No integration '{Truncate(name)}' in this tenant.")
        {
            Kind = RefusalKind.OutOfScope,
            AuditDetail = "the token lacks use on the integration's secret",
        };

    // 409
    public static KeywardException VersionNotUsable(string path, long version) =>
        Conflict("version_not_usable", $"Version {version} of '{path}' is neither current nor the previous one within its grace window.");

    public static KeywardException SecretFieldUnusable(string path, string field, string why) =>
        Conflict("secret_field_unusable", $"Field '{Truncate(field)}' of '{path}' cannot be injected: {why}");

    /// <summary>A call in flight whose integration was deleted or changed: it ran under rules that no longer hold.</summary>
    public static KeywardException IntegrationChanged(string integration) =>
        Conflict("integration_changed", $"Integration '{Truncate(integration)}' was changed or deleted while the call was in flight; the call was cut off.");

    public static KeywardException RotationVerificationFailed(string path, string why) =>
        Conflict("rotation_verification_failed", $"The pending version of '{path}' was not promoted: {why}");

    // 429
    public static KeywardException RunBudgetExhausted(string integration) =>
        new(429, "run_budget_exhausted", "Run budget exhausted",
            $"The request budget for integration '{Truncate(integration)}' of this agent (or a parent's share of it) is used up.");

    public static KeywardException GatewayRateLimited(string integration, int perSecond) =>
        new(429, "gateway_rate_limited", "Rate limited",
            $"Integration '{Truncate(integration)}' allows {perSecond} requests per second per agent.");

    // 502, 504
    public static KeywardException UpstreamAddressRefused(string host, string why) =>
        new(502, "upstream_address_refused", "Upstream address refused", $"Upstream '{Truncate(host)}' is not reachable through the gateway: {why}");

    public static KeywardException UpstreamUnavailable(string integration, string why) =>
        new(502, "upstream_unavailable", "Upstream unavailable", $"The upstream of integration '{Truncate(integration)}' failed: {why}");

    /// <summary>A 206: pieces of a body, each too short to be an echo the scrubber sees, could rebuild one together.</summary>
    public static KeywardException UpstreamPartialRefused(string integration) =>
        new(502, "upstream_partial_refused", "Partial answer refused",
            $"The upstream of integration '{Truncate(integration)}' answered 206 Partial Content: the gateway only passes whole bodies, which it can scrub.");

    /// <summary>A body coding the gateway cannot undo before scrubbing; <paramref name="what"/> is fixed text (never the upstream's header, which could carry an echo).</summary>
    public static KeywardException UpstreamEncodingRefused(string integration, string what) =>
        new(502, "upstream_encoding_refused", "Upstream encoding refused",
            $"The upstream of integration '{Truncate(integration)}' answered with {what}, which the gateway cannot decode and scrub.");

    public static KeywardException UpstreamTimeout(string integration) =>
        new(504, "upstream_timeout", "Upstream timeout", $"The upstream of integration '{Truncate(integration)}' did not answer in time.");
}
