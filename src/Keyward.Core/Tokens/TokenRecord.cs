using Keyward.Core.Policies;

namespace Keyward.Core.Tokens;

/// <summary>
/// A token as stored: only the SHA-256 <see cref="Hash"/> of the token string, never the string. The
/// <see cref="Accessor"/> is a non-secret handle for revocation and audit. Tenant admin and orchestrator tokens
/// hang under their tenant (their parent is the tenant node of the token tree); <see cref="IssuedBy"/> records
/// which token minted them.
/// </summary>
public sealed record TokenRecord(
    string Accessor,
    byte[] Hash,
    TokenKind Kind,
    string? TenantUid,
    string? ParentAccessor,
    string? IssuedBy,
    string? DisplayName,
    string? Role,
    string? AgentId,
    string? RunId,
    IReadOnlyList<RuleSpec>? Rules,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt)
{
    /// <summary>Bootstrap tokens: the lifetime of the session an exchange creates.</summary>
    public TimeSpan? SessionTtl { get; init; }

    /// <summary>Bootstrap tokens: when the single exchange happened (the used-mark), and the session it produced.</summary>
    public DateTimeOffset? UsedAt { get; init; }

    public string? UsedBy { get; init; }

    /// <summary>Agent sessions: renewal never goes past this (creation + the role's max_ttl).</summary>
    public DateTimeOffset? MaxExpiresAt { get; init; }

    /// <summary>Why it was revoked (<see cref="RevocationReasons"/>), for anomaly detection and audit.</summary>
    public string? RevokedReason { get; init; }

    /// <summary>
    /// <see cref="Rules"/> parsed once per record (a cached record is authenticated many times). Never change
    /// <see cref="Rules"/> with a <c>with</c> expression: the parsed set would be copied along.
    /// </summary>
    public RuleSet EffectiveRules => field ??= Rules is null ? RuleSet.Empty : RuleSet.FromSpecs(Rules);

    /// <summary>Bootstrap tokens: kept (for replay detection) until the session they produced can no longer live.</summary>
    public DateTimeOffset? RetainUntil { get; init; }
}

/// <summary>Why a token was revoked; stored, so that a later use of it can be classified as an anomaly.</summary>
public static class RevocationReasons
{
    public const string Revoked = "revoked";
    public const string RevokedSelf = "revoke_self";
    public const string RunComplete = "run_complete";
    public const string Lockdown = "lockdown";
    public const string BootstrapReplay = "bootstrap_replay";
    public const string Anomaly = "anomaly";
    public const string TenantDeleted = "tenant_deleted";
    public const string RootRevoked = "root_revoked";
    public const string IssuerDeleted = "issuer_deleted";
}

/// <summary>A revocation's reach: how many tokens, leases and outstanding wraps it marked revoked.</summary>
public readonly record struct RevocationCounts(int Tokens, int Leases, int Wraps = 0)
{
    public static readonly RevocationCounts Zero;

    /// <summary>Records the counts on the revoking request's audit record.</summary>
    public void AddTo(Audit.AuditDraft audit)
    {
        audit.AddDetail("revoked_tokens", Tokens);
        audit.AddDetail("revoked_leases", Leases);
        audit.AddDetail("revoked_wraps", Wraps);
    }
}

/// <summary>
/// A derived (<c>kwd_</c>) token revoked by itself (docs/designs/0004-derived-tokens.md): <paramref name="DerivedId"/> is
/// the hash part of its id, under its session <paramref name="SessionAccessor"/>. It matters until the session is gone
/// (<paramref name="ExpiresAt"/>: the session's latest possible expiry).
/// </summary>
public sealed record DerivedRevocation(string TenantUid, string SessionAccessor, string DerivedId, DateTimeOffset RevokedAt, DateTimeOffset ExpiresAt);

/// <summary>Storage port for tokens.</summary>
public interface ITokenStore
{
    /// <summary>Records a derived token's revocation; false if it was revoked already.</summary>
    Task<bool> InsertDerivedRevocationAsync(DerivedRevocation revocation, CancellationToken cancellationToken = default);

    /// <summary>The hash parts of the revoked derived ids under a session.</summary>
    Task<IReadOnlyList<string>> ListDerivedRevocationsAsync(string sessionAccessor, CancellationToken cancellationToken = default);

    /// <summary>Deletes at most <paramref name="limit"/> revocations whose session can no longer act (expired before <paramref name="before"/>).</summary>
    Task<int> SweepDerivedRevocationsAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default);

    Task<TokenRecord?> GetByHashAsync(byte[] hash, CancellationToken cancellationToken = default);

    Task<TokenRecord?> GetByAccessorAsync(string accessor, CancellationToken cancellationToken = default);

    Task InsertAsync(TokenRecord token, CancellationToken cancellationToken = default);

    /// <summary>Marks one token revoked; returns false if it was unknown or already revoked.</summary>
    Task<bool> RevokeAsync(string accessor, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>How many tokens of a tenant could still act (unrevoked, not spent bootstrap tokens), issued at or before <paramref name="before"/>.</summary>
    Task<int> CountLiveAsync(string tenantUid, DateTimeOffset before, CancellationToken cancellationToken = default);

    /// <summary>
    /// Marks revoked at most <paramref name="limit"/> live tokens of a tenant issued at or before
    /// <paramref name="before"/> (the lockdown epoch), with <paramref name="before"/> as their revocation time.
    /// </summary>
    Task<int> RevokeIssuedBeforeAsync(string tenantUid, DateTimeOffset before, string reason, int limit, CancellationToken cancellationToken = default);

    /// <summary>Revokes every live token of a tenant in one statement; returns how many.</summary>
    Task<int> RevokeTenantAsync(string tenantUid, DateTimeOffset at, string reason, CancellationToken cancellationToken = default);

    /// <summary>
    /// The bootstrap used-mark: one conditional update that only one exchange can win (unused, unrevoked, unexpired
    /// at <paramref name="at"/>). Returns whether this call won.
    /// </summary>
    Task<bool> TryMarkUsedAsync(string bootstrapAccessor, string sessionAccessor, DateTimeOffset at, DateTimeOffset retainUntil, CancellationToken cancellationToken = default);

    /// <summary>Revokes a token and every descendant (the whole subtree) not yet revoked; returns how many.</summary>
    Task<int> RevokeSubtreeAsync(string accessor, DateTimeOffset at, string reason, CancellationToken cancellationToken = default);

    /// <summary>
    /// Revokes every live token of a run (and their subtrees) — within <paramref name="scopeAccessor"/>'s subtree,
    /// or the whole tenant when it is null. Returns how many.
    /// </summary>
    Task<int> RevokeRunAsync(string tenantUid, string runId, string? scopeAccessor, DateTimeOffset at, string reason, CancellationToken cancellationToken = default);

    /// <summary>Tokens of a run (revoked ones included), parents before children, optionally within a subtree.</summary>
    Task<IReadOnlyList<TokenRecord>> ListRunAsync(string tenantUid, string runId, string? scopeAccessor, int limit, CancellationToken cancellationToken = default);

    /// <summary>Moves a live token's expiry (renewal); returns false if it is gone or revoked.</summary>
    Task<bool> SetExpiryAsync(string accessor, DateTimeOffset expiresAt, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes at most <paramref name="limit"/> tokens that can no longer be used nor matter: expired before
    /// <paramref name="before"/> and past any replay-retention. Root tokens are never swept. Returns how many.
    /// </summary>
    Task<int> SweepExpiredAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default);

    /// <summary>Removes a token record (dev mode re-installing the same root token string); returns whether one existed.</summary>
    Task<bool> DeleteAsync(string accessor, CancellationToken cancellationToken = default);

    /// <summary>Revokes every live root token; returns how many.</summary>
    Task<int> RevokeRootTokensAsync(DateTimeOffset at, CancellationToken cancellationToken = default);
}
