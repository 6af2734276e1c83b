using System.Collections.Concurrent;
using Keyward.Core.Seal;
using Keyward.Crypto.Envelope;

namespace Keyward.Core.Secrets;

/// <summary>
/// A node-local cache of stored secret rows — metadata and the sealed version, never a plaintext — for the read
/// path, each with the version's data key once opened (<see cref="OpenedEnvelope"/>), so repeated reads skip the
/// unwrap. Every secret mutation bumps a generation before and after its commit, and an entry read under an older
/// generation is read again from the store, so a write, delete or destroy is never hidden by the cache. Bounded in
/// entries and bytes; when full it is dropped and refilled. Opened keys are disposed when their entry is replaced
/// or dropped, when the server seals, and when a tenant is deleted.
/// </summary>
/// <remarks>
/// On a store shared with other nodes (<see cref="ValidateWithStore"/>) a local generation cannot see their writes.
/// There each entry also carries the store's secret generation it was read under
/// (<see cref="Storage.ISharedStore.ReadSecretWithGenerationAsync"/>), only entries of the newest generation seen are
/// served, and a read served from one commits its audit record only if the store's generation has not moved
/// (<see cref="Audit.AuditDraft.CachedRowGeneration"/>); if it has, the read is done again from the store. A write on
/// another node is thus read here at once, as without the cache.
/// </remarks>
public sealed class SecretRowCache : Storage.IStoreCache
{
    /// <summary>Most entries kept.</summary>
    public const int MaxEntries = 20_000;

    /// <summary>Most ciphertext bytes kept; a value larger than <see cref="MaxCachedValueBytes"/> is never cached.</summary>
    public const long MaxBytes = 64L * 1024 * 1024;

    public const int MaxCachedValueBytes = 16 * 1024;

    private readonly ConcurrentDictionary<(string TenantUid, string Path, long Version), Entry> _entries = new();
    private long _generation;
    private long _storeGeneration;
    private long _bytes;
    private volatile bool _validateWithStore;

    public SecretRowCache()
    {
    }

    public SecretRowCache(KeyHierarchy keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        keys.Sealed += Clear;
    }

    /// <summary>The generation to tag a store read with; read it before querying the store.</summary>
    public long Generation => Volatile.Read(ref _generation);

    /// <summary>
    /// The cache slot of a read: a version number, or for a read by stage a non-positive slot (current 0, previous
    /// -1, pending -2).
    /// </summary>
    public static long Slot(long? version, SecretStage stage = SecretStage.Current) => version ?? -(long)stage;

    /// <summary>
    /// For a store shared with other nodes: from now on an entry is served only with the store's secret generation it
    /// was read under, for the reader to have it checked when its audit record commits (see the remarks). Drops what
    /// is held.
    /// </summary>
    public void ValidateWithStore()
    {
        _validateWithStore = true;
        Clear();
    }

    /// <summary>Whether entries must be checked against the store's secret generation (<see cref="ValidateWithStore"/>).</summary>
    public bool ValidatesWithStore => _validateWithStore;

    public bool TryGet(string tenantUid, string path, long slot, out Entry entry)
    {
        if (_entries.TryGetValue((tenantUid, path, slot), out var found) && found.Generation == Generation
            && (!_validateWithStore || found.StoreGeneration == Volatile.Read(ref _storeGeneration)))
        {
            entry = found;
            return true;
        }

        entry = null!;
        return false;
    }

    /// <summary>
    /// Keeps a row read from the store under the local <paramref name="generation"/> (read before the store was asked)
    /// and, on a shared store, the store's <paramref name="storeGeneration"/> read with it: a newer store generation
    /// retires every entry of an older one.
    /// </summary>
    public void Add(string tenantUid, string path, long slot, (SecretMetadata Metadata, SecretVersion? Version) row, long generation, long storeGeneration = 0)
    {
        var size = row.Version?.Ciphertext?.Length ?? 0;
        if (size > MaxCachedValueBytes)
        {
            return;
        }

        if (_validateWithStore)
        {
            long newest;
            while ((newest = Volatile.Read(ref _storeGeneration)) < storeGeneration)
            {
                if (Interlocked.CompareExchange(ref _storeGeneration, storeGeneration, newest) == newest)
                {
                    // A secret changed somewhere (a tenant's may have been shredded): the older rows go now, with the
                    // data keys they opened, rather than when something replaces them.
                    Clear();
                    break;
                }
            }

            if (storeGeneration < Volatile.Read(ref _storeGeneration))
            {
                return;
            }
        }

        if (_entries.Count >= MaxEntries || Interlocked.Add(ref _bytes, size) > MaxBytes)
        {
            Clear();
            Interlocked.Exchange(ref _bytes, size);
        }

        var key = (tenantUid, path, slot);
        var entry = new Entry(row, generation, storeGeneration);
        Entry? replaced = null;
        _entries.AddOrUpdate(key, entry, (_, old) =>
        {
            replaced = old;
            return entry;
        });
        replaced?.Dispose();
    }

    /// <summary>Drops one entry (a row that failed to decrypt is not kept: the next read goes to the store).</summary>
    public void Remove(string tenantUid, string path, long slot)
    {
        if (_entries.TryRemove((tenantUid, path, slot), out var entry))
        {
            entry.Dispose();
        }
    }

    /// <summary>
    /// Drops every entry with its opened key, and makes rows being read right now stale too (another node changed the
    /// store: if it shredded a tenant, no data key of that tenant stays open here).
    /// </summary>
    public void DropAll()
    {
        Invalidate();
        Clear();
    }

    /// <summary>Drops every entry of a tenant, with its opened keys (the tenant's key material is being destroyed).</summary>
    public void RemoveTenant(string tenantUid)
    {
        foreach (var key in _entries.Keys)
        {
            if (key.TenantUid == tenantUid && _entries.TryRemove(key, out var entry))
            {
                entry.Dispose();
            }
        }
    }

    /// <summary>
    /// Makes every cached row stale. The group committer calls it before and after the commit of any batch that changed a
    /// secret or a version (<see cref="Storage.StoreChanges.SecretRows"/>), whichever operation made the change.
    /// </summary>
    public void Invalidate() => Interlocked.Increment(ref _generation);

    /// <summary>Stale once a commit changed a secret or a version (not on budget counts, lease inserts or audit records).</summary>
    public Storage.StoreChanges Watches => Storage.StoreChanges.SecretRows;

    private void Clear()
    {
        foreach (var key in _entries.Keys)
        {
            if (_entries.TryRemove(key, out var entry))
            {
                entry.Dispose();
            }
        }
    }

    /// <summary>A cached row and, once a read has opened it, that version's data key.</summary>
    public sealed class Entry : IDisposable
    {
        private OpenedEnvelope? _opened;

        internal Entry((SecretMetadata Metadata, SecretVersion? Version) row, long generation, long storeGeneration)
        {
            Row = row;
            Generation = generation;
            StoreGeneration = storeGeneration;
        }

        public (SecretMetadata Metadata, SecretVersion? Version) Row { get; }

        internal long Generation { get; }

        /// <summary>The shared store's secret generation the row was read under (0 on an embedded store).</summary>
        public long StoreGeneration { get; }

        /// <summary>This version's opened data key, opening it on first use (throws <see cref="EnvelopeException"/> if it does not authenticate).</summary>
        public OpenedEnvelope Opened(KeyRing ring, EnvelopeContext context, ReadOnlySpan<byte> payload)
        {
            if (Volatile.Read(ref _opened) is { } opened)
            {
                return opened;
            }

            var fresh = OpenedEnvelope.Open(ring, context, payload);
            var winner = Interlocked.CompareExchange(ref _opened, fresh, null);
            if (winner is not null)
            {
                fresh.Dispose();
                return winner;
            }

            return fresh;
        }

        public void Dispose() => Interlocked.Exchange(ref _opened, null)?.Dispose();
    }
}
