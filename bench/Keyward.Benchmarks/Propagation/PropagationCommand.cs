using System.Globalization;

namespace Keyward.Benchmarks.Propagation;

/// <summary>
/// <c>Keyward.Benchmarks propagation --addr URL [--subscribers N] [--rounds N] [--connections N]</c>, root token in
/// <c>KEYWARD_BENCH_ROOT_TOKEN</c> (never on the command line). Prints the propagation figures last on stdout; the
/// cached read cost comes from BenchmarkDotNet (<see cref="CachedReadBenchmarks"/>), which <c>bench/run</c> adds.
/// </summary>
internal static class PropagationCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var options = CommandOptions.Parse(args, new()
        {
            ["--subscribers"] = "1000",
            ["--rounds"] = "10",
            ["--connections"] = "32",
        });
        var rootToken = Environment.GetEnvironmentVariable("KEYWARD_BENCH_ROOT_TOKEN")
            ?? throw new InvalidOperationException("KEYWARD_BENCH_ROOT_TOKEN is not set");
        var subscribers = CommandOptions.Int(options, "--subscribers");
        var rounds = CommandOptions.Int(options, "--rounds");
        var connections = CommandOptions.Int(options, "--connections");

        await using var bench = new PropagationBenchmark(new Uri(options["--addr"]), rootToken);
        await bench.SetUpAsync(subscribers, connections);

        var fromReturn = new List<double>(subscribers * rounds);
        var fromCall = new List<double>(subscribers * rounds);
        for (var round = 1; round <= rounds; round++)
        {
            var result = await bench.RoundAsync(connections);
            fromReturn.AddRange(result.FromReturn);
            fromCall.AddRange(result.FromCall);
            Array.Sort(result.FromReturn);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"bench: propagation: round {round} (epoch {result.Epoch}): refill {result.Refill.Reads} server reads in {result.Refill.Took.TotalMilliseconds:F0} ms; promote call {result.PromoteMilliseconds:F2} ms; after its return, " +
                $"p50 {Percentiles.Of(result.FromReturn, 0.50):F2} ms, p99 {Percentiles.Of(result.FromReturn, 0.99):F2} ms, last {result.FromReturn[^1]:F2} ms"));
        }

        Console.Error.WriteLine($"bench: propagation: server {await bench.StreamReadsAsync()}");
        var sorted = fromReturn.ToArray();
        Array.Sort(sorted);
        var sortedCall = fromCall.ToArray();
        Array.Sort(sortedCall);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench: propagation: {sorted.Length} drops ({subscribers} caches x {rounds} rounds): from the promote's return p50 {Percentiles.Of(sorted, 0.50):F2} ms, " +
            $"p99 {Percentiles.Of(sorted, 0.99):F2} ms, max {sorted[^1]:F2} ms; from the promote's call p50 {Percentiles.Of(sortedCall, 0.50):F2} ms, p99 {Percentiles.Of(sortedCall, 0.99):F2} ms"));

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"propagation_p50_ms={Percentiles.Of(sorted, 0.50):F2} propagation_p99_ms={Percentiles.Of(sorted, 0.99):F2} subscribers={subscribers} " +
            $"propagation_max_ms={sorted[^1]:F2} rounds={rounds}"));
        return 0;
    }

}
