using System.Text;
using Keyward.Core.Audit;
using Keyward.Core.Storage;
using Npgsql;

namespace Keyward.Storage.Postgres.Stores;

internal sealed class PostgresAuditStore(PostgresDb db) : IAuditStore
{
    /// <summary>
    /// In a write session the head row is read <c>FOR UPDATE</c>: the lock is held until commit, so batches from
    /// several nodes (every group-commit batch reads the head first) take turns, each chaining onto the head the
    /// previous one committed — the chain never forks. The row always exists (migration 1 inserts it; a NULL hash is
    /// the genesis head).
    /// </summary>
    public async Task<AuditHead> GetHeadAsync(CancellationToken cancellationToken = default) =>
        await db.FirstOrDefaultAsync<AuditHead?>(
            db.Write ? "SELECT seq, hash, mac FROM audit_head WHERE id = 1 FOR UPDATE" : "SELECT seq, hash, mac FROM audit_head WHERE id = 1", [],
            r => StoredRows.AuditHead(r),
            cancellationToken) ?? AuditHead.Genesis;

    private const string SetHead =
        "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, $1, $2, $3) " +
        "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac";

    private const string Insert =
        "INSERT INTO audit_log (seq, tenant, time, agent_id, path, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

    private const string InsertCheckpoint =
        "INSERT INTO audit_checkpoints (seq, hash, time, mac) VALUES ($1, $2, $3, $4) ON CONFLICT (seq) DO NOTHING";

    public async Task SetHeadAsync(AuditHead head, CancellationToken cancellationToken = default)
    {
        db.StartingStatement();
        await using var batch = new NpgsqlBatch(db.Connection, db.Transaction);
        AddSetHead(batch, head);
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The hottest statement of the broker (one row per request): the whole batch in one round trip.</summary>
    public async Task AppendAsync(IReadOnlyList<AuditEntry> entries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            return;
        }

        db.StartingStatement();
        await using var batch = new NpgsqlBatch(db.Connection, db.Transaction);
        AddAppend(batch, entries);
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Adds one insert per record to <paramref name="batch"/>. The audit trail is never announced to other nodes (see
    /// <see cref="PostgresDb.UnannouncedAsync"/>): statements added to a batch do not go through
    /// <see cref="PostgresDb.Command"/>, so they never mark the session changed.
    /// </summary>
    internal static void AddAppend(NpgsqlBatch batch, IReadOnlyList<AuditEntry> entries)
    {
        foreach (var e in entries)
        {
            var command = new NpgsqlBatchCommand(Insert);
            command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = e.Seq });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)e.TenantId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = PostgresValues.Ticks(e.Time) });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)e.AgentId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)e.Path ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = e.Body });
            command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = e.PrevHash });
            command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = e.Hash });
            batch.BatchCommands.Add(command);
        }
    }

    private const string MoveHead = "UPDATE audit_head SET seq = $1, hash = $2, mac = $3 WHERE id = 1 AND seq = $4 AND hash = $5";

    /// <summary>As <see cref="MoveHead"/>, and only if the secret generation is <c>$6</c> (in the statement's snapshot).</summary>
    private const string MoveHeadAtGeneration = MoveHead + " AND (" + PostgresSession.SecretGenerationSql + ") = $6";

    private const string HeadIs = "EXISTS (SELECT 1 FROM audit_head WHERE id = 1 AND seq = $9 AND hash = $10)";

    private const string InsertIfHead =
        "INSERT INTO audit_log (seq, tenant, time, agent_id, path, body, prev_hash, hash) " +
        "SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bytea[], $7::bytea[], $8::bytea[]) " +
        "WHERE " + HeadIs;

    private const string InsertCheckpointIfHead =
        "INSERT INTO audit_checkpoints (seq, hash, time, mac) SELECT $1::bigint, $2::bytea, $3::bigint, $4::bytea " +
        "WHERE EXISTS (SELECT 1 FROM audit_head WHERE id = 1 AND seq = $5 AND hash = $6) ON CONFLICT (seq) DO NOTHING";

    /// <summary>
    /// Adds the move of the chain head from <paramref name="from"/> to <paramref name="head"/> to <paramref name="batch"/>:
    /// it locks the row (waiting for another node's batch holding it) and moves it only if it still is
    /// <paramref name="from"/>; its row count (1 or 0) says which.
    /// </summary>
    internal static void AddMoveHead(NpgsqlBatch batch, AuditHead from, AuditHead head, long? secretGeneration = null)
    {
        var command = new NpgsqlBatchCommand(secretGeneration is null ? MoveHead : MoveHeadAtGeneration);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = head.Seq });
        command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = head.Hash });
        command.Parameters.Add(Mac(head));
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = from.Seq });
        command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = from.Hash });
        if (secretGeneration is { } generation)
        {
            command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = generation });
        }

        batch.BatchCommands.Add(command);
    }

    /// <summary>
    /// Adds the insert of every record, as one statement, to <paramref name="batch"/> — which inserts nothing unless the
    /// head is <paramref name="head"/> by then (the head was moved earlier in the batch, or it was not).
    /// </summary>
    internal static void AddAppendIfHead(NpgsqlBatch batch, IReadOnlyList<AuditEntry> entries, AuditHead head)
    {
        var command = new NpgsqlBatchCommand(InsertIfHead);
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. entries.Select(e => e.Seq)] });
        command.Parameters.Add(new NpgsqlParameter<string?[]> { TypedValue = [.. entries.Select(e => e.TenantId)] });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. entries.Select(e => PostgresValues.Ticks(e.Time))] });
        command.Parameters.Add(new NpgsqlParameter<string?[]> { TypedValue = [.. entries.Select(e => e.AgentId)] });
        command.Parameters.Add(new NpgsqlParameter<string?[]> { TypedValue = [.. entries.Select(e => e.Path)] });
        command.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = [.. entries.Select(e => e.Body)] });
        command.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = [.. entries.Select(e => e.PrevHash)] });
        command.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = [.. entries.Select(e => e.Hash)] });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = head.Seq });
        command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = head.Hash });
        batch.BatchCommands.Add(command);
    }

    /// <summary>Adds the insert of a checkpoint to <paramref name="batch"/>, kept only if the head is <paramref name="head"/> by then.</summary>
    internal static void AddCheckpointIfHead(NpgsqlBatch batch, AuditCheckpoint c, AuditHead head)
    {
        var command = new NpgsqlBatchCommand(InsertCheckpointIfHead);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = c.Seq });
        command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = c.Hash });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = PostgresValues.Ticks(c.Time) });
        command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = c.Mac });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = head.Seq });
        command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = head.Hash });
        batch.BatchCommands.Add(command);
    }

    /// <summary>Adds the upsert of the chain head (the row migration 1 created) to <paramref name="batch"/>.</summary>
    internal static void AddSetHead(NpgsqlBatch batch, AuditHead head)
    {
        var command = new NpgsqlBatchCommand(SetHead);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = head.Seq });
        command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = head.Hash });
        command.Parameters.Add(Mac(head));
        batch.BatchCommands.Add(command);
    }

    /// <summary>The head's MAC as a <c>bytea</c> parameter (NULL when the head carries none).</summary>
    private static NpgsqlParameter Mac(AuditHead head) =>
        new() { Value = (object?)head.Mac ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bytea };

    /// <summary>Adds the insert of a checkpoint (kept if one with its seq exists) to <paramref name="batch"/>.</summary>
    internal static void AddCheckpoint(NpgsqlBatch batch, AuditCheckpoint c)
    {
        var command = new NpgsqlBatchCommand(InsertCheckpoint);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = c.Seq });
        command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = c.Hash });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = PostgresValues.Ticks(c.Time) });
        command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = c.Mac });
        batch.BatchCommands.Add(command);
    }

    public async Task<IReadOnlyList<AuditEntry>> QueryAsync(AuditQuery query, CancellationToken cancellationToken = default)
    {
        // One statement shape per filter combination (only the shape varies; every value is a parameter).
        var sql = new StringBuilder("SELECT seq, tenant, time, agent_id, path, body, prev_hash, hash FROM audit_log WHERE seq > @after");
        var parameters = new List<(string, object?)> { ("after", query.After), ("limit", query.Limit) };
        if (query.TenantId is not null)
        {
            sql.Append(" AND tenant = @tenant");
            parameters.Add(("tenant", query.TenantId));
        }

        if (query.AgentId is not null)
        {
            sql.Append(" AND agent_id = @agent");
            parameters.Add(("agent", query.AgentId));
        }

        if (query.Path is not null)
        {
            sql.Append(" AND path = @path");
            parameters.Add(("path", query.Path));
        }

        sql.Append(" ORDER BY seq LIMIT @limit");
        return await db.ListAsync(
            sql.ToString(), [.. parameters],
            r => new AuditEntry(
                r.GetInt64(0), StoredRows.NullableString(r, 1), StoredRows.Instant(r, 2), StoredRows.NullableString(r, 3),
                StoredRows.NullableString(r, 4), StoredRows.Blob(r, 5), StoredRows.Blob(r, 6), StoredRows.Blob(r, 7)),
            cancellationToken);
    }

    public async Task AppendCheckpointAsync(AuditCheckpoint c, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(c);
        db.StartingStatement();
        await using var batch = new NpgsqlBatch(db.Connection, db.Transaction);
        AddCheckpoint(batch, c);
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<AuditCheckpoint>> ListCheckpointsAsync(CancellationToken cancellationToken = default) =>
        await db.ListAsync(
            "SELECT seq, hash, time, mac FROM audit_checkpoints ORDER BY seq", [],
            r => new AuditCheckpoint(r.GetInt64(0), StoredRows.Blob(r, 1), StoredRows.Instant(r, 2), StoredRows.Blob(r, 3)),
            cancellationToken);
}
