using Keyward.Core.Storage;
using Keyward.Core.Tenants;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteTenantStore(SqliteConnectionLease db) : ITenantStore
{
    private const string Columns = "uid, id, name, state, created_at, updated_at, revoked_before, revocation_pending";

    public Task<Tenant?> GetByIdAsync(string id, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadOne($"SELECT {Columns} FROM tenants WHERE id = $v", id));

    public Task<Tenant?> GetByUidAsync(string uid, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadOne($"SELECT {Columns} FROM tenants WHERE uid = $v", uid));

    public Task<IReadOnlyList<Tenant>> ListAsync(CancellationToken cancellationToken = default)
    {
        using var reader = db.Query($"SELECT {Columns} FROM tenants ORDER BY id");
        var list = new List<Tenant>();
        while (reader.Read())
        {
            list.Add(StoredRows.Tenant(reader));
        }

        return Task.FromResult<IReadOnlyList<Tenant>>(list);
    }

    public Task<bool> TryInsertAsync(Tenant tenant, CancellationToken cancellationToken = default)
    {
        var inserted = db.Execute(
            "INSERT INTO tenants (uid, id, name, state, created_at, updated_at) VALUES ($uid, $id, $name, $state, $created, $updated) ON CONFLICT DO NOTHING",
            ("$uid", tenant.Uid), ("$id", tenant.Id), ("$name", tenant.Name), ("$state", State(tenant.State)),
            ("$created", SqliteValues.Ticks(tenant.CreatedAt)), ("$updated", SqliteValues.Ticks(tenant.UpdatedAt)));
        return Task.FromResult(inserted == 1);
    }

    public Task UpdateStateAsync(string uid, TenantState state, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        db.Execute("UPDATE tenants SET state = $state, updated_at = $at WHERE uid = $uid", ("$state", State(state)), ("$at", SqliteValues.Ticks(at)), ("$uid", uid));
        return Task.CompletedTask;
    }

    public Task SetRevokedBeforeAsync(string uid, DateTimeOffset revokedBefore, CancellationToken cancellationToken = default)
    {
        db.Execute("UPDATE tenants SET revoked_before = $at, revocation_pending = 1 WHERE uid = $uid", ("$at", SqliteValues.Ticks(revokedBefore)), ("$uid", uid));
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<Tenant>> ListRevocationPendingAsync(CancellationToken cancellationToken = default)
    {
        using var reader = db.Query($"SELECT {Columns} FROM tenants WHERE revocation_pending = 1 ORDER BY id");
        var list = new List<Tenant>();
        while (reader.Read())
        {
            list.Add(StoredRows.Tenant(reader));
        }

        return Task.FromResult<IReadOnlyList<Tenant>>(list);
    }

    public Task ClearRevocationPendingAsync(string uid, CancellationToken cancellationToken = default)
    {
        db.Execute("UPDATE tenants SET revocation_pending = 0 WHERE uid = $uid", ("$uid", uid));
        return Task.CompletedTask;
    }

    private Tenant? ReadOne(string sql, string value)
    {
        using var reader = db.Query(sql, ("$v", value));
        return reader.Read() ? StoredRows.Tenant(reader) : null;
    }

    private static string State(TenantState state) => state.ToString().ToLowerInvariant();
}

internal sealed class SqliteTenantKeyStore(SqliteConnectionLease db) : ITenantKeyStore
{
    public Task<IReadOnlyList<TenantKey>> ListAsync(string tenantUid, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query("SELECT version, wrapped_key, created_at FROM tenant_keys WHERE tenant_uid = $uid ORDER BY version", ("$uid", tenantUid));
        var list = new List<TenantKey>();
        while (reader.Read())
        {
            list.Add(new TenantKey(tenantUid, reader.GetInt32(0), StoredRows.Blob(reader, 1), StoredRows.Instant(reader, 2)));
        }

        return Task.FromResult<IReadOnlyList<TenantKey>>(list);
    }

    public Task InsertAsync(TenantKey key, CancellationToken cancellationToken = default)
    {
        db.Execute(
            "INSERT INTO tenant_keys (tenant_uid, version, wrapped_key, created_at) VALUES ($uid, $version, $key, $at)",
            ("$uid", key.TenantUid), ("$version", key.Version), ("$key", key.WrappedKey), ("$at", SqliteValues.Ticks(key.CreatedAt)));
        return Task.CompletedTask;
    }

    public Task<int> DeleteAllAsync(string tenantUid, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("DELETE FROM tenant_keys WHERE tenant_uid = $uid", ("$uid", tenantUid)));

    public Task<IReadOnlyList<string>> ListRetiredHoldersAsync(CancellationToken cancellationToken = default)
    {
        using var reader = db.Query(
            "SELECT DISTINCT k.tenant_uid FROM tenant_keys k JOIN tenants t ON t.uid = k.tenant_uid WHERE t.state = 'retired' ORDER BY k.tenant_uid");
        var list = new List<string>();
        while (reader.Read())
        {
            list.Add(reader.GetString(0));
        }

        return Task.FromResult<IReadOnlyList<string>>(list);
    }
}
