using Keyward.Core.Audit;
using Keyward.Core.Auth.Jwt;
using Keyward.Core.Policies;
using Keyward.Core.Seal;
using Keyward.Core.Secrets;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;

namespace Keyward.Core.Tests.Storage;

/// <summary>Delegates to a real store, but the next commit can be made to fail (a full disk, a lost fsync).</summary>
internal sealed class FailingCommitStore(IKeywardStore inner) : IKeywardStore
{
    private int _failNextCommit;

    public string Engine => inner.Engine;

    public void FailNextCommit() => Volatile.Write(ref _failNextCommit, 1);

    public Task OpenAsync(CancellationToken cancellationToken = default) => inner.OpenAsync(cancellationToken);

    public ValueTask<IStoreSession> ReadAsync(CancellationToken cancellationToken = default) => inner.ReadAsync(cancellationToken);

    public async ValueTask<IWriteSession> WriteAsync(CancellationToken cancellationToken = default) =>
        new Session(await inner.WriteAsync(cancellationToken), this);

    public Task PurgeDeletedDataAsync(CancellationToken cancellationToken = default) => inner.PurgeDeletedDataAsync(cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private sealed class Session(IWriteSession inner, FailingCommitStore owner) : IWriteSession
    {
        public ISealStore Seal => inner.Seal;

        public ITenantStore Tenants => inner.Tenants;

        public ITenantKeyStore TenantKeys => inner.TenantKeys;

        public ITokenStore Tokens => inner.Tokens;

        public IRoleStore Roles => inner.Roles;

        public ISecretStore Secrets => inner.Secrets;

        public IAuditStore Audit => inner.Audit;

        public Keyward.Core.Leases.ILeaseStore Leases => inner.Leases;

        public Keyward.Core.Events.IEventStore Events => inner.Events;

        public Keyward.Core.Tenants.ITenantSettingsStore TenantSettings => inner.TenantSettings;
        public IJwtIssuerStore JwtIssuers => inner.JwtIssuers;

        public Keyward.Core.Engines.IEngineConfigStore Engines => inner.Engines;

        public Keyward.Core.Wrapping.IWrapStore Wraps => inner.Wraps;

        public Keyward.Core.Budgets.IBudgetStore Budgets => inner.Budgets;

        public Task SavepointAsync(CancellationToken cancellationToken = default) => inner.SavepointAsync(cancellationToken);

        public Task RollbackToSavepointAsync(CancellationToken cancellationToken = default) => inner.RollbackToSavepointAsync(cancellationToken);

        public Task ReleaseSavepointAsync(CancellationToken cancellationToken = default) => inner.ReleaseSavepointAsync(cancellationToken);

        public Task CommitAsync(CancellationToken cancellationToken = default) =>
            Interlocked.Exchange(ref owner._failNextCommit, 0) == 1
                ? throw new IOException("disk I/O error (injected)")
                : inner.CommitAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
