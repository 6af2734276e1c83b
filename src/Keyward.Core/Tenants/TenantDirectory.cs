using System.Collections.Concurrent;
using Keyward.Core.Storage;

namespace Keyward.Core.Tenants;

/// <summary>
/// A node-local cache of tenants by uid for the request path. Any state change bumps a generation, and entries
/// read under an older generation are re-read, so a lock or deletion is never hidden by the cache.
/// </summary>
public sealed class TenantDirectory : Storage.IStoreCache
{
    private readonly IKeywardStore _store;
    private readonly ConcurrentDictionary<string, (Tenant Tenant, long Generation)> _byUid = new(StringComparer.Ordinal);
    private long _generation;

    public TenantDirectory(IKeywardStore store)
    {
        _store = store;
    }

    public async ValueTask<Tenant?> GetByUidAsync(string uid, CancellationToken cancellationToken = default)
    {
        var generation = Volatile.Read(ref _generation);
        if (_byUid.TryGetValue(uid, out var entry) && entry.Generation == generation)
        {
            return entry.Tenant;
        }

        await using var session = await _store.ReadOneStatementAsync(cancellationToken);
        var tenant = await session.Tenants.GetByUidAsync(uid, cancellationToken);
        if (tenant is not null)
        {
            _byUid[uid] = (tenant, generation);
        }

        return tenant;
    }

    /// <summary>Call before and after committing any tenant state change.</summary>
    public void Invalidate() => Interlocked.Increment(ref _generation);

    /// <summary>Stale once a commit changed a tenant (its state, its lockdown epoch).</summary>
    public Storage.StoreChanges Watches => Storage.StoreChanges.Tenants;
}
