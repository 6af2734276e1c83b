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
/// first one) or a write transaction (<c>READ COMMITTED</c>: each statement sees what others committed before it,
/// and the row locks the stores take — the audit head, a secret's metadata, conditional updates — serialize writers
/// where it matters). Each session holds one pooled connection; a write session not committed is rolled back on
/// dispose.
/// </summary>
internal sealed class PostgresSession : IWriteSession
{
    private const string Savepoint = "op";

    private readonly PostgresDb _db;
    private readonly string _nodeId;
    private bool _open = true;

    private PostgresSession(PostgresDb db, string nodeId)
    {
        _db = db;
        _nodeId = nodeId;
    }

    public static async Task<PostgresSession> BeginAsync(NpgsqlDataSource dataSource, bool write, string nodeId, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
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

    /// <summary><c>SAVEPOINT op</c>.</summary>
    public Task SavepointAsync(CancellationToken cancellationToken = default) => _db.Transaction.SaveAsync(Savepoint, cancellationToken);

    /// <summary><c>ROLLBACK TO SAVEPOINT op</c>: also clears the aborted state a failed statement leaves the transaction in.</summary>
    public Task RollbackToSavepointAsync(CancellationToken cancellationToken = default) => _db.Transaction.RollbackAsync(Savepoint, cancellationToken);

    /// <summary><c>RELEASE SAVEPOINT op</c>.</summary>
    public Task ReleaseSavepointAsync(CancellationToken cancellationToken = default) => _db.Transaction.ReleaseAsync(Savepoint, cancellationToken);

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

        await _db.Transaction.CommitAsync(cancellationToken);
        _open = false;
    }

    public async ValueTask DisposeAsync()
    {
        if (_open)
        {
            _open = false;
            try
            {
                await _db.Transaction.RollbackAsync();
            }
            catch (Exception error) when (error is NpgsqlException or InvalidOperationException)
            {
                // The connection broke: the server has rolled back already, and the pool drops a broken connection.
            }
        }

        await _db.Transaction.DisposeAsync();
        await _db.Connection.DisposeAsync();
    }
}
