using System.Collections.Concurrent;
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
public sealed class TenantKeyRings
{
    private readonly IKeywardStore _store;
    private readonly KeyHierarchy _keys;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, KeyRing> _rings = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _loading = new(1, 1);

    public TenantKeyRings(IKeywardStore store, KeyHierarchy keys, TimeProvider time)
    {
        _store = store;
        _keys = keys;
        _time = time;
        keys.Sealed += Clear;
    }

    public async ValueTask<KeyRing> GetAsync(string tenantUid, CancellationToken cancellationToken = default)
    {
        if (_rings.TryGetValue(tenantUid, out var ring))
        {
            return ring;
        }

        await _loading.WaitAsync(cancellationToken);
        try
        {
            if (_rings.TryGetValue(tenantUid, out ring))
            {
                return ring;
            }

            var root = _keys.Require();
            IReadOnlyList<TenantKey> stored;
            await using (var session = await _store.ReadAsync(cancellationToken))
            {
                stored = await session.TenantKeys.ListAsync(tenantUid, cancellationToken);
            }

            if (stored.Count == 0)
            {
                throw new InvalidOperationException($"Tenant {tenantUid} has no key material (deleted).");
            }

            var keys = new Dictionary<int, SecretKey>();
            foreach (var key in stored)
            {
                keys[key.Version] = KeyWrapper.Unwrap(root.TenantKeyWrapping, key.WrappedKey, tenantUid, key.Version);
            }

            ring = new KeyRing(keys);
            _rings[tenantUid] = ring;
            return ring;
        }
        finally
        {
            _loading.Release();
        }
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
        if (!_rings.TryGetValue(tenantUid, out var ring))
        {
            key.Dispose();
            await GetAsync(tenantUid, cancellationToken);
            return;
        }

        var keys = ring.Versions.ToDictionary(v => v, v => ring.TryGet(v, out var k) ? k : throw new InvalidOperationException());
        keys[version] = key;
        _rings[tenantUid] = new KeyRing(keys);
    }

    /// <summary>Drops and zeroes a deleted tenant's keys.</summary>
    public void Remove(string tenantUid)
    {
        if (_rings.TryRemove(tenantUid, out var ring))
        {
            ring.Dispose();
        }
    }

    private void Clear()
    {
        foreach (var uid in _rings.Keys)
        {
            Remove(uid);
        }
    }
}
