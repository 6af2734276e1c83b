using System.Collections.Concurrent;
using Keyward.Core.Errors;
using Keyward.Core.Seal;
using Keyward.Core.Storage;
using Keyward.Crypto.Envelope;
using Keyward.Crypto.Keys;

namespace Keyward.Core.Tenants;

/// <summary>
/// The tenants' key managers: creates and rotates key-encryption-key versions (stored wrapped under the
/// root-derived wrapping key) and serves each tenant's unwrapped, read-only <see cref="KeyRing"/> from memory.
/// All rings are zeroed when the server seals and a tenant's ring when it is deleted.
/// </summary>
public sealed class TenantKeyRings : IStoreCache
{
    private readonly IKeywardStore _store;
    private readonly KeyHierarchy _keys;
    private readonly TimeProvider _time;
    /// <summary>How long a replaced ring stays usable by requests that took it before its keys are zeroed.</summary>
    private static readonly TimeSpan RetireDelay = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, Loaded> _rings = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _loading = new(1, 1);
    private long _generation;

    public TenantKeyRings(IKeywardStore store, KeyHierarchy keys, TimeProvider time)
    {
        _store = store;
        _keys = keys;
        _time = time;
        keys.Sealed += Clear;
    }

    public async ValueTask<KeyRing> GetAsync(string tenantUid, CancellationToken cancellationToken = default)
    {
        var generation = Volatile.Read(ref _generation);
        if (_rings.TryGetValue(tenantUid, out var loaded) && loaded.Generation == generation)
        {
            return loaded.Ring;
        }

        await _loading.WaitAsync(cancellationToken);
        try
        {
            if (_rings.TryGetValue(tenantUid, out loaded) && loaded.Generation == generation)
            {
                return loaded.Ring;
            }

            var root = _keys.Require();
            IReadOnlyList<TenantKey> stored;
            await using (var session = await _store.ReadOneStatementAsync(cancellationToken))
            {
                stored = await session.TenantKeys.ListAsync(tenantUid, cancellationToken);
            }

            if (stored.Count == 0)
            {
                if (loaded is not null && _rings.TryRemove(tenantUid, out _))
                {
                    _ = RetireAsync(loaded.Ring);
                }

                // Offboarded (its keys destroyed) since the caller's token was checked: the token went with it.
                throw KeywardErrors.TokenRevoked();
            }

            var keys = new Dictionary<int, SecretKey>();
            foreach (var key in stored)
            {
                keys[key.Version] = KeyWrapper.Unwrap(root.TenantKeyWrapping, key.WrappedKey, tenantUid, key.Version);
            }

            var ring = new KeyRing(keys);
            if (loaded is not null && loaded.Ring.Versions.Order().SequenceEqual(ring.Versions.Order()))
            {
                // Re-read after MarkStale and unchanged: keep the ring in use (requests may hold it), zero the copy.
                ring.Dispose();
                _rings[tenantUid] = loaded with { Generation = generation };
                return loaded.Ring;
            }

            _rings[tenantUid] = new Loaded(ring, generation);
            if (loaded is not null)
            {
                // Another node rotated the tenant's key: requests that took the old ring a moment ago may still use it.
                _ = RetireAsync(loaded.Ring);
            }

            return ring;
        }
        finally
        {
            _loading.Release();
        }
    }

    /// <summary>
    /// Every ring is read again from the store on its next use (another node may have rotated a key or deleted the
    /// tenant); a ring whose versions did not change is kept. Cheap: a counter.
    /// </summary>
    public void MarkStale() => Interlocked.Increment(ref _generation);

    /// <summary>Stale once a commit changed a tenant's key versions (a rotation, an offboarding).</summary>
    public StoreChanges Watches => StoreChanges.KeyRings;

    void IStoreCache.Invalidate() => MarkStale();

    private async Task RetireAsync(KeyRing ring)
    {
        await Task.Delay(RetireDelay, _time);
        ring.Dispose();
    }

    /// <summary>A new key version, wrapped for storage. The caller stores it and then calls <see cref="AdoptAsync"/>.</summary>
    public (TenantKey Stored, SecretKey Key) NewVersion(string tenantUid, int version)
    {
        var root = _keys.Require();
        var key = SecretKey.Generate();
        var wrapped = KeyWrapper.Wrap(root.TenantKeyWrapping, key, tenantUid, version);
        return (new TenantKey(tenantUid, version, wrapped, _time.GetUtcNow()), key);
    }

    /// <summary>After a committed rotation: the ring gains the new version as current; old versions stay readable.</summary>
    public async Task AdoptAsync(string tenantUid, int version, SecretKey key, CancellationToken cancellationToken = default)
    {
        if (!_rings.TryGetValue(tenantUid, out var loaded))
        {
            key.Dispose();
            await GetAsync(tenantUid, cancellationToken);
            return;
        }

        var ring = loaded.Ring;
        var keys = ring.Versions.ToDictionary(v => v, v => ring.TryGet(v, out var k) ? k : throw new InvalidOperationException());
        keys[version] = key;
        _rings[tenantUid] = loaded with { Ring = new KeyRing(keys) };
    }

    /// <summary>Drops and zeroes a deleted tenant's keys.</summary>
    public void Remove(string tenantUid)
    {
        if (_rings.TryRemove(tenantUid, out var loaded))
        {
            loaded.Ring.Dispose();
        }
    }

    private void Clear()
    {
        foreach (var uid in _rings.Keys)
        {
            Remove(uid);
        }
    }

    private sealed record Loaded(KeyRing Ring, long Generation);
}
