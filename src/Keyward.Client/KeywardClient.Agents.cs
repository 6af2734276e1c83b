using Keyward.Client.Internal;
using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>
/// Agent identity routes: bootstrap and exchange, spawn, self, renew and revoke, and runs. For an agent's own
/// session (exchange, background renewal, revoke on dispose) use <see cref="AgentSession"/>.
/// </summary>
public partial class KeywardClient
{
    /// <summary>
    /// <c>POST /v1/agents/bootstrap</c> (orchestrator token): mints a single-use bootstrap token for an agent.
    /// <paramref name="ttl"/> is the session's lifetime (at most the role's <c>max_ttl</c> and this token's own
    /// expiry); <paramref name="bootstrapTtl"/> the bootstrap token's (server default 60 s, at most 90 s).
    /// <paramref name="rules"/>, if given, can only narrow the role.
    /// </summary>
    public virtual Task<IssuedBootstrapToken> BootstrapAgentAsync(
        string agentId,
        string runId,
        string role,
        TimeSpan ttl,
        IEnumerable<RoleRule>? rules = null,
        TimeSpan? bootstrapTtl = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(agentId);
        ArgumentException.ThrowIfNullOrEmpty(runId);
        ArgumentException.ThrowIfNullOrEmpty(role);
        Positive(ttl, nameof(ttl));
        Positive(bootstrapTtl, nameof(bootstrapTtl));
        return SendAsync<IssuedBootstrapToken>(
            HttpMethod.Post,
            "v1/agents/bootstrap",
            new BootstrapBody(agentId, runId, role, ttl, rules?.ToArray(), bootstrapTtl),
            authenticate: true,
            cancellationToken);
    }

    /// <summary>
    /// <c>POST /v1/auth/exchange</c>: trades a bootstrap token for the agent's session token. Sends no
    /// <c>Authorization</c> header (the bootstrap token travels in the body). A bootstrap token works once: a second
    /// exchange fails with 409 <c>bootstrap_replayed</c> and revokes the session the first one produced.
    /// </summary>
    public virtual Task<AgentSessionToken> ExchangeBootstrapTokenAsync(string bootstrapToken, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(bootstrapToken);
        if (bootstrapToken.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw new ArgumentException("The bootstrap token contains whitespace or control characters.", nameof(bootstrapToken));
        }

        return SendAsync<AgentSessionToken>(HttpMethod.Post, "v1/auth/exchange", new ExchangeBody(bootstrapToken), authenticate: false, cancellationToken);
    }

    /// <summary>
    /// <c>POST /v1/agents/spawn</c> (agent token): mints a bootstrap token for a child agent. The child's
    /// <paramref name="role"/> (default: this agent's) must be in this role's <c>may_spawn</c>, its
    /// <paramref name="rules"/> a subset of this token's (else 403 <c>scope_exceeds_parent</c>), and it expires no
    /// later than this token. <paramref name="runId"/> is inherited; if given it must match.
    /// </summary>
    public virtual Task<IssuedBootstrapToken> SpawnAgentAsync(
        string agentId,
        TimeSpan ttl,
        string? role = null,
        IEnumerable<RoleRule>? rules = null,
        string? runId = null,
        TimeSpan? bootstrapTtl = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(agentId);
        Positive(ttl, nameof(ttl));
        Positive(bootstrapTtl, nameof(bootstrapTtl));
        return SendAsync<IssuedBootstrapToken>(
            HttpMethod.Post,
            "v1/agents/spawn",
            new SpawnBody(agentId, runId, role, rules?.ToArray(), ttl, bootstrapTtl),
            authenticate: true,
            cancellationToken);
    }

    /// <summary><c>GET /v1/auth/self</c>: what the server knows about this client's token (tenant, kind, agent, effective rules, expiry).</summary>
    public virtual Task<TokenSelf> GetSelfAsync(CancellationToken cancellationToken = default) =>
        SendAsync<TokenSelf>(HttpMethod.Get, "v1/auth/self", null, authenticate: true, cancellationToken);

    /// <summary>
    /// <c>POST /v1/auth/renew</c> (agent token): extends this session by <paramref name="increment"/> (server default
    /// if null), never past the role's <c>max_ttl</c> or the parent's expiry.
    /// </summary>
    public virtual Task<TokenRenewal> RenewSelfAsync(TimeSpan? increment = null, CancellationToken cancellationToken = default)
    {
        Positive(increment, nameof(increment));
        return SendAsync<TokenRenewal>(HttpMethod.Post, "v1/auth/renew", new RenewBody(increment), authenticate: true, cancellationToken);
    }

    /// <summary><c>POST /v1/auth/revoke-self</c> (agent token): "task done" — revokes this token, its subtree and its leases.</summary>
    public virtual Task RevokeSelfAsync(CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Post, "v1/auth/revoke-self", null, cancellationToken);

    /// <summary><c>POST /v1/auth/revoke</c> (admin or orchestrator token): revokes the token with this accessor and its whole subtree.</summary>
    public virtual Task RevokeTokenAsync(string accessor, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(accessor);
        return SendNoContentAsync(HttpMethod.Post, "v1/auth/revoke", new AccessorBody(accessor), cancellationToken);
    }

    /// <summary>
    /// <c>POST /v1/auth/revoke {derived_id}</c> (the session's agent, its ancestors, or an admin): revokes one derived token
    /// (<see cref="KeywardToken.DerivedId"/>) and every token derived from it; the session and its other derived tokens
    /// keep working.
    /// </summary>
    public virtual Task RevokeDerivedTokenAsync(string derivedId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(derivedId);
        return SendNoContentAsync(HttpMethod.Post, "v1/auth/revoke", new DerivedIdBody(derivedId), cancellationToken);
    }

    /// <summary><c>POST /v1/runs/{run_id}/complete</c> (orchestrator or admin token): revokes every token and lease of the run.</summary>
    public virtual Task<RunCompletion> CompleteRunAsync(string runId, CancellationToken cancellationToken = default) =>
        SendAsync<RunCompletion>(HttpMethod.Post, RunUrl(runId) + "/complete", null, authenticate: true, cancellationToken);

    /// <summary>
    /// <c>GET /v1/runs/{run_id}/tokens</c> (orchestrator: its own subtree; admin: all): the run's token tree,
    /// parents before children, accessors only.
    /// </summary>
    public virtual Task<RunTokenTree> GetRunTokensAsync(string runId, CancellationToken cancellationToken = default) =>
        SendAsync<RunTokenTree>(HttpMethod.Get, RunUrl(runId) + "/tokens", null, authenticate: true, cancellationToken);

    private static string RunUrl(string runId) => "v1/runs/" + ClientValidation.Segment(runId, nameof(runId), "run id");

    private static void Positive(TimeSpan? value, string paramName)
    {
        if (value is { } v && v <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(paramName, "Durations must be positive.");
        }
    }

    private sealed record BootstrapBody(string AgentId, string RunId, string Role, TimeSpan Ttl, IReadOnlyList<RoleRule>? Rules, TimeSpan? BootstrapTtl);

    private sealed record ExchangeBody(string BootstrapToken)
    {
        public override string ToString() => "ExchangeBody { BootstrapToken = (redacted) }";
    }

    private sealed record SpawnBody(string AgentId, string? RunId, string? Role, IReadOnlyList<RoleRule>? Rules, TimeSpan Ttl, TimeSpan? BootstrapTtl);

    private sealed record RenewBody(TimeSpan? Increment);

    private sealed record AccessorBody(string Accessor);

    private sealed record DerivedIdBody(string DerivedId);
}
