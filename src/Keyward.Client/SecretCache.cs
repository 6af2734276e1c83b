using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Keyward.Client.Internal;
using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>
/// An agent's local cache of current secret versions, kept honest by the server's event stream
/// (<c>GET /v1/events</c>). Owned by an <see cref="AgentSession"/> (<see cref="AgentSession.Secrets"/>).
/// </summary>
/// <remarks>
/// <para>
/// <b>Subscribe, then fetch.</b> A fresh stream starts at the newest event, so the first read (or
/// <see cref="AgentSession.PrefetchAsync"/>) starts the subscription and waits until the server has opened it — at most
/// <see cref="AgentSessionOptions.CacheOpenTimeout"/>, after which the cache runs in TTL mode until the stream opens.
/// </para>
/// <para>
/// <b>Invalidation.</b> <c>secret.written</c>, <c>secret.deleted</c> and <c>secret.rotated</c> with stage <c>current</c>
/// (or no stage) drop the path's entry at once (its buffer zeroed); <c>secret.rotated</c> with stage <c>pending</c>
/// changes nothing (a plain read still returns the current version). A <c>reset</c> drops everything.
/// <c>tenant.lockdown</c>, <c>token.revoked</c> naming this session's accessor, or a reconnect refused with 401 or 423
/// drop everything and the cache <b>refuses</b> from then on: every read goes to the server (which answers with its
/// error). Entries are not refreshed in the background: the next read fetches the new version.
/// </para>
/// <para>
/// <b>Stream down.</b> While the stream is down, an entry is served only within
/// <see cref="AgentSessionOptions.CacheFallbackTtl"/> (default 5 s) of the later of its fetch and the moment the stream
/// went down. The cache reconnects with backoff (1 s doubling to 30 s) and <c>Last-Event-ID</c>: the server replays
/// what was missed (or sends a reset), so resumed entries stay. A reconnect without an id (no event was ever received)
/// drops every entry, since what happened meanwhile cannot be known.
/// </para>
/// <para>
/// <b>Reads.</b> <see cref="TryGet"/> and the hit path of <see cref="GetAsync"/> allocate nothing and take no lock (a
/// <see cref="ConcurrentDictionary{TKey, TValue}"/> lookup). Misses for one path share one request. A fetch that raced an
/// invalidation of its path is not stored (it is retried), so once an event has been processed no read returns the
/// version it replaced. Values handed out are leases on the cache's buffers (see <see cref="SecretValue"/>).
/// </para>
/// </remarks>
public sealed class SecretCache : IAsyncDisposable
{
    private const int MaxFillAttempts = 3;

    private static readonly TimeSpan MinimumReconnectDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaximumReconnectDelay = TimeSpan.FromSeconds(30);

    private readonly SecretCacheBackend _backend;
    private readonly string _accessor;
    private readonly TimeProvider _time;
    private readonly SecretScrubber _scrubber;
    private readonly bool _enabled;
    private readonly long _fallbackTtlTicks;
    private readonly TimeSpan _openTimeout;
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Pending> _inflight = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _firstOpen = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Task? _loop;
    private long _epoch;
    private long _downSinceTicks;
    private volatile bool _live;
    private volatile bool _refusing;
    private volatile bool _subscribed;
    private volatile bool _disposed;

    internal SecretCache(SecretCacheBackend backend, string accessor, AgentSessionOptions options, SecretScrubber? scrubber = null)
    {
        _backend = backend;
        _accessor = accessor;
        _time = options.TimeProvider ?? TimeProvider.System;
        _scrubber = scrubber ?? options.Scrubber ?? SecretScrubber.Shared;
        _enabled = options.CacheEnabled;
        ArgumentOutOfRangeException.ThrowIfLessThan(options.CacheFallbackTtl, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.CacheOpenTimeout, TimeSpan.Zero);
        _fallbackTtlTicks = options.CacheFallbackTtl.Ticks;
        _openTimeout = options.CacheOpenTimeout;
    }

    /// <summary>
    /// Raised after entries were dropped (on the stream's thread): <see cref="SecretInvalidatedEventArgs.Path"/> names the
    /// path, or is null when every entry was dropped. Handlers' exceptions are swallowed; keep handlers short.
    /// </summary>
    public event EventHandler<SecretInvalidatedEventArgs>? Invalidated;

    /// <summary>Whether the event stream is open (entries are then served until an event drops them).</summary>
    public bool IsLive => _live;

    /// <summary>Whether the cache has stopped serving for good (the session was revoked or the tenant locked down).</summary>
    public bool IsRefusing => _refusing;

    /// <summary>Whether caching is on (<see cref="AgentSessionOptions.CacheEnabled"/>); when off every read goes to the server.</summary>
    public bool IsEnabled => _enabled;

    /// <summary>How many entries are held.</summary>
    public int Count => _entries.Count;

    /// <summary>
    /// The cached current version of <paramref name="path"/>, if the cache may serve it: synchronous, lock-free and
    /// allocation-free. False on a miss, an entry past its fallback TTL while the stream is down, or a refusing cache.
    /// </summary>
    public bool TryGet(string path, [NotNullWhen(true)] out SecretValue? value)
    {
        value = null;
        if (_refusing || !_entries.TryGetValue(path, out var entry))
        {
            return false;
        }

        if (!_live && _time.GetUtcNow().UtcTicks - Math.Max(entry.FetchedAtTicks, Volatile.Read(ref _downSinceTicks)) >= _fallbackTtlTicks)
        {
            return false;
        }

        var cached = entry.Value;
        if (cached.IsReleased)
        {
            return false;
        }

        value = cached;
        return true;
    }

    /// <summary>
    /// The current version of <paramref name="path"/>: from the cache when it may serve it (completing synchronously,
    /// without allocating), else from the server (and then cached). A refusing cache always asks the server.
    /// </summary>
    /// <exception cref="KeywardRequestFailedException">The server refused the read (404 <c>secret_not_found</c>, 401 for a revoked session, …).</exception>
    public ValueTask<SecretValue> GetAsync(string path, CancellationToken cancellationToken = default) =>
        TryGet(path, out var value) ? new ValueTask<SecretValue>(value) : new ValueTask<SecretValue>(MissAsync(path, cancellationToken));

    /// <summary>
    /// A given version of <paramref name="path"/>, from the server (pinned versions are not cached). The value belongs to
    /// the caller: the cache never zeroes it.
    /// </summary>
    public async Task<SecretValue> GetVersionAsync(string path, long version, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var secret = await _backend.Fetch(path, version, cancellationToken).ConfigureAwait(false);
        return Materialize(secret);
    }

    /// <summary>
    /// Warms the cache with every secret this session's rules let it read: each literal rule path is read; a glob
    /// (<c>*</c>, <c>**</c>) cannot be read by name, so the names under its literal prefix are listed
    /// (<c>GET /v1/secrets?prefix=</c>) and those the glob matches are read — when the token may not list, the glob is
    /// skipped. Paths that do not exist (404) or are refused (403) are skipped. Returns how many entries were loaded.
    /// </summary>
    public async Task<int> PrefetchAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var rules = await _backend.Rules(cancellationToken).ConfigureAwait(false);
        var paths = new List<string>();
        foreach (var rule in rules)
        {
            if (!rule.Capabilities.Contains("read", StringComparer.Ordinal))
            {
                continue;
            }

            if (!SecretGlob.HasWildcard(rule.Path))
            {
                paths.Add(rule.Path);
                continue;
            }

            IReadOnlyList<string> names;
            try
            {
                names = await _backend.List(SecretGlob.LiteralPrefix(rule.Path), cancellationToken).ConfigureAwait(false);
            }
            catch (KeywardRequestFailedException refused) when (refused.Status is 403 or 404)
            {
                continue;
            }

            paths.AddRange(names.Where(name => SecretGlob.Matches(rule.Path, name)));
        }

        var loaded = 0;
        foreach (var path in paths.Distinct(StringComparer.Ordinal))
        {
            try
            {
                await GetAsync(path, cancellationToken).ConfigureAwait(false);
                loaded++;
            }
            catch (KeywardRequestFailedException skipped) when (skipped.Status is 403 or 404)
            {
                // Declared but not written yet (or deleted, or not readable after all): nothing to warm.
            }
        }

        return loaded;
    }

    /// <summary>Stops the subscription and drops (zeroes) every entry.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _stopping.CancelAsync().ConfigureAwait(false);
        Task? loop;
        lock (_gate)
        {
            loop = _loop;
        }

        if (loop is not null)
        {
            try
            {
                await loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The stop itself.
            }
        }

        _live = false;
        DropAll(SecretInvalidationReason.Disposed, refuse: false);
        _stopping.Dispose();
    }

    /// <summary>The session was revoked by its owner: drop everything and stop serving.</summary>
    internal void Refuse(SecretInvalidationReason reason) => DropAll(reason, refuse: true);

    private async Task<SecretValue> MissAsync(string path, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_enabled || _refusing)
        {
            return await FetchUncachedAsync(path, cancellationToken).ConfigureAwait(false);
        }

        if (!_subscribed)
        {
            await WaitForStreamAsync(cancellationToken).ConfigureAwait(false);
            if (TryGet(path, out var filled))
            {
                return filled;
            }
        }

        Pending? pending;
        var created = false;
        lock (_gate)
        {
            if (!_inflight.TryGetValue(path, out pending))
            {
                pending = new Pending(_epoch);
                _inflight[path] = pending;
                created = true;
            }
        }

        if (created)
        {
            _ = FillAsync(path, pending);
        }

        return await pending.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<SecretValue> FetchUncachedAsync(string path, CancellationToken cancellationToken) =>
        Materialize(await _backend.Fetch(path, null, cancellationToken).ConfigureAwait(false));

    private async Task FillAsync(string path, Pending pending)
    {
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var value = Materialize(await _backend.Fetch(path, null, _stopping.Token).ConfigureAwait(false));
                lock (_gate)
                {
                    var fresh = !pending.Stale && pending.Epoch == _epoch;
                    if (!fresh && attempt < MaxFillAttempts && !_refusing && !_disposed)
                    {
                        // The path changed while this read was in flight: what came back may be the old version.
                        pending.Stale = false;
                        pending.Epoch = _epoch;
                        continue;
                    }

                    _inflight.Remove(path);
                    if (fresh && !_refusing && !_disposed)
                    {
                        if (_entries.TryGetValue(path, out var replaced))
                        {
                            replaced.Value.Release();
                        }

                        _entries[path] = new Entry(value, _time.GetUtcNow().UtcTicks);
                    }
                }

                // Not stored (refusing, or still racing after the last attempt): the value is the caller's, uncached.
                pending.Completion.TrySetResult(value);
                return;
            }
        }
        catch (Exception error)
        {
            lock (_gate)
            {
                _inflight.Remove(path);
            }

            pending.Completion.TrySetException(error);
        }
    }

    private SecretValue Materialize(KeywardSecret secret)
    {
        _scrubber.RegisterJson(secret.Data);
        return new SecretValue(JsonSerializer.SerializeToUtf8Bytes(secret.Data), secret.Path, secret.Version, secret.Epoch);
    }

    private async Task WaitForStreamAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _loop ??= Task.Run(RunAsync);
        }

        try
        {
            await _firstOpen.Task.WaitAsync(_openTimeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // TTL mode until the stream opens: entries live CacheFallbackTtl from their fetch.
        }

        _subscribed = true;
    }

    private async Task RunAsync()
    {
        long? lastEventId = null;
        var delay = MinimumReconnectDelay;
        var stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var resumeFrom = lastEventId;
                await foreach (var e in _backend.Events(resumeFrom, () => Opened(resumeFrom), stopping).ConfigureAwait(false))
                {
                    delay = MinimumReconnectDelay;
                    if (e.Id is { } id)
                    {
                        lastEventId = id;
                    }

                    Handle(e);
                    if (_refusing)
                    {
                        _live = false;
                        return;
                    }
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (KeywardRequestFailedException refused) when (refused.Status is 401 or 423)
            {
                // The session token no longer authenticates (revoked, expired) or the tenant is locked down.
                _live = false;
                DropAll(refused.Status == 423 ? SecretInvalidationReason.Lockdown : SecretInvalidationReason.Revoked, refuse: true);
                return;
            }
#pragma warning disable CA1031 // Anything else (no answer, 429, 5xx, a cut connection) is transient: the loop must outlive it.
            catch (Exception)
#pragma warning restore CA1031
            {
                // Serve on the fallback TTL and reconnect.
            }

            GoDown();
            try
            {
                await Task.Delay(delay, _time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = delay * 2 > MaximumReconnectDelay ? MaximumReconnectDelay : delay * 2;
        }
    }

    private void Opened(long? resumedFrom)
    {
        if (resumedFrom is null)
        {
            // Nothing to resume from: whatever happened before this moment is unknown, so nothing cached can be trusted.
            DropAll(SecretInvalidationReason.Resubscribed, refuse: false, quietWhenEmpty: true);
        }

        _live = true;
        _firstOpen.TrySetResult();
    }

    private void GoDown()
    {
        if (_live)
        {
            Volatile.Write(ref _downSinceTicks, _time.GetUtcNow().UtcTicks);
            _live = false;
        }
    }

    private void Handle(KeywardEvent e)
    {
        switch (e.Type)
        {
            case KeywardEvent.ResetType:
                DropAll(SecretInvalidationReason.Reset, refuse: false);
                break;
            case "secret.written":
                Invalidate(e, SecretInvalidationReason.Written);
                break;
            case "secret.deleted":
                Invalidate(e, SecretInvalidationReason.Deleted);
                break;
            case "secret.rotated":
                // A staged (pending) version does not change what a plain read returns.
                if (String(e.Data, "stage") is null or SecretStages.Current)
                {
                    Invalidate(e, SecretInvalidationReason.Rotated);
                }

                break;
            case "token.revoked":
                // The server sends revocations of this session's subtree only: a child's revocation changes nothing here.
                if (String(e.Data, "accessor") == _accessor)
                {
                    DropAll(SecretInvalidationReason.Revoked, refuse: true);
                }

                break;
            case "tenant.lockdown":
                DropAll(SecretInvalidationReason.Lockdown, refuse: true);
                break;
            default:
                break;
        }
    }

    private void Invalidate(KeywardEvent e, SecretInvalidationReason reason)
    {
        if (String(e.Data, "path") is not { } path)
        {
            // A secret event without a path cannot be placed: be safe.
            DropAll(reason, refuse: false);
            return;
        }

        lock (_gate)
        {
            if (_entries.TryRemove(path, out var removed))
            {
                removed.Value.Release();
            }

            if (_inflight.TryGetValue(path, out var pending))
            {
                pending.Stale = true;
            }
        }

        Raise(path, reason);
    }

    private void DropAll(SecretInvalidationReason reason, bool refuse, bool quietWhenEmpty = false)
    {
        bool dropped;
        lock (_gate)
        {
            if (refuse)
            {
                _refusing = true;
            }

            _epoch++;
            dropped = !_entries.IsEmpty || _inflight.Count > 0;
            foreach (var pending in _inflight.Values)
            {
                pending.Stale = true;
            }

            foreach (var entry in _entries)
            {
                entry.Value.Value.Release();
            }

            _entries.Clear();
        }

        if (dropped || !quietWhenEmpty)
        {
            Raise(null, reason);
        }
    }

    private void Raise(string? path, SecretInvalidationReason reason) =>
        EventHandlers.RaiseEach(Invalidated, this, new SecretInvalidatedEventArgs(path, reason));

    private static string? String(JsonElement data, string name) =>
        data.ValueKind == JsonValueKind.Object && data.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private sealed class Entry(SecretValue value, long fetchedAtTicks)
    {
        public SecretValue Value { get; } = value;

        public long FetchedAtTicks { get; } = fetchedAtTicks;
    }

    private sealed class Pending(long epoch)
    {
        public TaskCompletionSource<SecretValue> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long Epoch { get; set; } = epoch;

        public bool Stale { get; set; }
    }
}
