using System.Diagnostics;
using System.Globalization;
using Keyward.Client;
using Keyward.Client.Models;

namespace Keyward.Benchmarks.Propagation;

/// <summary>
/// <c>bench/run propagation</c>: N agent sessions (each its own token, <see cref="SecretCache"/> and event stream,
/// all in this process, over loopback) hold one secret in their caches; an admin stages a new version and promotes
/// it; each cache's <see cref="SecretCache.Invalidated"/> for that path is timed from the moment the promote call
/// returned. Repeated for several rounds; every cache must drop the old value within the deadline, or the run fails.
/// </summary>
internal sealed class PropagationBenchmark : IAsyncDisposable
{
    private const string Tenant = "propagation";
    private const string Role = "bench";
    private const string SecretPath = "apps/rotating/api-key";

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly HttpClient _http;
    private readonly KeywardClient _root;
    private readonly List<AgentSession> _sessions = [];
    private long[] _dropped = [];
    private long _armedAt = long.MaxValue;
    private int _remaining;
    private TaskCompletionSource _allDropped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private KeywardClient? _admin;

    public PropagationBenchmark(Uri address, string rootToken)
    {
        // One connection pool for every session: each event stream holds one connection of its own.
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(10), PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        Address = address;
        _root = Client(rootToken);
    }

    public Uri Address { get; }

    /// <summary>A tenant, an admin and an orchestrator token, a role reading <c>apps/**</c>, the secret, and <paramref name="subscribers"/> sessions whose caches hold it with a live stream.</summary>
    public async Task SetUpAsync(int subscribers, int concurrency)
    {
        await _root.CreateTenantAsync(Tenant);
        _admin = Client((await _root.CreateTenantTokenAsync(Tenant, TenantTokenKind.Admin, TimeSpan.FromHours(4))).Token);
        using var orchestrator = Client((await _root.CreateTenantTokenAsync(Tenant, TenantTokenKind.Orchestrator, TimeSpan.FromHours(4))).Token);
        await _admin.PutRoleAsync(Role, [new RoleRule("apps/**", ["read"])], TimeSpan.FromHours(4));
        await _admin.PutSecretAsync(SecretPath, new Dictionary<string, string> { ["key"] = NewValue() });

        var started = Stopwatch.GetTimestamp();
        var sessions = new AgentSession[subscribers];
        var options = new AgentSessionOptions { RevokeOnDispose = false, Scrubber = new SecretScrubber() };
        await Parallel.ForAsync(0, subscribers, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (i, ct) =>
        {
            var bootstrap = await orchestrator.BootstrapAgentAsync($"agent-{i}", "bench-run", Role, TimeSpan.FromHours(2), cancellationToken: ct);
            var session = await AgentSession.ExchangeAsync(new KeywardClientOptions { Address = Address, HttpClient = _http }, bootstrap.BootstrapToken, options, ct);
            var index = i;
            session.Secrets.Invalidated += (_, e) => OnInvalidated(index, e);
            sessions[i] = session;
        });
        _sessions.AddRange(sessions);
        _dropped = new long[subscribers];
        Log($"{subscribers} agent sessions in {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s");

        started = Stopwatch.GetTimestamp();
        await FillAsync(expectedVersion: null, concurrency);
        var notLive = _sessions.Count(s => !s.Secrets.IsLive);
        if (notLive > 0)
        {
            throw new InvalidOperationException($"{notLive} of {subscribers} caches have no open event stream after their first read");
        }

        Log($"{subscribers} caches hold {SecretPath} with a live event stream ({Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s)");
    }

    /// <summary>One round: refill every cache, stage a new version (no cache may drop it), promote it, time every drop.</summary>
    public async Task<Round> RoundAsync(int concurrency)
    {
        var admin = _admin ?? throw new InvalidOperationException("SetUpAsync first");
        var current = await admin.GetSecretAsync(SecretPath);
        var misses = _sessions.Count(s => !s.Secrets.TryGet(SecretPath, out _));
        var refilling = Stopwatch.GetTimestamp();
        await FillAsync(current.Version, concurrency);
        var refill = (misses, Stopwatch.GetElapsedTime(refilling));

        Array.Clear(_dropped);
        _allDropped = new(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _remaining, _sessions.Count);
        Volatile.Write(ref _armedAt, Stopwatch.GetTimestamp());

        var staged = await admin.RotateSecretAsync(SecretPath, new Dictionary<string, string> { ["key"] = NewValue() });
        // Let the pending event reach every stream first: it must change nothing, and its delivery is not the
        // promotion's.
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        var early = _dropped.Count(d => Volatile.Read(ref d) != 0);
        if (early > 0)
        {
            throw new InvalidOperationException($"{early} caches dropped {SecretPath} on the pending stage (before any promotion)");
        }

        var called = Stopwatch.GetTimestamp();
        var promotion = await admin.PromoteSecretAsync(SecretPath, staged.Version);
        var returned = Stopwatch.GetTimestamp();
        if (promotion.Version != staged.Version)
        {
            throw new InvalidOperationException($"promoted version {promotion.Version}, staged {staged.Version}");
        }

        if (await Task.WhenAny(_allDropped.Task, Task.Delay(Deadline)) != _allDropped.Task)
        {
            throw new InvalidOperationException($"{Volatile.Read(ref _remaining)} of {_sessions.Count} caches still held the old value {Deadline.TotalSeconds:F0} s after the promote returned");
        }

        Volatile.Write(ref _armedAt, long.MaxValue);
        var stillHeld = _sessions.Count(s => s.Secrets.TryGet(SecretPath, out _));
        if (stillHeld > 0)
        {
            throw new InvalidOperationException($"{stillHeld} caches still serve {SecretPath} after their invalidation");
        }

        var fromReturn = new double[_dropped.Length];
        var fromCall = new double[_dropped.Length];
        for (var i = 0; i < _dropped.Length; i++)
        {
            // A stream may deliver the event before the promote's HTTP response arrives: that is 0 ms after the return.
            fromReturn[i] = Math.Max(0, Stopwatch.GetElapsedTime(returned, _dropped[i]).TotalMilliseconds);
            fromCall[i] = Stopwatch.GetElapsedTime(called, _dropped[i]).TotalMilliseconds;
        }

        return new Round(fromReturn, fromCall, Stopwatch.GetElapsedTime(called, returned).TotalMilliseconds, promotion.Epoch, refill);
    }

    /// <summary>The server's event-stream read counters (how many stream requests shared one read of the event table).</summary>
    public async Task<string> StreamReadsAsync()
    {
        var metrics = await _root.GetMetricsAsync();
        var lines = metrics.Split('\n').Where(l => l.StartsWith("keyward_event_stream_", StringComparison.Ordinal));
        return string.Join(", ", lines);
    }

    private void OnInvalidated(int index, SecretInvalidatedEventArgs e)
    {
        var now = Stopwatch.GetTimestamp();
        if (now < Volatile.Read(ref _armedAt) || (e.Path is not null && e.Path != SecretPath))
        {
            return;
        }

        if (e.Reason is not (SecretInvalidationReason.Rotated or SecretInvalidationReason.Written))
        {
            // A reconnect or a reset also drops the value, but it is not the event's propagation: the round then fails.
            Log($"cache {index} dropped its entries for another reason: {e.Reason}");
            return;
        }

        if (Interlocked.CompareExchange(ref _dropped[index], now, 0) != 0)
        {
            return;
        }

        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            _allDropped.TrySetResult();
        }
    }

    private async Task FillAsync(long? expectedVersion, int concurrency)
    {
        await Parallel.ForEachAsync(_sessions, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (session, ct) =>
        {
            var value = await session.Secrets.GetAsync(SecretPath, ct);
            if (expectedVersion is { } expected && value.Version != expected)
            {
                throw new InvalidOperationException($"a cache read version {value.Version}, the current is {expected}");
            }
        });
    }

    private KeywardClient Client(string token) => new(new KeywardClientOptions { Address = Address, Token = token, HttpClient = _http });

    private static string NewValue() => "bench-" + Guid.NewGuid().ToString("N");

    private static void Log(string message) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"bench: propagation: {message}"));

    public async ValueTask DisposeAsync()
    {
        await Parallel.ForEachAsync(_sessions, async (session, _) => await session.DisposeAsync());
        _admin?.Dispose();
        _root.Dispose();
        _http.Dispose();
    }

    /// <summary>
    /// One round: each cache's drop after the promote's return and after its call (ms), the promote call's own time,
    /// the epoch it produced, and the refill: how many caches had to read from the server (every stream open), and how long it took.
    /// </summary>
    internal sealed record Round(double[] FromReturn, double[] FromCall, double PromoteMilliseconds, long Epoch, (int Reads, TimeSpan Took) Refill);
}
