using Keyward.Core.Seal;
using Keyward.Core.Storage;

namespace Keyward.Storage.Postgres.Stores;

internal sealed class PostgresSealStore(PostgresDb db) : ISealStore
{
    public Task<SealConfig?> GetAsync(CancellationToken cancellationToken = default) =>
        db.FirstOrDefaultAsync<SealConfig?>(
            "SELECT shares, threshold, share_set_id, root_check, created_at FROM seal_config WHERE id = 1", [],
            r => new SealConfig(r.GetInt32(0), r.GetInt32(1), (uint)r.GetInt64(2), StoredRows.Blob(r, 3), StoredRows.Instant(r, 4)),
            cancellationToken);

    public async Task<bool> TryInsertAsync(SealConfig config, CancellationToken cancellationToken = default) =>
        await db.ExecuteAsync(
            "INSERT INTO seal_config (id, shares, threshold, share_set_id, root_check, created_at) VALUES (1, @shares, @threshold, @set, @check, @at) " +
            "ON CONFLICT (id) DO NOTHING",
            [("shares", config.Shares), ("threshold", config.Threshold), ("set", (long)config.ShareSetId), ("check", config.RootCheck),
                ("at", PostgresValues.Ticks(config.CreatedAt))],
            cancellationToken) == 1;
}
