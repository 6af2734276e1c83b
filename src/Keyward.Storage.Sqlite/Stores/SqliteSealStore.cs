using Keyward.Core.Seal;
using Keyward.Core.Storage;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteSealStore(SqliteConnectionLease db) : ISealStore
{
    public Task<SealConfig?> GetAsync(CancellationToken cancellationToken = default)
    {
        using var reader = db.Query("SELECT shares, threshold, share_set_id, root_check, created_at FROM seal_config WHERE id = 1");
        SealConfig? config = reader.Read()
            ? new SealConfig(reader.GetInt32(0), reader.GetInt32(1), (uint)reader.GetInt64(2), StoredRows.Blob(reader, 3), StoredRows.Instant(reader, 4))
            : null;
        return Task.FromResult(config);
    }

    public Task<bool> TryInsertAsync(SealConfig config, CancellationToken cancellationToken = default)
    {
        var inserted = db.Execute(
            "INSERT INTO seal_config (id, shares, threshold, share_set_id, root_check, created_at) VALUES (1, $shares, $threshold, $set, $check, $at) ON CONFLICT (id) DO NOTHING",
            ("$shares", config.Shares), ("$threshold", config.Threshold), ("$set", (long)config.ShareSetId), ("$check", config.RootCheck), ("$at", SqliteValues.Ticks(config.CreatedAt)));
        return Task.FromResult(inserted == 1);
    }
}
