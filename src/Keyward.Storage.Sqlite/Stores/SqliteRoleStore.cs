using Keyward.Core.Policies;
using Keyward.Core.Storage;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteRoleStore(SqliteConnectionLease db) : IRoleStore
{
    private const string Columns = "tenant_uid, name, rules, max_ttl_seconds, may_spawn, created_at, updated_at";

    public Task<Role?> GetAsync(string tenantUid, string name, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query($"SELECT {Columns} FROM roles WHERE tenant_uid = $uid AND name = $name", ("$uid", tenantUid), ("$name", name));
        return Task.FromResult(reader.Read() ? StoredRows.Role(reader) : null);
    }

    public Task<IReadOnlyList<Role>> ListAsync(string tenantUid, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query($"SELECT {Columns} FROM roles WHERE tenant_uid = $uid ORDER BY name", ("$uid", tenantUid));
        var list = new List<Role>();
        while (reader.Read())
        {
            list.Add(StoredRows.Role(reader));
        }

        return Task.FromResult<IReadOnlyList<Role>>(list);
    }

    public Task UpsertAsync(Role role, CancellationToken cancellationToken = default)
    {
        db.Execute(
            $"""
            INSERT INTO roles ({Columns}) VALUES ($uid, $name, $rules, $ttl, $spawn, $created, $updated)
            ON CONFLICT (tenant_uid, name) DO UPDATE SET rules = excluded.rules, max_ttl_seconds = excluded.max_ttl_seconds,
                may_spawn = excluded.may_spawn, updated_at = excluded.updated_at
            """,
            ("$uid", role.TenantUid), ("$name", role.Name), ("$rules", StoredJson.Rules(role.Rules.ToSpecs())),
            ("$ttl", (long)role.MaxTtl.TotalSeconds), ("$spawn", StoredJson.Strings(role.MaySpawn)),
            ("$created", SqliteValues.Ticks(role.CreatedAt)), ("$updated", SqliteValues.Ticks(role.UpdatedAt)));
        return Task.CompletedTask;
    }

    public Task<bool> DeleteAsync(string tenantUid, string name, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("DELETE FROM roles WHERE tenant_uid = $uid AND name = $name", ("$uid", tenantUid), ("$name", name)) == 1);
}
