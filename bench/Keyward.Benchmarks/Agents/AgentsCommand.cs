using System.Globalization;

namespace Keyward.Benchmarks.Agents;

/// <summary>
/// <c>Keyward.Benchmarks agents --addr URL [--agents N] [--cold-starts N] [--connections N]</c>, root token in
/// <c>KEYWARD_BENCH_ROOT_TOKEN</c> (never on the command line). Prints the key=value line last on stdout.
/// </summary>
internal static class AgentsCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var options = CommandOptions.Parse(args, new()
        {
            ["--agents"] = "100000",
            ["--cold-starts"] = "1000",
            ["--warmup-seconds"] = "10",
            ["--connections"] = "32",
        });
        var rootToken = Environment.GetEnvironmentVariable("KEYWARD_BENCH_ROOT_TOKEN")
            ?? throw new InvalidOperationException("KEYWARD_BENCH_ROOT_TOKEN is not set");
        using var bench = new AgentsBenchmark(new Uri(options["--addr"]), rootToken, CommandOptions.Int(options, "--connections"));

        var cold = await bench.ColdStartsAsync(TimeSpan.FromSeconds(CommandOptions.Int(options, "--warmup-seconds")), CommandOptions.Int(options, "--cold-starts"));
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"bench: cold start (bootstrap, exchange, first read) x{cold.Count}: p50 {cold.P50:F3} ms, p99 {cold.P99:F3} ms"));

        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench: cold start mean per step: bootstrap {bench.StepTimes[0].TotalMilliseconds / cold.Count:F3} ms, exchange {bench.StepTimes[1].TotalMilliseconds / cold.Count:F3} ms, first read {bench.StepTimes[2].TotalMilliseconds / cold.Count:F3} ms"));

        var verify = DeriveVerify.MeasureMicroseconds();
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"bench: derived token verification: {verify:F2} us"));

        var lockdown = await bench.LockdownAsync(CommandOptions.Int(options, "--agents"), CommandOptions.Int(options, "--connections"), sample: 2000);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench: lockdown: {lockdown.ClientMilliseconds:F1} ms at the client ({lockdown.ServerMilliseconds} ms in the server's transaction); " +
            $"{lockdown.RevokedTokens} tokens and {lockdown.RevokedLeases} leases revoked; {lockdown.CheckedTokens} sampled tokens all refused with 423 afterwards"));

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"cold_start_p50_ms={cold.P50:F3} cold_start_p99_ms={cold.P99:F3} derive_verify_us={verify:F2} lockdown_100k_ms={lockdown.ClientMilliseconds:F1} " +
            $"lockdown_tokens={lockdown.RevokedTokens} lockdown_leases={lockdown.RevokedLeases}"));
        return 0;
    }
}
