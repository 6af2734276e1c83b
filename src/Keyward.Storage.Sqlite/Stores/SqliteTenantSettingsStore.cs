using Keyward.Core.Storage;
using Keyward.Core.Tenants;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteTenantSettingsStore(SqliteConnectionLease db) : ITenantSettingsStore
{
    public Task<AnomalySettings?> GetAnomalySettingsAsync(string tenantUid, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Scalar("SELECT anomaly FROM tenant_settings WHERE tenant_uid = $uid", ("$uid", tenantUid)) is string json
            ? StoredJson.ParseAnomaly(json)
            : null);

    public Task PutAnomalySettingsAsync(string tenantUid, AnomalySettings settings, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        db.Execute(
            "INSERT INTO tenant_settings (tenant_uid, anomaly, updated_at) VALUES ($uid, $json, $at) " +
            "ON CONFLICT (tenant_uid) DO UPDATE SET anomaly = excluded.anomaly, updated_at = excluded.updated_at",
            ("$uid", tenantUid), ("$json", StoredJson.Anomaly(settings)), ("$at", SqliteValues.Ticks(at)));
        return Task.CompletedTask;
    }
}
