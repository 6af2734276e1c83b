using System.Text.Json;
using Keyward.Core.Tenants;

namespace Keyward.Storage.Postgres.Stores;

internal sealed class PostgresTenantSettingsStore(PostgresDb db) : ITenantSettingsStore
{
    public async Task<AnomalySettings?> GetAnomalySettingsAsync(string tenantUid, CancellationToken cancellationToken = default)
    {
        if (await db.ScalarAsync("SELECT anomaly FROM tenant_settings WHERE tenant_uid = @uid", [("uid", tenantUid)], cancellationToken) is not string json)
        {
            return null;
        }

        var stored = JsonSerializer.Deserialize<StoredAnomaly>(json) ?? throw new InvalidDataException("Stored anomaly settings are empty.");
        var threshold = stored.DenyCount is { } count && stored.DenyWindowSeconds is { } window
            ? new DenyThreshold(count, TimeSpan.FromSeconds(window))
            : null;
        return new AnomalySettings(stored.LockdownOnBootstrapReplay, threshold, stored.RotateExposed);
    }

    public Task PutAnomalySettingsAsync(string tenantUid, AnomalySettings settings, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        var stored = new StoredAnomaly(settings.LockdownOnBootstrapReplay, settings.DenyThreshold?.Count, (long?)settings.DenyThreshold?.Window.TotalSeconds, settings.RotateExposed);
        return db.ExecuteAsync(
            "INSERT INTO tenant_settings (tenant_uid, anomaly, updated_at) VALUES (@uid, @json, @at) " +
            "ON CONFLICT (tenant_uid) DO UPDATE SET anomaly = excluded.anomaly, updated_at = excluded.updated_at",
            [("uid", tenantUid), ("json", JsonSerializer.Serialize(stored)), ("at", PostgresValues.Ticks(at))],
            cancellationToken);
    }

    private sealed record StoredAnomaly(bool LockdownOnBootstrapReplay, int? DenyCount, long? DenyWindowSeconds, bool RotateExposed = false);
}
