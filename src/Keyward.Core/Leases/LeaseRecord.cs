namespace Keyward.Core.Leases;

/// <summary>
/// Something handed out with a lifetime, owned by the token that asked for it: when the owner is revoked (directly,
/// through its tree, by run completion, lockdown or expiry) the lease is revoked with it. A lease whose engine must
/// clean up outside Keyward (drop a database login) is marked <see cref="CleanupState.Pending"/> in the same
/// transaction and cleaned up in the background, retried until it succeeds.
/// </summary>
public sealed record LeaseRecord(
    string LeaseId,
    string TenantUid,
    string OwnerAccessor,
    string Path,
    string Engine,
    string? External,
    DateTimeOffset IssuedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset MaxExpiresAt,
    DateTimeOffset? RevokedAt,
    CleanupState Cleanup = CleanupState.None,
    int CleanupAttempts = 0,
    DateTimeOffset? CleanupNextAt = null,
    string? CleanupError = null)
{
    public bool IsLive(DateTimeOffset now) => RevokedAt is null && ExpiresAt > now;

    /// <summary>
    /// A lease for <paramref name="owner"/>, to be inserted in the issuing engine's transaction: it never outlives its
    /// owner, nor <paramref name="maxTtl"/>; its id is <c>path/random</c>.
    /// </summary>
    public static LeaseRecord Issue(Tokens.TokenRecord owner, string engine, string path, TimeSpan ttl, TimeSpan maxTtl, string? external, DateTimeOffset now)
    {
        var max = owner.ExpiresAt is { } ownerExpiry && ownerExpiry < now + maxTtl ? ownerExpiry : now + maxTtl;
        var expires = now + ttl < max ? now + ttl : max;
        return new LeaseRecord($"{path}/{Ids.NewLeaseSuffix()}", owner.TenantUid!, owner.Accessor, path, engine, external, now, expires, max, null);
    }
}

/// <summary>Where a lease's clean-up outside Keyward stands.</summary>
public enum CleanupState
{
    /// <summary>Nothing to clean up outside (or not revoked yet).</summary>
    None,

    /// <summary>Revoked; the engine's clean-up has not succeeded yet and will be retried.</summary>
    Pending,

    /// <summary>Revoked and cleaned up outside.</summary>
    Done,
}

/// <summary>Storage port for leases.</summary>
public interface ILeaseStore
{
    Task InsertAsync(LeaseRecord lease, CancellationToken cancellationToken = default);

    Task<LeaseRecord?> GetAsync(string leaseId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Leases of a tenant whose id starts with <paramref name="prefix"/> (whole segments), owned by a token of
    /// <paramref name="scopeAccessor"/>'s subtree (null: the whole tenant), in id order.
    /// </summary>
    Task<IReadOnlyList<LeaseRecord>> ListAsync(string tenantUid, string? scopeAccessor, string prefix, bool includeRevoked, int limit, CancellationToken cancellationToken = default);

    Task<bool> SetExpiryAsync(string leaseId, DateTimeOffset expiresAt, CancellationToken cancellationToken = default);

    /// <summary>
    /// Revokes the given live leases; those of engines in <paramref name="externalEngines"/> become pending clean-up
    /// due at <paramref name="at"/>. Returns how many were revoked.
    /// </summary>
    Task<int> RevokeAsync(IReadOnlyList<string> leaseIds, DateTimeOffset at, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default);

    /// <summary>Revokes every live lease owned by a token of the subtree rooted at <paramref name="accessor"/>.</summary>
    Task<int> RevokeForSubtreeAsync(string accessor, DateTimeOffset at, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default);

    /// <summary>Revokes every live lease owned by a token of the run (within a subtree when given).</summary>
    Task<int> RevokeForRunAsync(string tenantUid, string runId, string? scopeAccessor, DateTimeOffset at, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default);

    /// <summary>Live leases of a tenant issued at or before <paramref name="before"/>, and how many of them belong to <paramref name="externalEngines"/>.</summary>
    Task<(int Live, int External)> CountLiveAsync(string tenantUid, DateTimeOffset before, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default);

    /// <summary>Revokes at most <paramref name="limit"/> live leases of a tenant issued at or before <paramref name="before"/>.</summary>
    Task<int> RevokeIssuedBeforeAsync(string tenantUid, DateTimeOffset before, IReadOnlyCollection<string> externalEngines, int limit, CancellationToken cancellationToken = default);

    /// <summary>Revokes every live lease of a tenant in one statement.</summary>
    Task<int> RevokeTenantAsync(string tenantUid, DateTimeOffset at, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default);

    /// <summary>Revokes at most <paramref name="limit"/> live leases expired at <paramref name="now"/>; returns them.</summary>
    Task<IReadOnlyList<LeaseRecord>> RevokeExpiredAsync(DateTimeOffset now, int limit, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default);

    /// <summary>Pending clean-ups due at <paramref name="now"/>, oldest first.</summary>
    Task<IReadOnlyList<LeaseRecord>> ListDueCleanupsAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default);

    /// <summary>
    /// Revokes the lease if it is live and schedules its clean-up outside Keyward at <paramref name="at"/>, even one
    /// already recorded done: for something an engine created outside after its lease may have been cleaned up (a
    /// database login created while a lockdown revoked the lease that stands for it).
    /// </summary>
    Task RescheduleCleanupAsync(string leaseId, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Records a clean-up attempt: done, or failed with the next attempt's time and a non-secret error.</summary>
    Task RecordCleanupAsync(string leaseId, bool done, DateTimeOffset? nextAt, string? error, CancellationToken cancellationToken = default);

    /// <summary>How many of a tenant's revoked leases still wait for clean-up outside.</summary>
    Task<int> CountPendingCleanupsAsync(string tenantUid, CancellationToken cancellationToken = default);

    /// <summary>Deletes at most <paramref name="limit"/> leases revoked before <paramref name="before"/> whose clean-up is not pending.</summary>
    Task<int> SweepAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default);
}
