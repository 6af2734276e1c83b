using Keyward.Core.Storage;
using Keyward.Core.Leases;

namespace Keyward.Storage.Postgres.Stores;

internal sealed class PostgresLeaseStore(PostgresDb db) : ILeaseStore
{
    private const string Columns =
        "lease_id, tenant_uid, owner_accessor, path, engine, external, issued_at, expires_at, max_expires_at, revoked_at, " +
        "cleanup_state, cleanup_attempts, cleanup_next_at, cleanup_error";

    /// <summary>Revocation: engines that clean up outside Keyward get a pending clean-up due at once.</summary>
    private const string RevokeSet =
        "SET revoked_at = @at, cleanup_state = CASE WHEN engine = ANY(@engines) THEN 'pending' ELSE 'none' END, " +
        "cleanup_next_at = CASE WHEN engine = ANY(@engines) THEN @at ELSE NULL END ";

    public Task InsertAsync(LeaseRecord l, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            $"INSERT INTO leases ({Columns}) VALUES (@id, @uid, @owner, @path, @engine, @external, @issued, @expires, @max, @revoked, @state, @attempts, @next, @error)",
            [("id", l.LeaseId), ("uid", l.TenantUid), ("owner", l.OwnerAccessor), ("path", l.Path), ("engine", l.Engine), ("external", l.External),
                ("issued", PostgresValues.Ticks(l.IssuedAt)), ("expires", PostgresValues.Ticks(l.ExpiresAt)), ("max", PostgresValues.Ticks(l.MaxExpiresAt)),
                ("revoked", PostgresValues.Ticks(l.RevokedAt)), ("state", StateName(l.Cleanup)), ("attempts", l.CleanupAttempts),
                ("next", PostgresValues.Ticks(l.CleanupNextAt)), ("error", l.CleanupError)],
            cancellationToken);

    public Task<LeaseRecord?> GetAsync(string leaseId, CancellationToken cancellationToken = default) =>
        db.FirstOrDefaultAsync<LeaseRecord?>($"SELECT {Columns} FROM leases WHERE lease_id = @id", [("id", leaseId)], StoredRows.Lease, cancellationToken);

    public async Task<IReadOnlyList<LeaseRecord>> ListAsync(
        string tenantUid, string? scopeAccessor, string prefix, bool includeRevoked, int limit, CancellationToken cancellationToken = default)
    {
        // Only the statement's shape varies with the filters; every value is a parameter.
        var sql = (scopeAccessor is null ? "" : PostgresTokenStore.SubtreeCte) +
            $"SELECT {Columns} FROM leases WHERE tenant_uid = @uid " +
            (scopeAccessor is null ? "" : "AND owner_accessor IN (SELECT a FROM sub) ") +
            (prefix.Length == 0 ? "" : "AND (lease_id = @prefix OR (lease_id > @prefix || '/' AND lease_id < @prefix || '0')) ") +
            (includeRevoked ? "" : "AND revoked_at IS NULL ") +
            "ORDER BY lease_id LIMIT @limit";
        var parameters = new List<(string, object?)> { ("uid", tenantUid), ("limit", limit) };
        if (scopeAccessor is not null)
        {
            parameters.Add(("root", scopeAccessor));
        }

        if (prefix.Length != 0)
        {
            parameters.Add(("prefix", prefix));
        }

        return await db.ListAsync(sql, [.. parameters], StoredRows.Lease, cancellationToken);
    }

    public async Task<bool> SetExpiryAsync(string leaseId, DateTimeOffset expiresAt, CancellationToken cancellationToken = default) =>
        await db.ExecuteAsync("UPDATE leases SET expires_at = @expires WHERE lease_id = @id AND revoked_at IS NULL",
            [("expires", PostgresValues.Ticks(expiresAt)), ("id", leaseId)], cancellationToken) == 1;

    public Task<int> RevokeAsync(IReadOnlyList<string> leaseIds, DateTimeOffset at, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "UPDATE leases " + RevokeSet + "WHERE lease_id = ANY(@ids) AND revoked_at IS NULL",
            [("at", PostgresValues.Ticks(at)), ("engines", externalEngines.ToArray()), ("ids", leaseIds.ToArray())], cancellationToken);

    public Task<int> RevokeForSubtreeAsync(string accessor, DateTimeOffset at, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            PostgresTokenStore.SubtreeCte + "UPDATE leases " + RevokeSet + "WHERE owner_accessor IN (SELECT a FROM sub) AND revoked_at IS NULL",
            [("root", accessor), ("at", PostgresValues.Ticks(at)), ("engines", externalEngines.ToArray())], cancellationToken);

    public Task<int> RevokeForRunAsync(
        string tenantUid, string runId, string? scopeAccessor, DateTimeOffset at, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            PostgresTokenStore.RunCte + "UPDATE leases " + RevokeSet + "WHERE owner_accessor IN (SELECT a FROM sub) AND revoked_at IS NULL",
            [("scope", scopeAccessor), ("uid", tenantUid), ("run", runId), ("at", PostgresValues.Ticks(at)), ("engines", externalEngines.ToArray())],
            cancellationToken);

    public Task<int> RevokeTenantAsync(string tenantUid, DateTimeOffset at, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "UPDATE leases " + RevokeSet + "WHERE tenant_uid = @uid AND revoked_at IS NULL",
            [("at", PostgresValues.Ticks(at)), ("engines", externalEngines.ToArray()), ("uid", tenantUid)], cancellationToken);

    public async Task<(int Live, int External)> CountLiveAsync(
        string tenantUid, DateTimeOffset before, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default) =>
        await db.FirstOrDefaultAsync(
            "SELECT count(*), count(*) FILTER (WHERE engine = ANY(@engines)) FROM leases " +
            "WHERE tenant_uid = @uid AND revoked_at IS NULL AND issued_at <= @before",
            [("uid", tenantUid), ("before", PostgresValues.Ticks(before)), ("engines", externalEngines.ToArray())],
            r => ((int)r.GetInt64(0), (int)r.GetInt64(1)),
            cancellationToken);

    /// <summary>The outer WHERE repeats the condition: a lease another node revoked meanwhile is re-checked and not counted.</summary>
    public Task<int> RevokeIssuedBeforeAsync(
        string tenantUid, DateTimeOffset before, IReadOnlyCollection<string> externalEngines, int limit, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "UPDATE leases " + RevokeSet +
            "WHERE lease_id IN (SELECT lease_id FROM leases WHERE tenant_uid = @uid AND revoked_at IS NULL AND issued_at <= @at LIMIT @limit) " +
            "AND revoked_at IS NULL",
            [("uid", tenantUid), ("at", PostgresValues.Ticks(before)), ("engines", externalEngines.ToArray()), ("limit", limit)], cancellationToken);

    /// <summary>
    /// Atomic: one <c>UPDATE … RETURNING</c>; the outer WHERE repeats <c>revoked_at IS NULL</c>, so of two nodes sweeping
    /// at once each returns only the leases it revoked itself (their clean-ups are queued once).
    /// </summary>
    public async Task<IReadOnlyList<LeaseRecord>> RevokeExpiredAsync(DateTimeOffset now, int limit, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default) =>
        await db.ListAsync(
            "UPDATE leases " + RevokeSet +
            "WHERE lease_id IN (SELECT lease_id FROM leases WHERE expires_at <= @at AND revoked_at IS NULL ORDER BY expires_at LIMIT @limit) " +
            $"AND revoked_at IS NULL RETURNING {Columns}",
            [("at", PostgresValues.Ticks(now)), ("engines", externalEngines.ToArray()), ("limit", limit)], StoredRows.Lease, cancellationToken);

    public async Task<IReadOnlyList<LeaseRecord>> ListDueCleanupsAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default) =>
        await db.ListAsync(
            $"SELECT {Columns} FROM leases WHERE cleanup_state = 'pending' AND cleanup_next_at <= @now ORDER BY cleanup_next_at LIMIT @limit",
            [("now", PostgresValues.Ticks(now)), ("limit", limit)], StoredRows.Lease, cancellationToken);

    public Task RescheduleCleanupAsync(string leaseId, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "UPDATE leases SET revoked_at = coalesce(revoked_at, @at), cleanup_state = 'pending', cleanup_next_at = @at WHERE lease_id = @id",
            [("at", PostgresValues.Ticks(at)), ("id", leaseId)], cancellationToken);

    /// <summary>Conditional on the clean-up still pending: a clean-up recorded done is never reopened (but see <see cref="RescheduleCleanupAsync"/>).</summary>
    public Task RecordCleanupAsync(string leaseId, bool done, DateTimeOffset? nextAt, string? error, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "UPDATE leases SET cleanup_state = @state, cleanup_attempts = cleanup_attempts + 1, cleanup_next_at = @next::bigint, cleanup_error = @error::text " +
            "WHERE lease_id = @id AND cleanup_state = 'pending'",
            [("state", done ? "done" : "pending"), ("next", done ? null : PostgresValues.Ticks(nextAt)), ("error", error), ("id", leaseId)], cancellationToken);

    public async Task<int> CountPendingCleanupsAsync(string tenantUid, CancellationToken cancellationToken = default) =>
        Convert.ToInt32(await db.ScalarAsync(
            "SELECT count(*) FROM leases WHERE tenant_uid = @uid AND cleanup_state = 'pending'", [("uid", tenantUid)], cancellationToken),
            System.Globalization.CultureInfo.InvariantCulture);

    public Task<int> SweepAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "DELETE FROM leases WHERE lease_id IN (SELECT lease_id FROM leases WHERE revoked_at < @before AND cleanup_state <> 'pending' LIMIT @limit) " +
            "AND cleanup_state <> 'pending'",
            [("before", PostgresValues.Ticks(before)), ("limit", limit)], cancellationToken);

    private static string StateName(CleanupState state) => state switch
    {
        CleanupState.Pending => "pending",
        CleanupState.Done => "done",
        _ => "none",
    };
}
