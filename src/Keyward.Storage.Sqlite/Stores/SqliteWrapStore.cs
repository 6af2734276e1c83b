using Keyward.Core.Storage;
using Keyward.Core.Wrapping;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteWrapStore(SqliteConnectionLease db) : IWrapStore
{
    private const string Columns = "tenant_uid, token_hash, accessor, creation_path, created_at, expires_at, key_version, payload, used_at, state, owner_accessor";

    public Task InsertAsync(WrapRecord wrap, CancellationToken cancellationToken = default)
    {
        db.Execute(
            $"INSERT INTO wraps ({Columns}) VALUES ($uid, $hash, $accessor, $path, $created, $expires, $key, $payload, $used, $state, $owner)",
            ("$uid", wrap.TenantUid), ("$hash", wrap.TokenHash), ("$accessor", wrap.Accessor), ("$path", wrap.CreationPath),
            ("$created", SqliteValues.Ticks(wrap.CreatedAt)), ("$expires", SqliteValues.Ticks(wrap.ExpiresAt)), ("$key", wrap.KeyVersion),
            ("$payload", wrap.Payload), ("$used", SqliteValues.Ticks(wrap.UsedAt)), ("$state", WrapStates.Name(wrap.State)), ("$owner", wrap.OwnerAccessor));
        return Task.CompletedTask;
    }

    public Task<WrapRecord?> GetByHashAsync(byte[] tokenHash, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query($"SELECT {Columns} FROM wraps WHERE token_hash = $hash", ("$hash", tokenHash));
        return Task.FromResult(reader.Read() ? StoredRows.Wrap(reader) : null);
    }

    /// <summary>
    /// SQLite's RETURNING gives the row after the update (the payload already erased), so the row is read first, then
    /// erased by a conditional update whose count decides: both inside the write transaction, which holds the
    /// database's only write lock, so no other claim can come between them.
    /// </summary>
    public async Task<WrapRecord?> ClaimAsync(byte[] tokenHash, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        var row = await GetByHashAsync(tokenHash, cancellationToken);
        if (row is not { State: WrapState.Active, Payload: not null } || row.ExpiresAt <= now)
        {
            return null;
        }

        var claimed = db.Execute(
            "UPDATE wraps SET used_at = $now, state = 'used', payload = NULL WHERE token_hash = $hash AND state = 'active' AND expires_at > $now",
            ("$hash", tokenHash), ("$now", SqliteValues.Ticks(now)));
        return claimed == 1 ? row : null;
    }

    public Task<int> CountAsync(string tenantUid, WrapState? state = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(Convert.ToInt32(state is { } s
            ? db.Scalar("SELECT COUNT(*) FROM wraps WHERE tenant_uid = $uid AND state = $state", ("$uid", tenantUid), ("$state", WrapStates.Name(s)))
            : db.Scalar("SELECT COUNT(*) FROM wraps WHERE tenant_uid = $uid", ("$uid", tenantUid)), System.Globalization.CultureInfo.InvariantCulture));

    public Task RevokeAsync(byte[] tokenHash, CancellationToken cancellationToken = default)
    {
        db.Execute("UPDATE wraps SET state = 'revoked', payload = NULL WHERE token_hash = $hash", ("$hash", tokenHash));
        return Task.CompletedTask;
    }

    public Task<int> RevokeTenantAsync(string tenantUid, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("UPDATE wraps SET state = 'revoked', payload = NULL WHERE tenant_uid = $uid AND state = 'active'", ("$uid", tenantUid)));

    public Task<int> RevokeOwnedByRevokedAsync(string tenantUid, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            """
            UPDATE wraps SET state = 'revoked', payload = NULL
            WHERE tenant_uid = $uid AND state = 'active' AND owner_accessor IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.accessor = wraps.owner_accessor AND t.revoked_at IS NULL)
            """,
            ("$uid", tenantUid)));

    public Task<int> EraseExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            """
            UPDATE wraps SET state = 'expired', payload = NULL
            WHERE token_hash IN (SELECT token_hash FROM wraps WHERE state = 'active' AND expires_at <= $now LIMIT $limit)
            """,
            ("$now", SqliteValues.Ticks(now)), ("$limit", limit)));

    public Task<int> SweepAsync(DateTimeOffset expiredBefore, int limit, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            "DELETE FROM wraps WHERE token_hash IN (SELECT token_hash FROM wraps WHERE state <> 'active' AND expires_at < $before LIMIT $limit)",
            ("$before", SqliteValues.Ticks(expiredBefore)), ("$limit", limit)));
}
