using Keyward.Core.Policies;
using Keyward.Core.Storage;

namespace Keyward.Storage.Postgres.Stores;

internal sealed class PostgresRoleStore(PostgresDb db) : IRoleStore
{
    private const string Columns = "tenant_uid, name, rules, max_ttl_seconds, may_spawn, created_at, updated_at";

    public Task<Role?> GetAsync(string tenantUid, string name, CancellationToken cancellationToken = default) =>
        db.FirstOrDefaultAsync<Role?>($"SELECT {Columns} FROM roles WHERE tenant_uid = @uid AND name = @name", [("uid", tenantUid), ("name", name)], StoredRows.Role, cancellationToken);

    public async Task<IReadOnlyList<Role>> ListAsync(string tenantUid, CancellationToken cancellationToken = default) =>
        await db.ListAsync($"SELECT {Columns} FROM roles WHERE tenant_uid = @uid ORDER BY name", [("uid", tenantUid)], StoredRows.Role, cancellationToken);

    public Task UpsertAsync(Role role, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            $"""
            INSERT INTO roles ({Columns}) VALUES (@uid, @name, @rules, @ttl, @spawn, @created, @updated)
            ON CONFLICT (tenant_uid, name) DO UPDATE SET rules = excluded.rules, max_ttl_seconds = excluded.max_ttl_seconds,
                may_spawn = excluded.may_spawn, updated_at = excluded.updated_at
            """,
            [("uid", role.TenantUid), ("name", role.Name), ("rules", StoredJson.Rules(role.Rules.ToSpecs())),
                ("ttl", (long)role.MaxTtl.TotalSeconds), ("spawn", StoredJson.Strings(role.MaySpawn)),
                ("created", PostgresValues.Ticks(role.CreatedAt)), ("updated", PostgresValues.Ticks(role.UpdatedAt))],
            cancellationToken);

    public async Task<bool> DeleteAsync(string tenantUid, string name, CancellationToken cancellationToken = default) =>
        await db.ExecuteAsync("DELETE FROM roles WHERE tenant_uid = @uid AND name = @name", [("uid", tenantUid), ("name", name)], cancellationToken) == 1;
}
