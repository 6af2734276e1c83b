using Keyward.Core.Policies;
using Keyward.Core.Tokens;

namespace Keyward.Core.Agents;

/// <summary><c>POST /v1/agents/bootstrap</c> (orchestrator) and <c>POST /v1/agents/spawn</c> (agent).</summary>
public sealed record AgentGrantRequest(
    string? AgentId,
    string? RunId,
    string? Role,
    TimeSpan? Ttl,
    IReadOnlyList<RuleSpec>? Rules,
    TimeSpan? BootstrapTtl);

/// <summary>A minted bootstrap token: shown once, single use, good only for the exchange.</summary>
public sealed record BootstrapGrant(string Token, string Accessor, DateTimeOffset ExpiresAt);

/// <summary>What an exchange (or a JWT login) hands the agent: its session token, bound to tenant, agent, run and role.</summary>
public sealed record SessionGrant(string Token, TokenRecord Record, string TenantId, bool Renewable);

/// <summary>A renewal's result: the new expiry and whether a later renewal could extend it further.</summary>
public sealed record RenewResult(string Accessor, DateTimeOffset ExpiresAt, bool Renewable);
