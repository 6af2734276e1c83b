using System.Runtime.CompilerServices;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Keyward.Client;
using Keyward.Client.Models;

namespace Keyward.Benchmarks;

/// <summary>
/// The agent-side cache's hit path (<see cref="SecretCache.TryGet"/> and a <see cref="SecretCache.GetAsync"/> that
/// completes synchronously) with a live event stream and 1,000 cached paths: target ≤ 100 ns and 0 bytes allocated.
/// The backend is scripted (an open stream that never sends, reads answered from memory): no server is involved.
/// </summary>
[MemoryDiagnoser]
public class CachedReadBenchmarks
{
    private const string Path = "apps/web/prod/api-key";

    private SecretCache _cache = null!;

    [GlobalSetup]
    public void Setup()
    {
        var data = JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["key"] = "benchmark-value-0123456789" });
        var backend = new SecretCacheBackend(
            (path, _, _) => Task.FromResult(new KeywardSecret(path, 1, data, DateTimeOffset.UnixEpoch)),
            OpenAndWait,
            _ => Task.FromResult<IReadOnlyList<RoleRule>>([]),
            (_, _) => Task.FromResult<IReadOnlyList<string>>([]));
        _cache = new SecretCache(backend, "bench-accessor", new AgentSessionOptions { Scrubber = new SecretScrubber() });
        _cache.GetAsync(Path).AsTask().GetAwaiter().GetResult();
        for (var i = 0; i < 999; i++)
        {
            _cache.GetAsync("apps/filler/" + i).AsTask().GetAwaiter().GetResult();
        }

        if (!_cache.IsLive)
        {
            throw new InvalidOperationException("the scripted stream did not open");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _cache.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Baseline = true)]
    public bool CachedRead() => _cache.TryGet(Path, out _);

    [Benchmark]
    public long CachedReadAsync()
    {
        var pending = _cache.GetAsync(Path);
        return pending.IsCompletedSuccessfully ? pending.Result.Version : -1;
    }

    private static async IAsyncEnumerable<KeywardEvent> OpenAndWait(long? lastEventId, Action opened, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        opened();
        await Task.Delay(Timeout.Infinite, cancellationToken);
        yield break;
    }
}
