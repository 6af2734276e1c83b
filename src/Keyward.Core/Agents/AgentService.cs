using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Events;
using Keyward.Core.Leases;
using Keyward.Core.Policies;
using Keyward.Core.Rotation;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;
using Keyward.Core.Tokens.Derived;
using Keyward.Core.Validation;

namespace Keyward.Core.Agents;

/// <summary>
/// Agent identity: two-phase bootstrap (an orchestrator mints a single-use bootstrap token, the agent exchanges it
/// for its session), spawning of sub-agents whose rights are provably a subset of their parent's, renewal within the
/// role's and the parent's limits, and revocation of a token, a subtree or a run.
/// </summary>
public sealed class AgentService
{
    public static readonly TimeSpan DefaultBootstrapTtl = TimeSpan.FromSeconds(60);

    public static readonly TimeSpan MaxBootstrapTtl = TimeSpan.FromSeconds(90);

    /// <summary>Longest list of a run's tokens one request returns.</summary>
    public const int MaxRunTokens = 10_000;

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly TokenService _tokens;
    private readonly TokenTree _tree;
    private readonly TenantDirectory _tenants;
    private readonly ExposureRotation _exposure;
    private readonly TimeProvider _time;

    public AgentService(
        IKeywardStore store, GroupCommitter committer, TokenService tokens, TokenTree tree, TenantDirectory tenants, ExposureRotation exposure, TimeProvider time)
    {
        _store = store;
        _committer = committer;
        _tokens = tokens;
        _tree = tree;
        _tenants = tenants;
        _exposure = exposure;
        _time = time;
    }

    /// <summary><c>POST /v1/agents/bootstrap</c>: an orchestrator mints a bootstrap token for a new agent of a run.</summary>
    public async Task<BootstrapGrant> BootstrapAsync(Principal caller, AgentGrantRequest request, AuditDraft audit)
    {
        var tenant = caller.RequireTenant();
        if (caller.Kind != TokenKind.Orchestrator)
        {
            throw KeywardErrors.OrchestratorTokenRequired();
        }

        var agentId = Names.RequireName("agent_id", request.AgentId);
        var runId = Names.RequireName("run_id", request.RunId);
        var roleName = Names.RequireName("role", request.Role);
        audit.Path = "agents/" + agentId;
        Role role;
        await using (var session = await _store.ReadAsync())
        {
            role = await session.Roles.GetAsync(tenant.Uid, roleName) ?? throw KeywardErrors.RoleNotFound(roleName);
        }

        var rules = NarrowRules(request.Rules, role.Rules, "the role");
        return await MintBootstrapAsync(caller, tenant, agentId, runId, role, rules, request, audit);
    }

    /// <summary><c>POST /v1/agents/spawn</c>: an agent mints a bootstrap token for a child within its own rights.</summary>
    public async Task<BootstrapGrant> SpawnAsync(Principal caller, AgentGrantRequest request, AuditDraft audit)
    {
        var tenant = caller.RequireAgent();
        var parent = caller.Token;
        var agentId = Names.RequireName("agent_id", request.AgentId);
        audit.Path = "agents/" + agentId;
        var runId = parent.RunId ?? throw KeywardErrors.AgentTokenRequired();
        if (request.RunId is not null && request.RunId != runId)
        {
            throw KeywardErrors.RunMismatch(runId);
        }

        var parentRoleName = parent.Role ?? throw KeywardErrors.AgentTokenRequired();
        var roleName = request.Role is null ? parentRoleName : Names.RequireName("role", request.Role);
        Role role;
        await using (var session = await _store.ReadAsync())
        {
            // may_spawn is resolved now, from the parent role as it is today.
            var parentRole = await session.Roles.GetAsync(tenant.Uid, parentRoleName);
            if (parentRole is null || !parentRole.MaySpawn.Contains(roleName, StringComparer.Ordinal))
            {
                throw KeywardErrors.SpawnNotAllowed(parentRoleName, roleName);
            }

            role = await session.Roles.GetAsync(tenant.Uid, roleName) ?? throw KeywardErrors.RoleNotFound(roleName);
        }

        var rules = NarrowRules(request.Rules, role.Rules, "the child's role");
        if (!rules.IsSubsetOf(caller.Rules))
        {
            throw KeywardErrors.ScopeExceedsParent("The child's rules are not provably a subset of the parent's effective rules.");
        }

        return await MintBootstrapAsync(caller, tenant, agentId, runId, role, rules, request, audit);
    }

    private async Task<BootstrapGrant> MintBootstrapAsync(
        Principal caller, Tenant tenant, string agentId, string runId, Role role, RuleSet rules, AgentGrantRequest request, AuditDraft audit)
    {
        var ttl = request.Ttl ?? throw KeywardErrors.MissingField("ttl");
        var now = _time.GetUtcNow();
        if (ttl > role.MaxTtl)
        {
            throw KeywardErrors.TtlExceedsLimit($"ttl is at most the role's max_ttl ({Durations.Format(role.MaxTtl)}).");
        }

        if (caller.Token.ExpiresAt is { } callerExpiry && now + ttl > callerExpiry)
        {
            throw KeywardErrors.TtlExceedsLimit("The session would outlive the token that grants it; ask for a shorter ttl.");
        }

        var bootstrapTtl = request.BootstrapTtl ?? DefaultBootstrapTtl;
        if (bootstrapTtl > MaxBootstrapTtl)
        {
            throw KeywardErrors.TtlExceedsLimit($"bootstrap_ttl is at most {Durations.Format(MaxBootstrapTtl)}.");
        }

        var (token, record) = _tokens.Mint(
            TokenKind.Bootstrap, tenant.Uid, bootstrapTtl, caller.Token.Accessor, parentAccessor: caller.Token.Accessor,
            role: role.Name, agentId: agentId, runId: runId, rules: rules.ToSpecs());
        record = record with { SessionTtl = ttl };
        audit.AddDetail("bootstrap_accessor", record.Accessor);
        audit.AddDetail("agent_id", agentId);
        audit.AddDetail("run_id", runId);
        audit.AddDetail("role", role.Name);
        await _committer.ExecuteAsync(audit, async session =>
        {
            var parent = await RequireLiveAsync(session, caller.Token.Accessor, now);
            if (await TokenTree.DepthAsync(session, parent) >= TokenTree.MaxDepth)
            {
                throw KeywardErrors.ScopeExceedsParent($"The token tree is at most {TokenTree.MaxDepth} levels deep.");
            }

            await session.Tokens.InsertAsync(record);
        });
        return new BootstrapGrant(token, record.Accessor, record.ExpiresAt!.Value);
    }

    /// <summary>
    /// <c>POST /v1/auth/exchange</c>: the bootstrap token, presented once, becomes the agent's session. The used-mark
    /// is one conditional update; a second exchange is a replay: 409, the anomaly <c>bootstrap_replay</c>, and the
    /// session the first exchange produced is revoked with its subtree.
    /// </summary>
    public async Task<SessionGrant> ExchangeAsync(string? bootstrapToken, AuditDraft audit)
    {
        if (string.IsNullOrEmpty(bootstrapToken))
        {
            throw KeywardErrors.MissingField("bootstrap_token");
        }

        if (!TokenHasher.IsWellFormed(bootstrapToken, out var kind) || kind != TokenKind.Bootstrap)
        {
            throw KeywardErrors.InvalidToken();
        }

        var started = _time.GetUtcNow();
        var bootstrap = await _tokens.FindAsync(bootstrapToken) ?? throw KeywardErrors.InvalidToken();
        var tenant = bootstrap.TenantUid is { } uid ? await _tenants.GetByUidAsync(uid) : null;
        audit.Actor = bootstrap.ToActor();
        audit.TenantId = tenant?.Id;
        audit.Path = "agents/" + bootstrap.AgentId;
        switch (tenant?.State)
        {
            case null or TenantState.Deleting or TenantState.Retired:
                throw KeywardErrors.TokenRevoked();
            case TenantState.Locked:
                throw KeywardErrors.TenantLocked(tenant.Id);
        }

        // The state above may be stale by the time the session is inserted: checked again in the transaction.
        audit.Gate = new TenantGate(tenant.Uid, started);
        var now = _time.GetUtcNow();
        var (token, record) = _tokens.Mint(
            TokenKind.Agent, tenant.Uid, bootstrap.SessionTtl ?? TimeSpan.Zero, bootstrap.Accessor, parentAccessor: bootstrap.ParentAccessor,
            role: bootstrap.Role, agentId: bootstrap.AgentId, runId: bootstrap.RunId, rules: bootstrap.Rules);
        // Only a replay revokes anything, and only then are cached authentications dropped (after its commit).
        var exchange = _committer.ExecuteAsync(audit, async session =>
        {
            var role = bootstrap.Role is { } roleName ? await session.Roles.GetAsync(tenant.Uid, roleName) : null;
            var maxExpires = now + (role?.MaxTtl ?? TimeSpan.Zero);
            if (!await session.Tokens.TryMarkUsedAsync(bootstrap.Accessor, record.Accessor, now, maxExpires))
            {
                await RefuseExchangeAsync(session, tenant, bootstrap.Accessor, audit, now);
            }

            if (role is null)
            {
                throw KeywardErrors.RoleNotFound(bootstrap.Role ?? "");
            }

            var parent = await RequireLiveAsync(session, bootstrap.ParentAccessor ?? "", now);
            var expires = Min(record.ExpiresAt!.Value, parent.ExpiresAt);
            var session_ = record with { ExpiresAt = expires, MaxExpiresAt = maxExpires, SessionTtl = bootstrap.SessionTtl };
            await session.Tokens.InsertAsync(session_);
            await session.Leases.InsertAsync(TokenLease(session_));
            audit.Actor = session_.ToActor();
            audit.AddDetail("session_accessor", session_.Accessor);
            return new SessionGrant(token, session_, tenant.Id, Renewable(session_, parent));
        });
        return await exchange;
    }

    /// <summary>Why the used-mark was not won: replayed (revoke what the first exchange produced), revoked or expired.</summary>
    private async Task RefuseExchangeAsync(IWriteSession session, Tenant tenant, string bootstrapAccessor, AuditDraft audit, DateTimeOffset now)
    {
        var current = await session.Tokens.GetByAccessorAsync(bootstrapAccessor) ?? throw KeywardErrors.InvalidToken();
        if (current.UsedAt is null)
        {
            throw current.RevokedAt is not null ? KeywardErrors.TokenRevoked() : KeywardErrors.TokenExpired();
        }

        Anomalies.Flag(audit, tenant.Uid, Anomalies.BootstrapReplay, current, now);
        if (current.UsedBy is { } sessionAccessor && await session.Tokens.GetByAccessorAsync(sessionAccessor) is { } produced)
        {
            var counts = await _tree.RevokeSubtreeAsync(session, produced, RevocationReasons.BootstrapReplay, now);
            audit.AddDetail("revoked_session", produced.Accessor);
            audit.AddDetail("revoked_tokens", counts.Tokens);
        }

        var settings = await session.TenantSettings.GetAnomalySettingsAsync(tenant.Uid) ?? AnomalySettings.Default;
        if (settings.LockdownOnBootstrapReplay && current.ParentAccessor is { } minter
            && await session.Tokens.GetByAccessorAsync(minter) is { } minterRecord)
        {
            // The leak happened where the bootstrap token was handed over: lock down the minter's subtree.
            var counts = await _tree.RevokeSubtreeAsync(session, minterRecord, RevocationReasons.Anomaly, now);
            audit.AddDetail("auto_lockdown_accessor", minterRecord.Accessor);
            audit.AddDetail("auto_lockdown_tokens", counts.Tokens);
            if (settings.RotateExposed)
            {
                // Exposed: what the leaked bootstrap's session could read, and what the minter's subtree could.
                await _exposure.RotateAsync(session, tenant.Uid, [current.EffectiveRules, minterRecord.EffectiveRules], now, audit);
            }
        }

        throw new RefusalKeepingChanges(KeywardErrors.BootstrapReplayed());
    }

    /// <summary><c>POST /v1/auth/renew</c>: never past the role's max_ttl (from creation) or the parent's current expiry.</summary>
    public async Task<RenewResult> RenewAsync(Principal caller, TimeSpan? increment, AuditDraft audit)
    {
        caller.RequireAgent();
        var accessor = caller.Token.Accessor;
        return await _committer.ExecuteAsync(audit, session => RenewInTransactionAsync(session, accessor, increment));
    }

    /// <summary>The one renewal rule, shared by <c>/v1/auth/renew</c> and renewal of a token lease.</summary>
    internal async Task<RenewResult> RenewInTransactionAsync(IWriteSession session, string accessor, TimeSpan? increment)
    {
        var now = _time.GetUtcNow();
        var token = await RequireLiveAsync(session, accessor, now);
        if (token.ParentAccessor is null || Auth.Jwt.JwtIssuerService.IsIssuerNode(token.ParentAccessor))
        {
            // A JWT login's session never outlives its JWT: the caller logs in again with a fresh one.
            throw KeywardErrors.NotRenewable();
        }

        var parent = await RequireLiveAsync(session, token.ParentAccessor, now);
        var ceiling = Min(token.MaxExpiresAt ?? token.ExpiresAt!.Value, parent.ExpiresAt);
        var step = increment ?? token.SessionTtl ?? (token.ExpiresAt!.Value - token.CreatedAt);
        var current = token.ExpiresAt!.Value;
        var next = Min(now + step, ceiling);
        if (next <= current)
        {
            // Never shortened by a renewal; at the ceiling it simply stays.
            return new RenewResult(accessor, current, current < ceiling);
        }

        await session.Tokens.SetExpiryAsync(accessor, next);
        await session.Leases.SetExpiryAsync(TokenLeaseId(token), next);
        return new RenewResult(accessor, next, next < ceiling);
    }

    /// <summary><c>POST /v1/auth/revoke-self</c>: the agent's "task done" — its subtree and every lease under it.</summary>
    public async Task<RevocationCounts> RevokeSelfAsync(Principal caller, AuditDraft audit)
    {
        caller.RequireAgent();
        return await RevokeInScopeAsync(caller.Token.TenantUid!, null, caller.Token.Accessor, RevocationReasons.RevokedSelf, audit);
    }

    /// <summary><c>POST /v1/auth/revoke</c>: an admin (any token of the tenant) or an orchestrator (its own subtree).</summary>
    public async Task<RevocationCounts> RevokeAsync(Principal caller, string? accessor, AuditDraft audit)
    {
        var tenant = caller.RequireTenant();
        if (caller.Kind is not (TokenKind.Admin or TokenKind.Orchestrator))
        {
            throw KeywardErrors.OrchestratorOrAdminRequired();
        }

        if (string.IsNullOrEmpty(accessor))
        {
            throw KeywardErrors.MissingField("accessor");
        }

        return await RevokeInScopeAsync(tenant.Uid, caller.TreeScope(), accessor, RevocationReasons.Revoked, audit);
    }

    /// <summary>
    /// <c>POST /v1/auth/revoke {derived_id}</c>: revokes one derived (<c>kwd_</c>) token — and with it every token derived
    /// from it — leaving its session and the session's other derived tokens alone. Allowed to the session's own holder,
    /// its ancestors (an agent or orchestrator whose subtree holds the session) and the tenant's admins; a derived token
    /// itself revokes nothing. An id outside the caller's reach is 404, like an unknown one.
    /// </summary>
    public async Task RevokeDerivedAsync(Principal caller, string? derivedId, AuditDraft audit)
    {
        var tenant = caller.RequireTenant();
        if (caller.Kind is not (TokenKind.Admin or TokenKind.Orchestrator or TokenKind.Agent))
        {
            throw KeywardErrors.OrchestratorOrAdminRequired();
        }

        if (!DerivedToken.TryParseId(derivedId, out var accessor, out var hash))
        {
            throw KeywardErrors.InvalidField("derived_id", "the id of a derived token: <session accessor>.<32 hex digits>");
        }

        audit.AddDetail("derived_id", derivedId!);
        await RevokeDerivedInTransactionAsync(tenant.Uid, caller.TreeScope(), accessor, hash, audit);
    }

    /// <summary>Records the revocation of a derived id under its session, found within <paramref name="scope"/>; drops cached authentications around the commit.</summary>
    private Task RevokeDerivedInTransactionAsync(string tenantUid, string? scope, string sessionAccessor, string hash, AuditDraft audit) =>
        _committer.ExecuteAsync(audit, async session =>
        {
            var target = await TokenTree.ResolveInScopeAsync(session, tenantUid, scope, sessionAccessor);
            if (target.Kind != TokenKind.Agent)
            {
                // Only agent sessions have derived tokens.
                throw KeywardErrors.TokenNotFound(sessionAccessor);
            }

            var revoked = await TokenTree.RevokeDerivedAsync(session, target, hash, RevocationReasons.Revoked, _time.GetUtcNow());
            audit.AddDetail("already_revoked", revoked ? "false" : "true");
            return true;
        });

    private Task<RevocationCounts> RevokeInScopeAsync(string tenantUid, string? scope, string accessor, string reason, AuditDraft audit) =>
        _committer.ExecuteAsync(audit, async session =>
        {
            var target = await TokenTree.ResolveInScopeAsync(session, tenantUid, scope, accessor);
            var counts = await _tree.RevokeSubtreeAsync(session, target, reason, _time.GetUtcNow());
            audit.AddDetail("revoked_accessor", target.Accessor);
            counts.AddTo(audit);
            return counts;
        });

    /// <summary><c>POST /v1/runs/{run_id}/complete</c>: revokes every token and lease of the run within the caller's reach.</summary>
    public async Task<RevocationCounts> CompleteRunAsync(Principal caller, string runId, AuditDraft audit)
    {
        var tenant = caller.RequireTenant();
        Names.RequireName("run_id", runId);
        audit.Path = "runs/" + runId;
        var scope = caller.Kind is TokenKind.Admin or TokenKind.Orchestrator ? caller.TreeScope() : throw KeywardErrors.OrchestratorOrAdminRequired();
        return await _committer.ExecuteAsync(audit, async session =>
        {
            var now = _time.GetUtcNow();
            var tokens = await session.Tokens.RevokeRunAsync(tenant.Uid, runId, scope, now, RevocationReasons.RunComplete);
            var leases = await session.Leases.RevokeForRunAsync(tenant.Uid, runId, scope, now, _tree.ExternalEngines);
            var counts = new RevocationCounts(tokens, leases, await TokenTree.RevokeWrapsOfRevokedAsync(session, tenant.Uid));
            await EventLog.AppendAsync(session, tenant.Uid, EventTypes.TokenRevoked, now,
                new { run_id = runId, reason = RevocationReasons.RunComplete, tokens, leases }, subjectAccessor: scope);
            counts.AddTo(audit);
            return counts;
        });
    }

    /// <summary><c>GET /v1/runs/{run_id}/tokens</c>: the run's token tree within the caller's reach, parents first.</summary>
    public async Task<IReadOnlyList<TokenRecord>> ListRunAsync(Principal caller, string runId, AuditDraft audit, CancellationToken cancellationToken = default)
    {
        var tenant = caller.RequireTenant();
        Names.RequireName("run_id", runId);
        audit.Path = "runs/" + runId;
        var scope = caller.TreeScope();
        await using var session = await _store.ReadAsync(cancellationToken);
        return await session.Tokens.ListRunAsync(tenant.Uid, runId, scope, MaxRunTokens, cancellationToken);
    }

    private static RuleSet NarrowRules(IReadOnlyList<RuleSpec>? requested, RuleSet roleRules, string what)
    {
        if (requested is null)
        {
            return roleRules;
        }

        var rules = RuleSet.FromSpecs(requested);
        return rules.IsSubsetOf(roleRules)
            ? rules
            : throw KeywardErrors.ScopeExceedsParent($"rules can only narrow {what}; these are not provably a subset of it.");
    }

    private static async Task<TokenRecord> RequireLiveAsync(IStoreSession session, string accessor, DateTimeOffset now)
    {
        var token = await session.Tokens.GetByAccessorAsync(accessor);
        if (token is null || token.RevokedAt is not null)
        {
            throw KeywardErrors.TokenRevoked();
        }

        return token.ExpiresAt is { } expires && expires <= now ? throw KeywardErrors.TokenExpired() : token;
    }

    private static bool Renewable(TokenRecord session, TokenRecord parent) =>
        session.ExpiresAt < Min(session.MaxExpiresAt ?? session.ExpiresAt!.Value, parent.ExpiresAt);

    /// <summary>The lease that stands for an agent session (engine <c>token</c>), under <c>auth/agents/{role}/</c>.</summary>
    public static LeaseRecord TokenLease(TokenRecord session) => new(
        TokenLeaseId(session), session.TenantUid!, session.Accessor, "auth/agents/" + session.Role, LeaseEngines.TokenEngine, null,
        session.CreatedAt, session.ExpiresAt!.Value, session.MaxExpiresAt ?? session.ExpiresAt!.Value, null);

    public static string TokenLeaseId(TokenRecord session) => $"auth/agents/{session.Role}/{session.Accessor}";

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset? b) => b is { } other && other < a ? other : a;
}
