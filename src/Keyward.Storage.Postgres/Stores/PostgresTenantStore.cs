using Keyward.Core.Storage;
using Keyward.Core.Tenants;

namespace Keyward.Storage.Postgres.Stores;

internal sealed class PostgresTenantStore(PostgresDb db) : ITenantStore
{
    private const string Columns = "uid, id, name, state, created_at, updated_at, revoked_before, revocation_pending";

    public Task<Tenant?> GetByIdAsync(string id, CancellationToken cancellationToken = default) =>
        db.FirstOrDefaultAsync<Tenant?>($"SELECT {Columns} FROM tenants WHERE id = @v", [("v", id)], StoredRows.Tenant, cancellationToken);

    public Task<Tenant?> GetByUidAsync(string uid, CancellationToken cancellationToken = default) =>
        db.FirstOrDefaultAsync<Tenant?>($"SELECT {Columns} FROM tenants WHERE uid = @v", [("v", uid)], StoredRows.Tenant, cancellationToken);

    public async Task<IReadOnlyList<Tenant>> ListAsync(CancellationToken cancellationToken = default) =>
        await db.ListAsync($"SELECT {Columns} FROM tenants ORDER BY id", [], StoredRows.Tenant, cancellationToken);

    /// <summary>Atomic: one insert that does nothing when the uid or the id is taken (by a committed or a concurrent tenant).</summary>
    public async Task<bool> TryInsertAsync(Tenant tenant, CancellationToken cancellationToken = default) =>
        await db.ExecuteAsync(
            "INSERT INTO tenants (uid, id, name, state, created_at, updated_at) VALUES (@uid, @id, @name, @state, @created, @updated) ON CONFLICT DO NOTHING",
            [("uid", tenant.Uid), ("id", tenant.Id), ("name", tenant.Name), ("state", State(tenant.State)),
                ("created", PostgresValues.Ticks(tenant.CreatedAt)), ("updated", PostgresValues.Ticks(tenant.UpdatedAt))],
            cancellationToken) == 1;

    public Task UpdateStateAsync(string uid, TenantState state, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync("UPDATE tenants SET state = @state, updated_at = @at WHERE uid = @uid",
            [("state", State(state)), ("at", PostgresValues.Ticks(at)), ("uid", uid)], cancellationToken);

    public Task SetRevokedBeforeAsync(string uid, DateTimeOffset revokedBefore, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync("UPDATE tenants SET revoked_before = @at, revocation_pending = true WHERE uid = @uid",
            [("at", PostgresValues.Ticks(revokedBefore)), ("uid", uid)], cancellationToken);

    public async Task<IReadOnlyList<Tenant>> ListRevocationPendingAsync(CancellationToken cancellationToken = default) =>
        await db.ListAsync($"SELECT {Columns} FROM tenants WHERE revocation_pending ORDER BY id", [], StoredRows.Tenant, cancellationToken);

    public Task ClearRevocationPendingAsync(string uid, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync("UPDATE tenants SET revocation_pending = false WHERE uid = @uid", [("uid", uid)], cancellationToken);

    private static string State(TenantState state) => state.ToString().ToLowerInvariant();
}

internal sealed class PostgresTenantKeyStore(PostgresDb db) : ITenantKeyStore
{
    public async Task<IReadOnlyList<TenantKey>> ListAsync(string tenantUid, CancellationToken cancellationToken = default) =>
        await db.ListAsync(
            "SELECT version, wrapped_key, created_at FROM tenant_keys WHERE tenant_uid = @uid ORDER BY version", [("uid", tenantUid)],
            r => new TenantKey(tenantUid, r.GetInt32(0), StoredRows.Blob(r, 1), StoredRows.Instant(r, 2)), cancellationToken);

    public Task InsertAsync(TenantKey key, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "INSERT INTO tenant_keys (tenant_uid, version, wrapped_key, created_at) VALUES (@uid, @version, @key, @at)",
            [("uid", key.TenantUid), ("version", key.Version), ("key", key.WrappedKey), ("at", PostgresValues.Ticks(key.CreatedAt))],
            cancellationToken);

    public Task<int> DeleteAllAsync(string tenantUid, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync("DELETE FROM tenant_keys WHERE tenant_uid = @uid", [("uid", tenantUid)], cancellationToken);

    public async Task<IReadOnlyList<string>> ListRetiredHoldersAsync(CancellationToken cancellationToken = default) =>
        await db.ListAsync(
            "SELECT DISTINCT k.tenant_uid FROM tenant_keys k JOIN tenants t ON t.uid = k.tenant_uid WHERE t.state = 'retired' ORDER BY k.tenant_uid",
            [], r => r.GetString(0), cancellationToken);
}
