using Keyward.Core.Diagnostics;
using Keyward.Core.Hosting;
using Microsoft.Extensions.Logging;

namespace Keyward.Core.Storage;

/// <summary>
/// Whether this node can reach its store, checked in the background once a second (a read session and one indexed
/// read, bounded by <see cref="Timeout"/>), so that health answers from memory: a load balancer polling health
/// costs the store nothing, and a node whose database is gone reports it within about a second.
/// </summary>
public sealed class StoreProbe : IAsyncDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    private readonly IKeywardStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<StoreProbe> _logger;
    private readonly PeriodicLoop _loop = new();
    private volatile bool _reachable = true;

    public StoreProbe(IKeywardStore store, TimeProvider time, ILogger<StoreProbe> logger)
    {
        _store = store;
        _time = time;
        _logger = logger;
    }

    /// <summary>Whether the last check reached the store (true until the first check says otherwise).</summary>
    public bool Reachable => _reachable;

    /// <summary>Whether another node's changes reach this one (a shared store's notifications), or null for an embedded store.</summary>
    public bool? Notified => (_store as ISharedStore)?.Listening;

    public void Start() => _loop.Start(Interval, _time, CheckAsync, passFirst: true);

    /// <summary>One check now (also what the loop runs).</summary>
    public async Task<bool> CheckAsync(CancellationToken cancellationToken = default)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(Timeout);
        bool reachable;
        try
        {
            await using var session = await _store.ReadAsync(bounded.Token);
            await session.Events.LatestIdAsync(bounded.Token);
            reachable = true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            reachable = false;
        }
#pragma warning disable CA1031 // Whatever the engine throws, the answer is "not reachable"; the type is logged, never a message.
        catch (Exception error) when (error is not OperationCanceledException)
#pragma warning restore CA1031
        {
            if (_reachable)
            {
                KeywardLog.StoreUnreachable(_logger, error.GetType().Name);
            }

            reachable = false;
        }

        _reachable = reachable;
        return reachable;
    }

    public ValueTask DisposeAsync() => _loop.DisposeAsync();
}
