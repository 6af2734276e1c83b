using Keyward.Core.Engines;
using Keyward.Core.Storage;

namespace Keyward.Storage.Postgres.Stores;

internal sealed class PostgresEngineConfigStore(PostgresDb db) : IEngineConfigStore
{
    private const string Columns = "tenant_uid, engine, name, item, settings, key_version, sealed, version, created_at, updated_at";

    /// <summary>
    /// In a write session the row is locked (<c>FOR UPDATE</c>) until commit: a change of a connection and what depends on
    /// where it points (a lease issued on it, checked by a re-pointing PUT or a delete) serialize on it across nodes.
    /// </summary>
    public Task<EngineConfig?> GetAsync(string tenantUid, string engine, string name, string item, CancellationToken cancellationToken = default) =>
        db.FirstOrDefaultAsync<EngineConfig?>(
            $"SELECT {Columns} FROM engine_configs WHERE tenant_uid = @uid AND engine = @engine AND name = @name AND item = @item" + (db.Write ? " FOR UPDATE" : ""),
            [("uid", tenantUid), ("engine", engine), ("name", name), ("item", item)], StoredRows.EngineConfig, cancellationToken);

    public async Task<IReadOnlyList<EngineConfig>> ListAsync(string tenantUid, string engine, string? name, CancellationToken cancellationToken = default) =>
        name is null
            ? await db.ListAsync(
                $"SELECT {Columns} FROM engine_configs WHERE tenant_uid = @uid AND engine = @engine AND item = '' ORDER BY name",
                [("uid", tenantUid), ("engine", engine)], StoredRows.EngineConfig, cancellationToken)
            : await db.ListAsync(
                $"SELECT {Columns} FROM engine_configs WHERE tenant_uid = @uid AND engine = @engine AND name = @name AND item <> '' ORDER BY item",
                [("uid", tenantUid), ("engine", engine), ("name", name)], StoredRows.EngineConfig, cancellationToken);

    public Task UpsertAsync(EngineConfig config, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            $"""
            INSERT INTO engine_configs ({Columns}) VALUES (@uid, @engine, @name, @item, @settings, @key, @sealed, @version, @created, @updated)
            ON CONFLICT (tenant_uid, engine, name, item) DO UPDATE SET settings = excluded.settings, key_version = excluded.key_version,
                sealed = excluded.sealed, version = excluded.version, updated_at = excluded.updated_at
            """,
            [("uid", config.TenantUid), ("engine", config.Engine), ("name", config.Name), ("item", config.Item), ("settings", config.Settings),
                ("key", config.KeyVersion), ("sealed", config.Sealed), ("version", config.Version),
                ("created", PostgresValues.Ticks(config.CreatedAt)), ("updated", PostgresValues.Ticks(config.UpdatedAt))],
            cancellationToken);

    public Task<int> DeleteAsync(string tenantUid, string engine, string name, string? item, CancellationToken cancellationToken = default) =>
        item is null
            ? db.ExecuteAsync("DELETE FROM engine_configs WHERE tenant_uid = @uid AND engine = @engine AND name = @name",
                [("uid", tenantUid), ("engine", engine), ("name", name)], cancellationToken)
            : db.ExecuteAsync("DELETE FROM engine_configs WHERE tenant_uid = @uid AND engine = @engine AND name = @name AND item = @item",
                [("uid", tenantUid), ("engine", engine), ("name", name), ("item", item)], cancellationToken);
}
