using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Keyward.Core.Agents;
using Keyward.Core.Errors;
using Keyward.Core.Policies;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;

namespace Keyward.Core.Events;

/// <summary>One item of an event stream: an event, or a reset telling the subscriber to drop its whole cache.</summary>
public readonly record struct StreamItem(EventRecord? Event, bool Reset);

/// <summary>Where a stream starts: after event <see cref="Position"/>, with a reset first if events were missed for good.</summary>
public readonly record struct StreamStart(long Position, bool Reset);

/// <summary>
/// Serves a tenant's event table to a subscriber (<c>GET /v1/events</c>), with API.md's visibility: admin tokens see
/// every event of their tenant; other tokens see <c>secret.*</c> on paths where they hold read, use or list,
/// revocations in their own subtree, and <c>tenant.lockdown</c>. A subscriber resuming with <c>Last-Event-ID</c> gets
/// everything after it that is still retained (<see cref="Leases.Sweeper.EventRetention"/>), or a reset if some of it
/// was pruned. The stream re-checks its token at least every second and ends when the token is revoked or expires
/// or the tenant is locked down. It queries the event table when this node has committed an event past its position
/// (<see cref="GroupCommitter.LatestEventId"/>) and at least every second otherwise.
/// </summary>
public sealed class EventStream
{
    public const int MaxStreamsPerToken = 8;

    public const int PageSize = 200;

    /// <summary>How long a stream waits for a commit before re-checking its token (and sending a keep-alive).</summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(1);

    private readonly IKeywardStore _store;
    private readonly TokenService _tokens;
    private readonly GroupCommitter _committer;
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);
    private TaskCompletionSource _committed = NewSignal();
    private readonly ConcurrentDictionary<(string Tenant, long After, long Committed, long Remote), Lazy<Task<IReadOnlyList<EventRecord>>>> _pages = new();
    private long _remoteChanges;
    private long _pageReads;
    private long _pageJoins;

    public EventStream(IKeywardStore store, TokenService tokens, GroupCommitter committer)
    {
        _store = store;
        _tokens = tokens;
        _committer = committer;
        committer.Committed += () => Interlocked.Exchange(ref _committed, NewSignal()).TrySetResult();
    }

    /// <summary>Reads of the event table by streams since start, and requests that joined one already in flight instead.</summary>
    public (long Reads, long Joined) PageStats => (Interlocked.Read(ref _pageReads), Interlocked.Read(ref _pageJoins));

    /// <summary>Another node committed something: every stream reads the event table now.</summary>
    public void WakeForRemoteChange()
    {
        Interlocked.Increment(ref _remoteChanges);
        Interlocked.Exchange(ref _committed, NewSignal()).TrySetResult();
    }

    /// <summary>Counts a stream against its token's limit (429 beyond it); dispose to release.</summary>
    public IDisposable Open(Principal caller)
    {
        var accessor = caller.Token.Accessor;
        if (_open.AddOrUpdate(accessor, 1, (_, n) => n + 1) > MaxStreamsPerToken)
        {
            Release(accessor);
            throw KeywardErrors.TooManyStreams(MaxStreamsPerToken);
        }

        return new Lease(this, accessor);
    }

    /// <summary>
    /// Where a stream starts, decided before its response begins (so nothing committed after the subscriber saw the
    /// response open can be skipped): without <paramref name="lastEventId"/> at the newest event (only what comes
    /// next); with it, right after it — or at the newest event with a reset first when something after it was pruned.
    /// </summary>
    public async Task<StreamStart> StartAsync(long? lastEventId, CancellationToken cancellationToken = default)
    {
        await using var session = await _store.ReadAsync(cancellationToken);
        var latest = await session.Events.LatestIdAsync(cancellationToken);
        var oldest = await session.Events.OldestIdAsync(cancellationToken);
        if (lastEventId is not { } resumeAfter)
        {
            return new StreamStart(latest, Reset: false);
        }

        // Something after the client's position was pruned (or the id is not one of ours): start over.
        var missed = resumeAfter > latest || (oldest is { } o ? resumeAfter + 1 < o : resumeAfter < latest);
        return missed ? new StreamStart(latest, Reset: true) : new StreamStart(resumeAfter, Reset: false);
    }

    /// <summary>The stream's items from <paramref name="start"/>. Ends (without an error) when the presented token no longer authenticates.</summary>
    public async IAsyncEnumerable<StreamItem> ReadAsync(
        Principal caller, string token, string prefix, StreamStart start, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var tenant = caller.RequireTenant();
        var position = start.Position;
        if (start.Reset)
        {
            yield return new StreamItem(null, Reset: true);
        }

        // Query when this node committed an event past the stream's position, and at least every RecheckInterval (the
        // token check, and events committed by other nodes sharing the store). A commit of audit records alone — one
        // per group of reads — wakes the stream but costs it nothing: with a thousand streams open, a query each per
        // commit would starve the reads themselves.
        var due = true;
        var remoteSeen = -1L;
        while (!cancellationToken.IsCancellationRequested)
        {
            var signal = Volatile.Read(ref _committed).Task;
            var committedBefore = _committer.LatestEventId;
            var remote = Interlocked.Read(ref _remoteChanges);
            if (due || committedBefore > position || remote != remoteSeen)
            {
                remoteSeen = remote;
                var page = await PageAsync(tenant.Uid, position, (committedBefore, remote), shared: !due, cancellationToken);
                var visible = new List<EventRecord>();
                IStoreSession? session = null;
                try
                {
                    foreach (var record in page)
                    {
                        if (await IsVisibleAsync(async () => session ??= await _store.ReadAsync(cancellationToken), caller, prefix, record))
                        {
                            visible.Add(record);
                        }
                    }
                }
                finally
                {
                    if (session is not null)
                    {
                        await session.DisposeAsync();
                    }
                }

                foreach (var record in visible)
                {
                    yield return new StreamItem(record, Reset: false);
                    if (record.Type == EventTypes.TenantLockdown)
                    {
                        yield break;
                    }
                }

                if (page.Count > 0)
                {
                    position = page[^1].Id;
                }

                if (page.Count == PageSize)
                {
                    due = true;
                    continue;
                }

                // Re-checked after every query: a revocation is a commit with an event, so its stream ends at once.
                if (!await StillValidAsync(token, cancellationToken))
                {
                    yield break;
                }

                // Other tenants' events move the id too: without this, every later commit would re-query. Everything up
                // to committedBefore was durable before this query began, so the query saw all of it.
                position = Math.Max(position, committedBefore);
            }

            due = await Task.WhenAny(signal, Task.Delay(RecheckInterval, cancellationToken)) != signal;
        }
    }

    /// <summary>
    /// The tenant's events after <paramref name="after"/>. Woken by the same commit, the streams of one tenant at the
    /// same position ask for the same page at once: with <paramref name="shared"/> they join one read of the table
    /// (single flight — the entry is dropped as soon as its read completes, so a later request always reads again).
    /// Joining is safe: a request joins only a read begun under the same newest-committed id and remote-change count,
    /// and any commit that read could have missed moves one of them and wakes the stream again. A stream's
    /// once-a-second poll never joins (it must see what other nodes committed without a notification).
    /// </summary>
    private Task<IReadOnlyList<EventRecord>> PageAsync(string tenantUid, long after, (long Committed, long Remote) seen, bool shared, CancellationToken cancellationToken)
    {
        if (!shared)
        {
            return ReadPageAsync(tenantUid, after, cancellationToken);
        }

        var key = (tenantUid, after, seen.Committed, seen.Remote);
        var created = new Lazy<Task<IReadOnlyList<EventRecord>>>(() => ReadPageAsync(tenantUid, after, CancellationToken.None));
        var flight = _pages.GetOrAdd(key, created);
        if (!ReferenceEquals(flight, created))
        {
            Interlocked.Increment(ref _pageJoins);
        }
        else
        {
            _ = flight.Value.ContinueWith(_ => _pages.TryRemove(new KeyValuePair<(string, long, long, long), Lazy<Task<IReadOnlyList<EventRecord>>>>(key, created)), TaskScheduler.Default);
        }

        return flight.Value.WaitAsync(cancellationToken);
    }

    private async Task<IReadOnlyList<EventRecord>> ReadPageAsync(string tenantUid, long after, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _pageReads);
        await using var session = await _store.ReadAsync(cancellationToken);
        return await session.Events.ListAsync(tenantUid, after, PageSize, cancellationToken);
    }

    private async Task<bool> StillValidAsync(string token, CancellationToken cancellationToken)
    {
        try
        {
            await _tokens.AuthenticateAsync(token, cancellationToken);
            return true;
        }
        catch (KeywardException)
        {
            return false;
        }
    }

    /// <summary>Whether <paramref name="caller"/> sees <paramref name="record"/>; a store session is opened only for revocations of others.</summary>
    private static async Task<bool> IsVisibleAsync(Func<Task<IStoreSession>> session, Principal caller, string prefix, EventRecord record)
    {
        if (record.Path is { } path && prefix.Length > 0 && !Validation.SecretPath.IsUnder(path, prefix))
        {
            return false;
        }

        if (caller.Kind == TokenKind.Admin)
        {
            return true;
        }

        switch (record.Type)
        {
            case EventTypes.TenantLockdown:
                return true;
            case EventTypes.SecretWritten or EventTypes.SecretRotated or EventTypes.SecretDeleted:
                return record.Path is { } p && (caller.Can(p, Capability.Read) || caller.Can(p, Capability.Use) || caller.Can(p, Capability.List));
            case EventTypes.TokenRevoked or EventTypes.LeaseRevoked:
                // Revocations in the caller's own subtree: the subject is the caller or lies below it.
                if (record.SubjectAccessor is not { } subject)
                {
                    return false;
                }

                if (subject == caller.Token.Accessor)
                {
                    return true;
                }

                var store = await session();
                return await store.Tokens.GetByAccessorAsync(subject) is { } token && await TokenTree.IsWithinAsync(store, token, caller.Token.Accessor);
            default:
                return false;
        }
    }

    private void Release(string accessor)
    {
        if (_open.AddOrUpdate(accessor, 0, (_, n) => n - 1) <= 0)
        {
            _open.TryRemove(new KeyValuePair<string, int>(accessor, 0));
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class Lease(EventStream owner, string accessor) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Release(accessor);
            }
        }
    }
}
