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
public sealed class SecretRowCache
{
    /// <summary>Most entries kept.</summary>
    public const int MaxEntries = 20_000;

    /// <summary>Most ciphertext bytes kept; a value larger than <see cref="MaxCachedValueBytes"/> is never cached.</summary>
    public const long MaxBytes = 64L * 1024 * 1024;

    public const int MaxCachedValueBytes = 16 * 1024;

    private readonly ConcurrentDictionary<(string TenantUid, string Path, long Version), Entry> _entries = new();
    private long _generation;
    private long _bytes;
    private volatile bool _disabled;

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
    /// Stops caching for good (a store shared with other nodes: a row another node changed must not be served from
    /// here even for the moment its notification takes) and drops what is held.
    /// </summary>
    public void Disable()
    {
        _disabled = true;
        Clear();
    }

    public bool TryGet(string tenantUid, string path, long slot, out Entry entry)
    {
        if (!_disabled && _entries.TryGetValue((tenantUid, path, slot), out var found) && found.Generation == Generation)
        {
            entry = found;
            return true;
        }

        entry = null!;
        return false;
    }

    public void Add(string tenantUid, string path, long slot, (SecretMetadata Metadata, SecretVersion? Version) row, long generation)
    {
        var size = row.Version?.Ciphertext?.Length ?? 0;
        if (_disabled || size > MaxCachedValueBytes)
        {
            return;
        }

        if (_entries.Count >= MaxEntries || Interlocked.Add(ref _bytes, size) > MaxBytes)
        {
            Clear();
            Interlocked.Exchange(ref _bytes, size);
        }

        var key = (tenantUid, path, slot);
        var entry = new Entry(row, generation);
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

    /// <summary>Runs a secret mutation so that no cached row outlives it.</summary>
    public async Task<T> MutateAsync<T>(Func<Task<T>> mutation)
    {
        ArgumentNullException.ThrowIfNull(mutation);
        Invalidate();
        try
        {
            return await mutation();
        }
        finally
        {
            Invalidate();
        }
    }

    /// <summary>
    /// Makes every cached row stale. A mutation that only learns inside its transaction that it changes a secret (a
    /// counted read that rotates) calls this before its commit and again after it, as <see cref="MutateAsync{T}"/> does.
    /// </summary>
    public void Invalidate() => Interlocked.Increment(ref _generation);

    public Task MutateAsync(Func<Task> mutation) =>
        MutateAsync(async () =>
        {
            await mutation();
            return true;
        });

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

        internal Entry((SecretMetadata Metadata, SecretVersion? Version) row, long generation)
        {
            Row = row;
            Generation = generation;
        }

        public (SecretMetadata Metadata, SecretVersion? Version) Row { get; }

        internal long Generation { get; }

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
