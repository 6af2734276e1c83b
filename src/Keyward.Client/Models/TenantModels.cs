using System.Diagnostics;
using System.Text.Json.Serialization;
using Keyward.Client.Internal;

namespace Keyward.Client.Models;

/// <summary>A tenant as the root token sees it (never its keys or secrets).</summary>
public sealed record KeywardTenant(string Id, string? Name, string State, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>The kinds of token the root token may mint for a tenant.</summary>
public enum TenantTokenKind
{
    /// <summary>A tenant admin token (<c>kwa_</c>): acts on the whole tenant.</summary>
    Admin,

    /// <summary>An orchestrator token (<c>kwo_</c>): bootstraps agents within its own subtree.</summary>
    Orchestrator,
}

/// <summary>A freshly minted token. <see cref="object.ToString"/> redacts <see cref="Token"/>.</summary>
[DebuggerDisplay("{ToString(),nq}")]
public sealed record IssuedToken(
    [property: JsonConverter(typeof(SecretFieldJsonConverter<string>)), DebuggerBrowsable(DebuggerBrowsableState.Never)]
    string Token, string Accessor, string Kind, string Tenant, DateTimeOffset? ExpiresAt) : IValueCarrier
{
    void IValueCarrier.RegisterValues(SecretScrubber scrubber) => scrubber.RegisterIfAny(Token);

    /// <summary>Describes the token without the token string.</summary>
    public override string ToString() =>
        FormattableString.Invariant($"IssuedToken {{ Token = (redacted), Accessor = {Accessor}, Kind = {Kind}, Tenant = {Tenant}, ExpiresAt = {ExpiresAt:O} }}");
}

/// <summary>How an offboarding ended.</summary>
public enum TenantDeletion
{
    /// <summary>204: the tenant is offboarded.</summary>
    Completed,

    /// <summary>202: the tenant is locked and its key destroyed; external clean-up is still pending.</summary>
    Pending,
}

/// <summary>A background re-encryption of a tenant's old secret versions under its newest key.</summary>
public sealed record RewrapJob(
    string JobId, string Tenant, int KeyVersion, string State, long Total, long Done, long Failed, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt)
{
    /// <summary>The state while the job runs.</summary>
    public const string RunningState = "running";

    /// <summary>True once the job stopped (<c>completed</c>, <c>completed_with_failures</c> or <c>failed</c>).</summary>
    [JsonIgnore]
    public bool IsFinished => !string.Equals(State, RunningState, StringComparison.Ordinal);

    /// <summary>True when the job finished and every version was re-encrypted.</summary>
    [JsonIgnore]
    public bool Succeeded => IsFinished && Failed == 0 && string.Equals(State, "completed", StringComparison.Ordinal);
}

/// <summary>
/// What <c>POST /v1/tenants/{id}/lockdown</c> did: every token and lease of the tenant is revoked in the store;
/// <see cref="PendingExternal"/> revocations outside Keyward continue in the background.
/// </summary>
public sealed record TenantLockdown(string IncidentId, long RevokedTokens, long RevokedLeases, long PendingExternal, double TookMs);
