using Keyward.Core.Audit;
using Keyward.Core.Events;
using Keyward.Core.Leases;
using Keyward.Core.Auth.Jwt;
using Keyward.Core.Policies;
using Keyward.Core.Seal;
using Keyward.Core.Secrets;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;
using Keyward.Storage.Sqlite.Stores;

namespace Keyward.Storage.Sqlite;

/// <summary>
/// A read snapshot (deferred transaction on a pooled reader) or the write transaction (BEGIN IMMEDIATE on the
/// writer). A write session not committed is rolled back on dispose.
/// </summary>
internal sealed class SqliteSession : IWriteSession
{
    private const string Savepoint = "op";

    private readonly SqliteConnectionLease _db;
    private readonly SqliteStore _owner;
    private readonly bool _write;
    private bool _open;
    private bool _healthy = true;

    public SqliteSession(SqliteConnectionLease db, SqliteStore owner, bool write)
    {
        _db = db;
        _owner = owner;
        _write = write;
        _db.Changes = StoreChanges.None;
        _db.Execute(write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
        _open = true;
    }

    public StoreChanges Changes => _write ? _db.Changes : StoreChanges.None;

    public ISealStore Seal => field ??= new SqliteSealStore(_db);

    public ITenantStore Tenants => field ??= new SqliteTenantStore(_db);

    public ITenantKeyStore TenantKeys => field ??= new SqliteTenantKeyStore(_db);

    public ITokenStore Tokens => field ??= new SqliteTokenStore(_db);

    public IRoleStore Roles => field ??= new SqliteRoleStore(_db);

    public ISecretStore Secrets => field ??= new SqliteSecretStore(_db);

    public IAuditStore Audit => field ??= new SqliteAuditStore(_db);

    public ILeaseStore Leases => field ??= new SqliteLeaseStore(_db);

    public IEventStore Events => field ??= new SqliteEventStore(_db);

    public ITenantSettingsStore TenantSettings => field ??= new SqliteTenantSettingsStore(_db);
    public IJwtIssuerStore JwtIssuers => field ??= new SqliteJwtIssuerStore(_db);

    public Keyward.Core.Engines.IEngineConfigStore Engines => field ??= new SqliteEngineConfigStore(_db);

    public Keyward.Core.Wrapping.IWrapStore Wraps => field ??= new Stores.SqliteWrapStore(_db);

    public Keyward.Core.Budgets.IBudgetStore Budgets => field ??= new Stores.SqliteBudgetStore(_db);

    public Task SavepointAsync(CancellationToken cancellationToken = default)
    {
        _db.Execute("SAVEPOINT " + Savepoint);
        return Task.CompletedTask;
    }

    public Task RollbackToSavepointAsync(CancellationToken cancellationToken = default)
    {
        _db.Execute("ROLLBACK TO " + Savepoint);
        return Task.CompletedTask;
    }

    public Task ReleaseSavepointAsync(CancellationToken cancellationToken = default)
    {
        _db.Execute("RELEASE " + Savepoint);
        return Task.CompletedTask;
    }

    public Task CommitAsync(CancellationToken cancellationToken = default)
    {
        _db.Execute("COMMIT");
        _open = false;
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        if (_open)
        {
            try
            {
                _db.Execute(_write ? "ROLLBACK" : "COMMIT");
            }
            catch (Microsoft.Data.Sqlite.SqliteException)
            {
                // The transaction may already be gone (SQLite rolls back by itself on some errors).
                _healthy = _db.Connection.State == System.Data.ConnectionState.Open;
            }

            _open = false;
        }

        _owner.Return(_db, _write, _healthy);
        return ValueTask.CompletedTask;
    }
}
