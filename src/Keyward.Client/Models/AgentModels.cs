using System.Diagnostics;
using System.Text.Json.Serialization;
using Keyward.Client.Internal;

namespace Keyward.Client.Models;

/// <summary>
/// A freshly minted bootstrap token (<c>kwb_</c>): single use, good only for <c>POST /v1/auth/exchange</c>, and short
/// lived. Hand it to the agent through <c>KEYWARD_BOOTSTRAP_TOKEN</c>, never on a command line.
/// <see cref="object.ToString"/> redacts <see cref="BootstrapToken"/>.
/// </summary>
[DebuggerDisplay("{ToString(),nq}")]
public sealed record IssuedBootstrapToken(
    [property: JsonConverter(typeof(SecretFieldJsonConverter<string>)), DebuggerBrowsable(DebuggerBrowsableState.Never)]
    string BootstrapToken, string? Accessor, DateTimeOffset ExpiresAt) : IValueCarrier
{
    void IValueCarrier.RegisterValues(SecretScrubber scrubber) => scrubber.RegisterIfAny(BootstrapToken);

    /// <summary>Describes the bootstrap token without the token string.</summary>
    public override string ToString() =>
        FormattableString.Invariant($"IssuedBootstrapToken {{ BootstrapToken = (redacted), Accessor = {Accessor}, ExpiresAt = {ExpiresAt:O} }}");
}

/// <summary>
/// The agent session (<c>kws_</c>) a bootstrap token was exchanged for, bound to tenant, agent, run and role.
/// <see cref="object.ToString"/> redacts <see cref="Token"/>.
/// </summary>
[DebuggerDisplay("{ToString(),nq}")]
public sealed record AgentSessionToken(
    [property: JsonConverter(typeof(SecretFieldJsonConverter<string>)), DebuggerBrowsable(DebuggerBrowsableState.Never)]
    string Token, string Accessor, string Tenant, string AgentId, string RunId, string Role, DateTimeOffset ExpiresAt, bool Renewable) : IValueCarrier
{
    void IValueCarrier.RegisterValues(SecretScrubber scrubber) => scrubber.RegisterIfAny(Token);

    /// <summary>Describes the session without the token string.</summary>
    public override string ToString() =>
        FormattableString.Invariant(
            $"AgentSessionToken {{ Token = (redacted), Accessor = {Accessor}, Tenant = {Tenant}, AgentId = {AgentId}, RunId = {RunId}, Role = {Role}, ExpiresAt = {ExpiresAt:O}, Renewable = {Renewable} }}");
}

/// <summary>
/// What <c>GET /v1/auth/self</c> says about the calling token (never the token itself). <see cref="Rules"/> is null
/// for an admin token (it may do anything in the tenant); <see cref="Chain"/> names the delegation chain of a derived
/// token; <see cref="Renewable"/> is null when the server does not say.
/// </summary>
public sealed record TokenSelf(
    string? Tenant,
    string Kind,
    string Accessor,
    string? ParentAccessor,
    string? AgentId,
    string? RunId,
    string? Role,
    IReadOnlyList<RoleRule>? Rules,
    DateTimeOffset? ExpiresAt,
    bool? Renewable = null,
    IReadOnlyList<string>? Chain = null);

/// <summary>The answer to <c>POST /v1/auth/renew</c>: the session's new expiry.</summary>
public sealed record TokenRenewal(string Accessor, DateTimeOffset ExpiresAt, bool Renewable);

/// <summary>What <c>POST /v1/runs/{run_id}/complete</c> revoked.</summary>
public sealed record RunCompletion(long RevokedTokens, long RevokedLeases);

/// <summary>One token of a run's tree, as <c>GET /v1/runs/{run_id}/tokens</c> lists it (accessors only, never tokens).</summary>
public sealed record RunToken(
    string Accessor,
    string? ParentAccessor,
    string Kind,
    string? AgentId,
    string? RunId,
    string? Role,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt);

/// <summary>A run's token tree: <see cref="Tokens"/> lists parents before their children.</summary>
public sealed record RunTokenTree(string RunId, IReadOnlyList<RunToken> Tokens);
