using Keyward.Core.Storage;
using System.Text.Json;
using Keyward.Core.Leases;
using Microsoft.Data.Sqlite;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteLeaseStore(SqliteConnectionLease db) : ILeaseStore
{
    private const string Columns =
        "lease_id, tenant_uid, owner_accessor, path, engine, external, issued_at, expires_at, max_expires_at, revoked_at, " +
        "cleanup_state, cleanup_attempts, cleanup_next_at, cleanup_error";

    /// <summary>Revocation: engines that clean up outside Keyward get a pending clean-up due at once.</summary>
    private const string RevokeSet =
        "SET revoked_at = $at, cleanup_state = CASE WHEN engine IN (SELECT value FROM json_each($engines)) THEN 'pending' ELSE 'none' END, " +
        "cleanup_next_at = CASE WHEN engine IN (SELECT value FROM json_each($engines)) THEN $at ELSE NULL END ";

    public Task InsertAsync(LeaseRecord l, CancellationToken cancellationToken = default)
    {
        db.Execute(
            $"INSERT INTO leases ({Columns}) VALUES ($id, $uid, $owner, $path, $engine, $external, $issued, $expires, $max, $revoked, $state, $attempts, $next, $error)",
            ("$id", l.LeaseId), ("$uid", l.TenantUid), ("$owner", l.OwnerAccessor), ("$path", l.Path), ("$engine", l.Engine), ("$external", l.External),
            ("$issued", SqliteValues.Ticks(l.IssuedAt)), ("$expires", SqliteValues.Ticks(l.ExpiresAt)), ("$max", SqliteValues.Ticks(l.MaxExpiresAt)),
            ("$revoked", SqliteValues.Ticks(l.RevokedAt)), ("$state", StateName(l.Cleanup)), ("$attempts", l.CleanupAttempts),
            ("$next", SqliteValues.Ticks(l.CleanupNextAt)), ("$error", l.CleanupError));
        return Task.CompletedTask;
    }

    public Task<LeaseRecord?> GetAsync(string leaseId, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query($"SELECT {Columns} FROM leases WHERE lease_id = $id", ("$id", leaseId));
        return Task.FromResult(reader.Read() ? StoredRows.Lease(reader) : null);
    }

    public Task<IReadOnlyList<LeaseRecord>> ListAsync(
        string tenantUid, string? scopeAccessor, string prefix, bool includeRevoked, int limit, CancellationToken cancellationToken = default)
    {
        var sql = (scopeAccessor is null ? "" : SqliteTokenStore.SubtreeCte) +
            $"SELECT {Columns} FROM leases WHERE tenant_uid = $uid " +
            (scopeAccessor is null ? "" : "AND owner_accessor IN (SELECT a FROM sub) ") +
            (prefix.Length == 0 ? "" : "AND (lease_id = $prefix OR (lease_id > $prefix || '/' AND lease_id < $prefix || '0')) ") +
            (includeRevoked ? "" : "AND revoked_at IS NULL ") +
            "ORDER BY lease_id LIMIT $limit";
        using var reader = db.Query(sql, ("$root", scopeAccessor), ("$uid", tenantUid), ("$prefix", prefix), ("$limit", limit));
        return Task.FromResult(ReadAll(reader));
    }

    public Task<bool> SetExpiryAsync(string leaseId, DateTimeOffset expiresAt, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("UPDATE leases SET expires_at = $expires WHERE lease_id = $id AND revoked_at IS NULL",
            ("$expires", SqliteValues.Ticks(expiresAt)), ("$id", leaseId)) == 1);

    public Task<int> RevokeAsync(IReadOnlyList<string> leaseIds, DateTimeOffset at, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            "UPDATE leases " + RevokeSet + "WHERE lease_id IN (SELECT value FROM json_each($ids)) AND revoked_at IS NULL",
            ("$at", SqliteValues.Ticks(at)), ("$engines", Json(externalEngines)), ("$ids", Json(leaseIds))));

    public Task<int> RevokeForSubtreeAsync(string accessor, DateTimeOffset at, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            SqliteTokenStore.SubtreeCte + "UPDATE leases " + RevokeSet + "WHERE owner_accessor IN (SELECT a FROM sub) AND revoked_at IS NULL",
            ("$root", accessor), ("$at", SqliteValues.Ticks(at)), ("$engines", Json(externalEngines))));

    public Task<int> RevokeForRunAsync(
        string tenantUid, string runId, string? scopeAccessor, DateTimeOffset at, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            SqliteTokenStore.RunCte + "UPDATE leases " + RevokeSet + "WHERE owner_accessor IN (SELECT a FROM sub) AND revoked_at IS NULL",
            ("$scope", scopeAccessor), ("$uid", tenantUid), ("$run", runId), ("$at", SqliteValues.Ticks(at)), ("$engines", Json(externalEngines))));

    public Task<int> RevokeTenantAsync(string tenantUid, DateTimeOffset at, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            "UPDATE leases " + RevokeSet + "WHERE tenant_uid = $uid AND revoked_at IS NULL",
            ("$at", SqliteValues.Ticks(at)), ("$engines", Json(externalEngines)), ("$uid", tenantUid)));

    public Task<(int Live, int External)> CountLiveAsync(
        string tenantUid, DateTimeOffset before, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query(
            "SELECT count(*), coalesce(sum(engine IN (SELECT value FROM json_each($engines))), 0) FROM leases " +
            "WHERE tenant_uid = $uid AND revoked_at IS NULL AND issued_at <= $before",
            ("$uid", tenantUid), ("$before", SqliteValues.Ticks(before)), ("$engines", Json(externalEngines)));
        reader.Read();
        return Task.FromResult((reader.GetInt32(0), reader.GetInt32(1)));
    }

    public Task<int> RevokeIssuedBeforeAsync(
        string tenantUid, DateTimeOffset before, IReadOnlyCollection<string> externalEngines, int limit, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            "UPDATE leases " + RevokeSet +
            "WHERE rowid IN (SELECT rowid FROM leases WHERE tenant_uid = $uid AND revoked_at IS NULL AND issued_at <= $at LIMIT $limit)",
            ("$uid", tenantUid), ("$at", SqliteValues.Ticks(before)), ("$engines", Json(externalEngines)), ("$limit", limit)));

    public Task<IReadOnlyList<LeaseRecord>> RevokeExpiredAsync(DateTimeOffset now, int limit, IReadOnlyCollection<string> externalEngines, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query(
            "UPDATE leases " + RevokeSet +
            "WHERE rowid IN (SELECT rowid FROM leases WHERE expires_at <= $at AND revoked_at IS NULL ORDER BY expires_at LIMIT $limit) " +
            $"RETURNING {Columns}",
            ("$at", SqliteValues.Ticks(now)), ("$engines", Json(externalEngines)), ("$limit", limit));
        return Task.FromResult(ReadAll(reader));
    }

    public Task<IReadOnlyList<LeaseRecord>> ListDueCleanupsAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query(
            $"SELECT {Columns} FROM leases WHERE cleanup_state = 'pending' AND cleanup_next_at <= $now ORDER BY cleanup_next_at LIMIT $limit",
            ("$now", SqliteValues.Ticks(now)), ("$limit", limit));
        return Task.FromResult(ReadAll(reader));
    }

    public Task RescheduleCleanupAsync(string leaseId, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        db.Execute(
            "UPDATE leases SET revoked_at = coalesce(revoked_at, $at), cleanup_state = 'pending', cleanup_next_at = $at WHERE lease_id = $id",
            ("$at", SqliteValues.Ticks(at)), ("$id", leaseId));
        return Task.CompletedTask;
    }

    public Task RecordCleanupAsync(string leaseId, bool done, DateTimeOffset? nextAt, string? error, CancellationToken cancellationToken = default)
    {
        db.Execute(
            "UPDATE leases SET cleanup_state = $state, cleanup_attempts = cleanup_attempts + 1, cleanup_next_at = $next, cleanup_error = $error " +
            "WHERE lease_id = $id AND cleanup_state = 'pending'",
            ("$state", done ? "done" : "pending"), ("$next", done ? null : SqliteValues.Ticks(nextAt)), ("$error", error), ("$id", leaseId));
        return Task.CompletedTask;
    }

    public Task<int> CountPendingCleanupsAsync(string tenantUid, CancellationToken cancellationToken = default) =>
        Task.FromResult(Convert.ToInt32(db.Scalar(
            "SELECT count(*) FROM leases WHERE tenant_uid = $uid AND cleanup_state = 'pending'", ("$uid", tenantUid)), System.Globalization.CultureInfo.InvariantCulture));

    public Task<int> SweepAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            "DELETE FROM leases WHERE rowid IN (SELECT rowid FROM leases WHERE revoked_at < $before AND cleanup_state <> 'pending' LIMIT $limit)",
            ("$before", SqliteValues.Ticks(before)), ("$limit", limit)));

    private static string Json(IEnumerable<string> values) => JsonSerializer.Serialize(values);

    private static string StateName(CleanupState state) => state switch
    {
        CleanupState.Pending => "pending",
        CleanupState.Done => "done",
        _ => "none",
    };

    private static IReadOnlyList<LeaseRecord> ReadAll(SqliteDataReader reader)
    {
        var list = new List<LeaseRecord>();
        while (reader.Read())
        {
            list.Add(StoredRows.Lease(reader));
        }

        return list;
    }
}
