using Keyward.Core.Engines;
using Keyward.Core.Storage;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteEngineConfigStore(SqliteConnectionLease db) : IEngineConfigStore
{
    private const string Columns = "tenant_uid, engine, name, item, settings, key_version, sealed, version, created_at, updated_at";

    public Task<EngineConfig?> GetAsync(string tenantUid, string engine, string name, string item, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query(
            $"SELECT {Columns} FROM engine_configs WHERE tenant_uid = $uid AND engine = $engine AND name = $name AND item = $item",
            ("$uid", tenantUid), ("$engine", engine), ("$name", name), ("$item", item));
        return Task.FromResult(reader.Read() ? StoredRows.EngineConfig(reader) : null);
    }

    public Task<IReadOnlyList<EngineConfig>> ListAsync(string tenantUid, string engine, string? name, CancellationToken cancellationToken = default)
    {
        using var reader = name is null
            ? db.Query($"SELECT {Columns} FROM engine_configs WHERE tenant_uid = $uid AND engine = $engine AND item = '' ORDER BY name", ("$uid", tenantUid), ("$engine", engine))
            : db.Query(
                $"SELECT {Columns} FROM engine_configs WHERE tenant_uid = $uid AND engine = $engine AND name = $name AND item <> '' ORDER BY item",
                ("$uid", tenantUid), ("$engine", engine), ("$name", name));
        var list = new List<EngineConfig>();
        while (reader.Read())
        {
            list.Add(StoredRows.EngineConfig(reader));
        }

        return Task.FromResult<IReadOnlyList<EngineConfig>>(list);
    }

    public Task UpsertAsync(EngineConfig config, CancellationToken cancellationToken = default)
    {
        db.Execute(
            $"""
            INSERT INTO engine_configs ({Columns}) VALUES ($uid, $engine, $name, $item, $settings, $key, $sealed, $version, $created, $updated)
            ON CONFLICT (tenant_uid, engine, name, item) DO UPDATE SET settings = excluded.settings, key_version = excluded.key_version,
                sealed = excluded.sealed, version = excluded.version, updated_at = excluded.updated_at
            """,
            ("$uid", config.TenantUid), ("$engine", config.Engine), ("$name", config.Name), ("$item", config.Item), ("$settings", config.Settings),
            ("$key", config.KeyVersion), ("$sealed", config.Sealed), ("$version", config.Version),
            ("$created", SqliteValues.Ticks(config.CreatedAt)), ("$updated", SqliteValues.Ticks(config.UpdatedAt)));
        return Task.CompletedTask;
    }

    public Task<int> DeleteAsync(string tenantUid, string engine, string name, string? item, CancellationToken cancellationToken = default) =>
        Task.FromResult(item is null
            ? db.Execute("DELETE FROM engine_configs WHERE tenant_uid = $uid AND engine = $engine AND name = $name", ("$uid", tenantUid), ("$engine", engine), ("$name", name))
            : db.Execute(
                "DELETE FROM engine_configs WHERE tenant_uid = $uid AND engine = $engine AND name = $name AND item = $item",
                ("$uid", tenantUid), ("$engine", engine), ("$name", name), ("$item", item)));
}
