using Keyward.Core.Storage;
using Keyward.Core.Tenants;

namespace Keyward.Storage.Postgres.Stores;

internal sealed class PostgresTenantSettingsStore(PostgresDb db) : ITenantSettingsStore
{
    public async Task<AnomalySettings?> GetAnomalySettingsAsync(string tenantUid, CancellationToken cancellationToken = default) =>
        await db.ScalarAsync("SELECT anomaly FROM tenant_settings WHERE tenant_uid = @uid", [("uid", tenantUid)], cancellationToken) is string json
            ? StoredJson.ParseAnomaly(json)
            : null;

    public Task PutAnomalySettingsAsync(string tenantUid, AnomalySettings settings, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "INSERT INTO tenant_settings (tenant_uid, anomaly, updated_at) VALUES (@uid, @json, @at) " +
            "ON CONFLICT (tenant_uid) DO UPDATE SET anomaly = excluded.anomaly, updated_at = excluded.updated_at",
            [("uid", tenantUid), ("json", StoredJson.Anomaly(settings)), ("at", PostgresValues.Ticks(at))],
            cancellationToken);
}
