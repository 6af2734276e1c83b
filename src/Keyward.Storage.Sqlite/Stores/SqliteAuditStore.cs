using System.Text;
using Keyward.Core.Audit;
using Keyward.Core.Storage;
using SQLitePCL;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteAuditStore(SqliteConnectionLease db) : IAuditStore
{
    public Task<AuditHead> GetHeadAsync(CancellationToken cancellationToken = default)
    {
        using var reader = db.Query("SELECT seq, hash, mac FROM audit_head WHERE id = 1");
        return Task.FromResult(reader.Read() ? StoredRows.AuditHead(reader) : AuditHead.Genesis);
    }

    public Task SetHeadAsync(AuditHead head, CancellationToken cancellationToken = default)
    {
        db.Execute(
            "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, $seq, $hash, $mac) " +
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac",
            ("$seq", head.Seq), ("$hash", head.Hash), ("$mac", head.Mac));
        return Task.CompletedTask;
    }

    private const string Insert =
        "INSERT INTO audit_log (seq, tenant, time, agent_id, path, body, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

    /// <summary>The hottest statement of the broker (one row per request): bound positionally, prepared once.</summary>
    public Task AppendAsync(IReadOnlyList<AuditEntry> entries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach (var e in entries)
        {
            var statement = db.Statement(Insert);
            raw.sqlite3_bind_int64(statement, 1, e.Seq);
            BindText(statement, 2, e.TenantId);
            raw.sqlite3_bind_int64(statement, 3, SqliteValues.Ticks(e.Time));
            BindText(statement, 4, e.AgentId);
            BindText(statement, 5, e.Path);
            raw.sqlite3_bind_blob(statement, 6, e.Body);
            raw.sqlite3_bind_blob(statement, 7, e.PrevHash);
            raw.sqlite3_bind_blob(statement, 8, e.Hash);
            db.Check(raw.sqlite3_step(statement));
            raw.sqlite3_reset(statement);
        }

        return Task.CompletedTask;
    }

    private static void BindText(sqlite3_stmt statement, int index, string? value)
    {
        if (value is null)
        {
            raw.sqlite3_bind_null(statement, index);
        }
        else
        {
            raw.sqlite3_bind_text(statement, index, value);
        }
    }

    public Task<IReadOnlyList<AuditEntry>> QueryAsync(AuditQuery query, CancellationToken cancellationToken = default)
    {
        // One statement shape per filter combination, so each uses the best index and stays prepared.
        var sql = new StringBuilder("SELECT seq, tenant, time, agent_id, path, body, prev_hash, hash FROM audit_log WHERE seq > $after");
        var parameters = new List<(string, object?)> { ("$after", query.After), ("$limit", query.Limit) };
        if (query.TenantId is not null)
        {
            sql.Append(" AND tenant = $tenant");
            parameters.Add(("$tenant", query.TenantId));
        }

        if (query.AgentId is not null)
        {
            sql.Append(" AND agent_id = $agent");
            parameters.Add(("$agent", query.AgentId));
        }

        if (query.Path is not null)
        {
            sql.Append(" AND path = $path");
            parameters.Add(("$path", query.Path));
        }

        sql.Append(" ORDER BY seq LIMIT $limit");
        using var reader = db.Query(sql.ToString(), [.. parameters]);
        var list = new List<AuditEntry>();
        while (reader.Read())
        {
            list.Add(new AuditEntry(
                reader.GetInt64(0), StoredRows.NullableString(reader, 1), StoredRows.Instant(reader, 2), StoredRows.NullableString(reader, 3),
                StoredRows.NullableString(reader, 4), StoredRows.Blob(reader, 5), StoredRows.Blob(reader, 6), StoredRows.Blob(reader, 7)));
        }

        return Task.FromResult<IReadOnlyList<AuditEntry>>(list);
    }

    public Task AppendCheckpointAsync(AuditCheckpoint c, CancellationToken cancellationToken = default)
    {
        db.Execute(
            "INSERT INTO audit_checkpoints (seq, hash, time, mac) VALUES ($seq, $hash, $time, $mac) ON CONFLICT (seq) DO NOTHING",
            ("$seq", c.Seq), ("$hash", c.Hash), ("$time", SqliteValues.Ticks(c.Time)), ("$mac", c.Mac));
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<AuditCheckpoint>> ListCheckpointsAsync(CancellationToken cancellationToken = default)
    {
        using var reader = db.Query("SELECT seq, hash, time, mac FROM audit_checkpoints ORDER BY seq");
        var list = new List<AuditCheckpoint>();
        while (reader.Read())
        {
            list.Add(new AuditCheckpoint(reader.GetInt64(0), StoredRows.Blob(reader, 1), StoredRows.Instant(reader, 2), StoredRows.Blob(reader, 3)));
        }

        return Task.FromResult<IReadOnlyList<AuditCheckpoint>>(list);
    }
}
