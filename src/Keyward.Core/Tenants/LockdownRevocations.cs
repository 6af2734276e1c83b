using System.Collections.Concurrent;
using Keyward.Core.Leases;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;

namespace Keyward.Core.Tenants;

/// <summary>
/// After a lockdown has set the tenant's revocation epoch (one row, so the kill switch takes milliseconds whatever
/// the tenant's size), marks the epoch's tokens and leases revoked row by row, in bounded batches that each commit
/// on their own so the writer keeps serving others. Leases of engines with clean-up outside Keyward become pending
/// here. Started right after the lockdown commits, resumed by the sweeper after a restart, and finished before an
/// unlock lets the tenant in again.
/// </summary>
public sealed class LockdownRevocations
{
    public const int BatchSize = 5000;

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly LeaseEngines _engines;
    private readonly ConcurrentDictionary<string, Lazy<Task>> _running = new(StringComparer.Ordinal);

    public LockdownRevocations(IKeywardStore store, GroupCommitter committer, LeaseEngines engines)
    {
        _store = store;
        _committer = committer;
        _engines = engines;
    }

    /// <summary>Marks the rows of the tenant's epoch; joins a run already going for the tenant.</summary>
    public Task MaterializeAsync(string tenantUid)
    {
        var run = _running.GetOrAdd(tenantUid, uid => new Lazy<Task>(() => RunAsync(uid)));
        return run.Value;
    }

    /// <summary>Resumes every tenant whose epoch still has rows to mark (after a restart).</summary>
    public async Task ResumePendingAsync()
    {
        IReadOnlyList<Tenant> pending;
        await using (var session = await _store.ReadAsync())
        {
            pending = await session.Tenants.ListRevocationPendingAsync();
        }

        foreach (var tenant in pending)
        {
            await MaterializeAsync(tenant.Uid);
        }
    }

    private async Task RunAsync(string tenantUid)
    {
        try
        {
            while (true)
            {
                var done = await _committer.ExecuteAsync(null, async session =>
                {
                    var tenant = await session.Tenants.GetByUidAsync(tenantUid);
                    if (tenant?.RevokedBefore is not { } epoch || !tenant.RevocationPending)
                    {
                        return true;
                    }

                    var tokens = await session.Tokens.RevokeIssuedBeforeAsync(tenantUid, epoch, RevocationReasons.Lockdown, BatchSize);
                    var leases = await session.Leases.RevokeIssuedBeforeAsync(tenantUid, epoch, _engines.External, BatchSize);
                    if (tokens == 0 && leases == 0)
                    {
                        await session.Tenants.ClearRevocationPendingAsync(tenantUid);
                        return true;
                    }

                    return false;
                });
                if (done)
                {
                    // Records cached before their rows were marked are re-read: the commits that marked them dropped the
                    // token cache (the unlock commits after this; until then the tenant answers 423 to all of them).
                    return;
                }
            }
        }
        finally
        {
            _running.TryRemove(tenantUid, out _);
        }
    }
}
