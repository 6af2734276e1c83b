using Keyward.Core.Storage;
using Keyward.Core.Wrapping;

namespace Keyward.Storage.Postgres.Stores;

internal sealed class PostgresWrapStore(PostgresDb db) : IWrapStore
{
    private const string Columns = "tenant_uid, token_hash, accessor, creation_path, created_at, expires_at, key_version, payload, used_at, state, owner_accessor";

    public Task InsertAsync(WrapRecord wrap, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            $"INSERT INTO wraps ({Columns}) VALUES (@uid, @hash, @accessor, @path, @created, @expires, @key, @payload, @used, @state, @owner)",
            [("uid", wrap.TenantUid), ("hash", wrap.TokenHash), ("accessor", wrap.Accessor), ("path", wrap.CreationPath),
                ("created", PostgresValues.Ticks(wrap.CreatedAt)), ("expires", PostgresValues.Ticks(wrap.ExpiresAt)), ("key", wrap.KeyVersion),
                ("payload", wrap.Payload), ("used", PostgresValues.Ticks(wrap.UsedAt)), ("state", WrapStates.Name(wrap.State)), ("owner", wrap.OwnerAccessor)],
            cancellationToken);

    public Task<WrapRecord?> GetByHashAsync(byte[] tokenHash, CancellationToken cancellationToken = default) =>
        db.FirstOrDefaultAsync<WrapRecord?>($"SELECT {Columns} FROM wraps WHERE token_hash = @hash", [("hash", tokenHash)], StoredRows.Wrap, cancellationToken);

    /// <summary>
    /// One statement: the claimable row is locked (<c>FOR UPDATE</c>), its payload kept aside, and the row marked used
    /// with the payload erased. A concurrent claim — on any node — waits on the row lock and, once the winner commits,
    /// re-checks the row (now used) and claims nothing.
    /// </summary>
    public Task<WrapRecord?> ClaimAsync(byte[] tokenHash, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        db.FirstOrDefaultAsync<WrapRecord?>(
            """
            WITH claimable AS (
                SELECT token_hash, payload FROM wraps
                WHERE token_hash = @hash AND state = 'active' AND expires_at > @now AND payload IS NOT NULL
                FOR UPDATE)
            UPDATE wraps AS w SET used_at = @now, state = 'used', payload = NULL
            FROM claimable AS c
            WHERE w.token_hash = c.token_hash AND w.state = 'active'
            RETURNING w.tenant_uid, w.token_hash, w.accessor, w.creation_path, w.created_at, w.expires_at, w.key_version, c.payload, NULL::bigint, 'active', w.owner_accessor
            """,
            [("hash", tokenHash), ("now", PostgresValues.Ticks(now))], StoredRows.Wrap, cancellationToken);

    public async Task<int> CountAsync(string tenantUid, WrapState? state = null, CancellationToken cancellationToken = default) =>
        Convert.ToInt32(state is { } s
            ? await db.ScalarAsync("SELECT COUNT(*) FROM wraps WHERE tenant_uid = @uid AND state = @state", [("uid", tenantUid), ("state", WrapStates.Name(s))], cancellationToken)
            : await db.ScalarAsync("SELECT COUNT(*) FROM wraps WHERE tenant_uid = @uid", [("uid", tenantUid)], cancellationToken),
            System.Globalization.CultureInfo.InvariantCulture);

    public Task RevokeAsync(byte[] tokenHash, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync("UPDATE wraps SET state = 'revoked', payload = NULL WHERE token_hash = @hash", [("hash", tokenHash)], cancellationToken);

    public Task<int> RevokeTenantAsync(string tenantUid, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync("UPDATE wraps SET state = 'revoked', payload = NULL WHERE tenant_uid = @uid AND state = 'active'", [("uid", tenantUid)], cancellationToken);

    /// <summary>
    /// Under READ COMMITTED the token rows read are those committed when the statement starts, and the revoking
    /// transaction's own: it runs after that transaction marked its tokens revoked. A wrap another node inserts meanwhile
    /// checked its token in its own transaction; one that still slips through is refused at unwrap (the owner is checked there).
    /// </summary>
    public Task<int> RevokeOwnedByRevokedAsync(string tenantUid, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            """
            UPDATE wraps SET state = 'revoked', payload = NULL
            WHERE tenant_uid = @uid AND state = 'active' AND owner_accessor IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.accessor = wraps.owner_accessor AND t.revoked_at IS NULL)
            """,
            [("uid", tenantUid)], cancellationToken);

    public Task<int> EraseExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            """
            UPDATE wraps SET state = 'expired', payload = NULL
            WHERE token_hash IN (SELECT token_hash FROM wraps WHERE state = 'active' AND expires_at <= @now LIMIT @limit FOR UPDATE SKIP LOCKED)
            """,
            [("now", PostgresValues.Ticks(now)), ("limit", limit)], cancellationToken);

    public Task<int> SweepAsync(DateTimeOffset expiredBefore, int limit, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "DELETE FROM wraps WHERE token_hash IN (SELECT token_hash FROM wraps WHERE state <> 'active' AND expires_at < @before LIMIT @limit FOR UPDATE SKIP LOCKED)",
            [("before", PostgresValues.Ticks(expiredBefore)), ("limit", limit)], cancellationToken);
}
