using Keyward.Core.Events;
using Keyward.Core.Storage;

namespace Keyward.Storage.Postgres.Stores;

/// <summary>
/// Event ids are taken from the <c>event_counter</c> row by an UPDATE, which holds the row lock until the transaction
/// ends: a second writer (this node or another) that appends an event waits for the first to commit or roll back
/// before it gets the next id. Ids are therefore assigned in commit order, and a stream that has read up to id N never
/// sees an id below N committed later. (Every group-commit batch also locks the audit head first, so batches are
/// serialized already; the counter row makes the order hold for any writer.) A rolled-back append gives its id back,
/// as SQLite's AUTOINCREMENT does; pruning never lowers the counter, so ids are never reused.
/// </summary>
internal sealed class PostgresEventStore(PostgresDb db) : IEventStore
{
    public async Task<long> AppendAsync(EventRecord e, CancellationToken cancellationToken = default) =>
        (long)(await db.ScalarAsync(
            """
            WITH next AS (UPDATE event_counter SET last_id = last_id + 1 WHERE id = 1 RETURNING last_id)
            INSERT INTO events (id, tenant_uid, type, path, subject_accessor, data, time)
            SELECT last_id, @uid, @type, @path, @subject, @data, @time FROM next
            RETURNING id
            """,
            [("uid", e.TenantUid), ("type", e.Type), ("path", e.Path), ("subject", e.SubjectAccessor), ("data", e.Data),
                ("time", PostgresValues.Ticks(e.Time))],
            cancellationToken))!;

    public async Task<IReadOnlyList<EventRecord>> ListAsync(string tenantUid, long afterId, int limit, CancellationToken cancellationToken = default) =>
        await db.ListAsync(
            "SELECT id, tenant_uid, type, path, subject_accessor, data, time FROM events WHERE tenant_uid = @uid AND id > @after ORDER BY id LIMIT @limit",
            [("uid", tenantUid), ("after", afterId), ("limit", limit)],
            r => new EventRecord(
                r.GetInt64(0), r.GetString(1), r.GetString(2), StoredRows.NullableString(r, 3),
                StoredRows.NullableString(r, 4), r.GetString(5), StoredRows.Instant(r, 6)),
            cancellationToken);

    public async Task<long?> OldestIdAsync(CancellationToken cancellationToken = default) =>
        await db.ScalarAsync("SELECT min(id) FROM events", [], cancellationToken) is long id ? id : null;

    /// <summary>The counter's value: the newest id assigned (and committed, as seen from this session).</summary>
    /// <summary>The largest event id ever assigned (pruned or not).</summary>
    internal const string LatestIdSql = "SELECT last_id FROM event_counter WHERE id = 1";

    public async Task<long> LatestIdAsync(CancellationToken cancellationToken = default) =>
        await db.ScalarAsync(LatestIdSql, [], cancellationToken) is long id ? id : 0L;

    /// <summary>Pruning old events changes nothing another node streams (its streams are past them): not announced.</summary>
    public async Task<int> PruneAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default)
    {
        var pruned = 0;
        await db.UnannouncedAsync(async () => pruned = await db.ExecuteAsync(
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < @before ORDER BY id LIMIT @limit)",
            [("before", PostgresValues.Ticks(before)), ("limit", limit)], cancellationToken));
        return pruned;
    }
}
