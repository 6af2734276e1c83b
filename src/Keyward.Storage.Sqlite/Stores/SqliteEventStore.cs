using Keyward.Core.Events;
using Keyward.Core.Storage;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteEventStore(SqliteConnectionLease db) : IEventStore
{
    public Task<long> AppendAsync(EventRecord e, CancellationToken cancellationToken = default) =>
        Task.FromResult((long)db.Scalar(
            "INSERT INTO events (tenant_uid, type, path, subject_accessor, data, time) VALUES ($uid, $type, $path, $subject, $data, $time) RETURNING id",
            ("$uid", e.TenantUid), ("$type", e.Type), ("$path", e.Path), ("$subject", e.SubjectAccessor), ("$data", e.Data),
            ("$time", SqliteValues.Ticks(e.Time)))!);

    public Task<IReadOnlyList<EventRecord>> ListAsync(string tenantUid, long afterId, int limit, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query(
            "SELECT id, tenant_uid, type, path, subject_accessor, data, time FROM events WHERE tenant_uid = $uid AND id > $after ORDER BY id LIMIT $limit",
            ("$uid", tenantUid), ("$after", afterId), ("$limit", limit));
        var list = new List<EventRecord>();
        while (reader.Read())
        {
            list.Add(new EventRecord(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2), StoredRows.NullableString(reader, 3),
                StoredRows.NullableString(reader, 4), reader.GetString(5), StoredRows.Instant(reader, 6)));
        }

        return Task.FromResult<IReadOnlyList<EventRecord>>(list);
    }

    public Task<long?> OldestIdAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Scalar("SELECT min(id) FROM events") is long id ? id : (long?)null);

    public Task<long> LatestIdAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Scalar("SELECT seq FROM sqlite_sequence WHERE name = 'events'") is long seq ? seq : 0L);

    public Task<int> PruneAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < $before ORDER BY id LIMIT $limit)",
            ("$before", SqliteValues.Ticks(before)), ("$limit", limit)));
}
