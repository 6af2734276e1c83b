using System.Data;
using Keyward.Core.Audit;
using Keyward.Core.Auth.Jwt;
using Keyward.Core.Events;
using Keyward.Core.Leases;
using Keyward.Core.Policies;
using Keyward.Core.Seal;
using Keyward.Core.Secrets;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;
using Keyward.Storage.Postgres.Stores;
using Npgsql;

namespace Keyward.Storage.Postgres;

/// <summary>
/// A read snapshot (a <c>READ ONLY</c>, <c>REPEATABLE READ</c> transaction: every query sees the database as of the
/// first one), a single-statement read (no transaction: the statement runs in PostgreSQL's implicit one, read-only by
/// the read pool's default, and a second statement is refused), or a write transaction (<c>READ COMMITTED</c>: each
/// statement sees what others committed before it, and the row locks the stores take — the audit head, a secret's
/// metadata, conditional updates — serialize writers where it matters). Each session holds one pooled connection; a
/// write session not committed is rolled back on dispose.
/// </summary>
internal sealed class PostgresSession : IWriteSession
{
    private const string Savepoint = "op";

    private readonly PostgresDb _db;
    private readonly string _nodeId;
    private bool _open;

    private PostgresSession(PostgresDb db, string nodeId)
    {
        _db = db;
        _nodeId = nodeId;
        _open = db.Transaction is not null;
    }

    public StoreChanges Changes => _db.Changes;

    private NpgsqlTransaction Transaction => _db.Transaction ?? throw new InvalidOperationException("A single-statement read session has no transaction.");

    public static async Task<PostgresSession> BeginAsync(NpgsqlDataSource dataSource, PostgresSessionKind kind, string nodeId, CancellationToken cancellationToken)
    {
        var write = kind == PostgresSessionKind.Write;
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            if (kind == PostgresSessionKind.Statement)
            {
                // One statement is one snapshot by itself: no BEGIN, and no ROLLBACK round trip at the end.
                return new PostgresSession(new PostgresDb(connection, null, write: false), nodeId);
            }

            // A read session's connection comes from the read pool, whose transactions are read-only by default
            // (default_transaction_read_only): no statement is needed here. BEGIN goes out with the first query.
            var transaction = await connection.BeginTransactionAsync(write ? IsolationLevel.ReadCommitted : IsolationLevel.RepeatableRead, cancellationToken);

            return new PostgresSession(new PostgresDb(connection, transaction, write), nodeId);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    public ISealStore Seal => field ??= new PostgresSealStore(_db);

    public ITenantStore Tenants => field ??= new PostgresTenantStore(_db);

    public ITenantKeyStore TenantKeys => field ??= new PostgresTenantKeyStore(_db);

    public ITokenStore Tokens => field ??= new PostgresTokenStore(_db);

    public IRoleStore Roles => field ??= new PostgresRoleStore(_db);

    public ISecretStore Secrets => field ??= new PostgresSecretStore(_db);

    public IAuditStore Audit => field ??= new PostgresAuditStore(_db);

    public ILeaseStore Leases => field ??= new PostgresLeaseStore(_db);

    public IEventStore Events => field ??= new PostgresEventStore(_db);

    public ITenantSettingsStore TenantSettings => field ??= new PostgresTenantSettingsStore(_db);

    public IJwtIssuerStore JwtIssuers => field ??= new PostgresJwtIssuerStore(_db);

    public Keyward.Core.Engines.IEngineConfigStore Engines => field ??= new PostgresEngineConfigStore(_db);

    public Keyward.Core.Wrapping.IWrapStore Wraps => field ??= new Stores.PostgresWrapStore(_db);

    public Keyward.Core.Budgets.IBudgetStore Budgets => field ??= new Stores.PostgresBudgetStore(_db);

    /// <summary><c>SAVEPOINT op</c>.</summary>
    public Task SavepointAsync(CancellationToken cancellationToken = default) => Transaction.SaveAsync(Savepoint, cancellationToken);

    /// <summary><c>ROLLBACK TO SAVEPOINT op</c>: also clears the aborted state a failed statement leaves the transaction in.</summary>
    public Task RollbackToSavepointAsync(CancellationToken cancellationToken = default) => Transaction.RollbackAsync(Savepoint, cancellationToken);

    /// <summary><c>RELEASE SAVEPOINT op</c>.</summary>
    public Task ReleaseSavepointAsync(CancellationToken cancellationToken = default) => Transaction.ReleaseAsync(Savepoint, cancellationToken);

    /// <summary>
    /// Commits; with <c>synchronous_commit</c> on (the default), it returns once the commit is flushed to the WAL. A
    /// session that changed something other nodes cache or stream first queues a notification on
    /// <see cref="PostgresStore.Channel"/> naming this node: PostgreSQL delivers it when (and only if) the commit does.
    /// </summary>
    public async Task CommitAsync(CancellationToken cancellationToken = default)
    {
        if (_db.Changed)
        {
            await using var notify = _db.Command("SELECT pg_notify(@channel, @node)", [("channel", PostgresStore.Channel), ("node", _nodeId)]);
            await notify.ExecuteNonQueryAsync(cancellationToken);
        }

        await Transaction.CommitAsync(cancellationToken);
        _open = false;
    }

    /// <summary>
    /// The group commit's closing step in one round trip: the newest event id, the head (moved from
    /// <paramref name="from"/> if given, else set), the audit records and the checkpoint — both written only if the head
    /// is now <paramref name="head"/> —, the notification (when the batch changed something other nodes cache or
    /// stream) and <c>COMMIT</c>, sent as one batch. The head is the first row the batch locks, as when it is read
    /// <c>FOR UPDATE</c>. PostgreSQL stops at the first statement that fails and skips the rest up to the batch's end,
    /// so an error commits nothing (the transaction is left aborted and rolled back on dispose); <c>COMMIT</c> returns
    /// once the commit is flushed to the WAL, as <see cref="CommitAsync"/>. If the head was not <paramref name="from"/>
    /// any more, no statement wrote anything, and the result is null.
    /// </summary>
    public async Task<AuditedCommit> CommitAuditedAsync(
        IReadOnlyList<AuditEntry> records, AuditCheckpoint? checkpoint, AuditHead head, AuditHead? from = null,
        long? secretGeneration = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (from is not null && _db.Changed)
        {
            throw new InvalidOperationException("An assumed audit head is only for a session that changed nothing else.");
        }

        _db.StartingStatement();
        await using var batch = new NpgsqlBatch(_db.Connection, Transaction);

        // First, so its result is the reader's first; it takes no lock.
        batch.BatchCommands.Add(new NpgsqlBatchCommand(LatestIdAndGenerationSql));
        if (from is { } expected)
        {
            PostgresAuditStore.AddMoveHead(batch, expected, head, secretGeneration);
        }
        else
        {
            PostgresAuditStore.AddSetHead(batch, head);
        }

        var headCommand = batch.BatchCommands[^1];
        if (records.Count > 0)
        {
            PostgresAuditStore.AddAppendIfHead(batch, records, head);
        }

        if (checkpoint is not null)
        {
            PostgresAuditStore.AddCheckpointIfHead(batch, checkpoint, head);
        }

        if (_db.Changed)
        {
            var notify = new NpgsqlBatchCommand("SELECT pg_notify($1, $2)");
            notify.Parameters.Add(new NpgsqlParameter<string> { TypedValue = PostgresStore.Channel });
            notify.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _nodeId });
            batch.BatchCommands.Add(notify);
        }

        batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
        long latestEventId = 0;
        long generation = 0;
        // Synchronously: the group committer calls this on its own thread, which is there to wait for commits. Awaited,
        // the answer would be handed to the thread pool and wait there behind the very requests this commit holds up.
        cancellationToken.ThrowIfCancellationRequested();
        using (var reader = batch.ExecuteReader())
        {
            if (reader.Read())
            {
                latestEventId = reader.IsDBNull(0) ? 0L : reader.GetInt64(0);
                generation = reader.IsDBNull(1) ? 0L : reader.GetInt64(1);
            }

            // Every remaining result, so that an error of any statement (COMMIT's included) is thrown here.
            while (reader.NextResult())
            {
            }
        }

        _open = false;
        return new AuditedCommit(from is not null && headCommand.RecordsAffected != 1 ? null : latestEventId, generation);
    }

    /// <summary>The newest event id and the secret generation, one statement (no lock taken).</summary>
    private const string LatestIdAndGenerationSql =
        $"SELECT ({PostgresEventStore.LatestIdSql}), ({SecretGenerationSql})";

    /// <summary>The store's secret generation (moved by triggers on <c>secrets</c> and <c>secret_versions</c>, migration 5).</summary>
    internal const string SecretGenerationSql = "SELECT value FROM secret_generation WHERE id = 1";

    public async Task<long> SecretGenerationAsync(CancellationToken cancellationToken = default) =>
        await _db.ScalarAsync(SecretGenerationSql, [], cancellationToken) is long generation ? generation : 0L;

    public async ValueTask DisposeAsync()
    {
        if (_open)
        {
            _open = false;
            try
            {
                await Transaction.RollbackAsync();
            }
            catch (Exception error) when (error is NpgsqlException or InvalidOperationException)
            {
                // The connection broke: the server has rolled back already, and the pool drops a broken connection.
            }
        }

        if (_db.Transaction is not null)
        {
            await _db.Transaction.DisposeAsync();
        }

        await _db.Connection.DisposeAsync();
    }
}

/// <summary>What a <see cref="PostgresSession"/> is for.</summary>
internal enum PostgresSessionKind
{
    /// <summary>A <c>READ ONLY</c>, <c>REPEATABLE READ</c> transaction (one snapshot for every statement).</summary>
    Snapshot,

    /// <summary>One read-only statement outside any explicit transaction.</summary>
    Statement,

    /// <summary>A <c>READ COMMITTED</c> write transaction.</summary>
    Write,
}
