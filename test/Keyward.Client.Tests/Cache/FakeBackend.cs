using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using Keyward.Client.Models;

namespace Keyward.Client.Tests.Cache;

/// <summary>
/// A scripted server for unit tests of <see cref="SecretCache"/>: secrets in a dictionary, an event stream the test
/// feeds (and closes, or refuses), and fetches the test can hold.
/// </summary>
internal sealed class FakeBackend
{
    public const string Accessor = "acc-self";

    private readonly ConcurrentDictionary<string, (long Version, string Value)> _secrets = new(StringComparer.Ordinal);
    private Channel<KeywardEvent?> _stream = Channel.CreateUnbounded<KeywardEvent?>();
    private long _nextId;

    public ConcurrentQueue<long?> Connects { get; } = new();

    public int Fetches;

    /// <summary>When set, each fetch waits for it (to hold a read in flight).</summary>
    public TaskCompletionSource? HoldFetches { get; set; }

    /// <summary>When set, the next connections fail with it (401 → the cache refuses; others → transient).</summary>
    public Exception? RefuseConnect { get; set; }

    /// <summary>When false, connections never open (the server does not answer).</summary>
    public bool Open { get; set; } = true;

    public void Put(string path, string value) => _secrets.AddOrUpdate(path, (1, value), (_, old) => (old.Version + 1, value));

    public SecretCache Cache(TimeProvider? time = null, SecretScrubber? scrubber = null, TimeSpan? fallbackTtl = null, TimeSpan? openTimeout = null) =>
        new(
            new SecretCacheBackend(FetchAsync, Events, _ => Task.FromResult<IReadOnlyList<RoleRule>>([]), (_, _) => Task.FromResult<IReadOnlyList<string>>([])),
            Accessor,
            new AgentSessionOptions
            {
                TimeProvider = time ?? TimeProvider.System,
                Scrubber = scrubber ?? new SecretScrubber(),
                CacheFallbackTtl = fallbackTtl ?? AgentSessionOptions.DefaultCacheFallbackTtl,
                CacheOpenTimeout = openTimeout ?? AgentSessionOptions.DefaultCacheOpenTimeout,
            });

    public void Send(string type, object data) =>
        _stream.Writer.TryWrite(new KeywardEvent(Interlocked.Increment(ref _nextId), type, JsonSerializer.SerializeToElement(data)));

    public void SendReset() => _stream.Writer.TryWrite(new KeywardEvent(null, KeywardEvent.ResetType, JsonSerializer.SerializeToElement(new { })));

    /// <summary>Ends the current stream (as a cut connection would) and gets ready for the next one.</summary>
    public void Close()
    {
        var old = _stream;
        _stream = Channel.CreateUnbounded<KeywardEvent?>();
        old.Writer.TryWrite(null);
    }

    private async Task<KeywardSecret> FetchAsync(string path, long? version, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Fetches);
        var snapshot = _secrets.TryGetValue(path, out var found) ? found : default((long, string)?);
        if (HoldFetches is { } hold)
        {
            await hold.Task.WaitAsync(cancellationToken);
        }

        if (snapshot is not { } secret)
        {
            throw new KeywardRequestFailedException(404, "secret_not_found", "not found");
        }

        return new KeywardSecret(path, secret.Item1, JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["v"] = secret.Item2 }), DateTimeOffset.UnixEpoch);
    }

    private async IAsyncEnumerable<KeywardEvent> Events(long? lastEventId, Action opened, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Connects.Enqueue(lastEventId);
        if (RefuseConnect is { } refused)
        {
            throw refused;
        }

        if (!Open)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        var stream = _stream;
        opened();
        while (true)
        {
            var item = await stream.Reader.ReadAsync(cancellationToken);
            if (item is null)
            {
                throw new IOException("connection cut");
            }

            yield return item;
        }
    }
}

/// <summary>Waits (bounded) for the cache to report an invalidation.</summary>
internal static class Invalidations
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    public static Task<SecretInvalidatedEventArgs> Next(SecretCache cache, Func<SecretInvalidatedEventArgs, bool>? match = null)
    {
        var seen = new TaskCompletionSource<SecretInvalidatedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        EventHandler<SecretInvalidatedEventArgs>? handler = null;
        handler = (_, e) =>
        {
            if (match is null || match(e))
            {
                cache.Invalidated -= handler;
                seen.TrySetResult(e);
            }
        };
        cache.Invalidated += handler;
        return seen.Task.WaitAsync(Wait);
    }

    public static string Field(SecretValue value) => value.TryGetField("v", out var text) ? text : throw new InvalidOperationException("no field v");
}
