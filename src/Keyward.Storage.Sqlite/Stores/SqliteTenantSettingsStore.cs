using System.Text.Json;
using Keyward.Core.Tenants;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteTenantSettingsStore(SqliteConnectionLease db) : ITenantSettingsStore
{
    public Task<AnomalySettings?> GetAnomalySettingsAsync(string tenantUid, CancellationToken cancellationToken = default)
    {
        var json = db.Scalar("SELECT anomaly FROM tenant_settings WHERE tenant_uid = $uid", ("$uid", tenantUid)) as string;
        if (json is null)
        {
            return Task.FromResult<AnomalySettings?>(null);
        }

        var stored = JsonSerializer.Deserialize<StoredAnomaly>(json) ?? throw new InvalidDataException("Stored anomaly settings are empty.");
        var threshold = stored.DenyCount is { } count && stored.DenyWindowSeconds is { } window
            ? new DenyThreshold(count, TimeSpan.FromSeconds(window))
            : null;
        return Task.FromResult<AnomalySettings?>(new AnomalySettings(stored.LockdownOnBootstrapReplay, threshold, stored.RotateExposed));
    }

    public Task PutAnomalySettingsAsync(string tenantUid, AnomalySettings settings, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        var stored = new StoredAnomaly(settings.LockdownOnBootstrapReplay, settings.DenyThreshold?.Count, (long?)settings.DenyThreshold?.Window.TotalSeconds, settings.RotateExposed);
        db.Execute(
            "INSERT INTO tenant_settings (tenant_uid, anomaly, updated_at) VALUES ($uid, $json, $at) " +
            "ON CONFLICT (tenant_uid) DO UPDATE SET anomaly = excluded.anomaly, updated_at = excluded.updated_at",
            ("$uid", tenantUid), ("$json", JsonSerializer.Serialize(stored)), ("$at", SqliteValues.Ticks(at)));
        return Task.CompletedTask;
    }

    // RotateExposed was added later: rows stored before it read as false.
    private sealed record StoredAnomaly(bool LockdownOnBootstrapReplay, int? DenyCount, long? DenyWindowSeconds, bool RotateExposed = false);
}
