using Keyward.Core.Events;
using Keyward.Core.Hosting;
using Keyward.Core.Secrets;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;

namespace Keyward.Core.Storage;

/// <summary>
/// Keeps this node's caches honest when other nodes write to the same store (<see cref="ISharedStore"/>); does
/// nothing on an embedded store. A change reported by the store drops every cache at once (tokens, tenants, key
/// rings, secret rows) and wakes the event streams; a read answered from a cached secret row commits only if the
/// store's secret generation has not moved since the row was read, and runs again from the store otherwise
/// (<see cref="SecretRowCache.ValidateWithStore"/>), so a value written on another node is read here at once, whatever
/// the notifications do; and, so that a lost notification can never keep a revoked token or a locked tenant alive
/// longer, cached tokens and tenants are dropped every <see cref="MaxStaleness"/> whatever the notifications say.
/// </summary>
public sealed class NodeCoherence : IAsyncDisposable
{
    /// <summary>The longest a cached token or tenant is trusted without a notification.</summary>
    public static readonly TimeSpan MaxStaleness = TimeSpan.FromSeconds(1);

    private readonly ISharedStore? _store;
    private readonly TokenService _tokens;
    private readonly TenantDirectory _tenants;
    private readonly TenantKeyRings _rings;
    private readonly SecretRowCache _rows;
    private readonly EventStream _events;
    private readonly TimeProvider _time;
    private readonly PeriodicLoop _ticker = new();
    private bool _started;
    private long _remoteChanges;

    public NodeCoherence(IKeywardStore store, TokenService tokens, TenantDirectory tenants, TenantKeyRings rings, SecretRowCache rows, EventStream events, TimeProvider time)
    {
        _store = store as ISharedStore;
        _tokens = tokens;
        _tenants = tenants;
        _rings = rings;
        _rows = rows;
        _events = events;
        _time = time;
    }

    /// <summary>Whether other nodes share the store.</summary>
    public bool Shared => _store is not null;

    /// <summary>How many changes from other nodes (or interruptions of their notifications) were applied.</summary>
    public long RemoteChanges => Interlocked.Read(ref _remoteChanges);

    /// <summary>Starts following the store (once, before serving).</summary>
    public void Start()
    {
        if (_store is null || _started)
        {
            return;
        }

        _started = true;
        _rows.ValidateWithStore();
        _store.ChangedElsewhere += DropAll;
        _ticker.Start(MaxStaleness, _time, _ =>
        {
            _tokens.InvalidateCache();
            _tenants.Invalidate();
            _rings.MarkStale();
            return Task.CompletedTask;
        });
    }

    /// <summary>Another node committed: nothing cached may hide it.</summary>
    private void DropAll()
    {
        Interlocked.Increment(ref _remoteChanges);
        _tokens.InvalidateCache();
        _tenants.Invalidate();
        _rings.MarkStale();
        _rows.DropAll();
        _events.WakeForRemoteChange();
    }

    public async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            _store.ChangedElsewhere -= DropAll;
        }

        await _ticker.DisposeAsync();
    }
}
