using System.Globalization;

namespace Keyward.Benchmarks.DynamicCredentials;

/// <summary>
/// <c>Keyward.Benchmarks dyncreds --addr URL --pg-port P [--count N] [--concurrency C] [--warmup W] [--grant role|table]</c>: dynamic
/// PostgreSQL credentials against a dev server and a throwaway cluster that <c>bench/run dyncreds</c> prepared (database
/// <c>--pg-database</c> with a table <c>items</c> owned by <c>--pg-login</c>, whose password is in
/// <c>KEYWARD_BENCH_PG_PASSWORD</c>; the trusted superuser <c>--pg-superuser</c>). Root token in
/// <c>KEYWARD_BENCH_ROOT_TOKEN</c>. Prints the key=value line last on stdout.
/// </summary>
internal static class DynamicCredentialsCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        try
        {
            return await RunCheckedAsync(args);
        }
        catch (InvalidOperationException failed)
        {
            // A refused request or a failed check: the message says which and how often; a stack trace adds nothing.
            Console.Error.WriteLine($"bench: dyncreds: error: {failed.Message}");
            return 1;
        }
    }

    private static async Task<int> RunCheckedAsync(string[] args)
    {
        var options = CommandOptions.Parse(args, new()
        {
            ["--count"] = "1000",
            ["--concurrency"] = "16",
            ["--warmup"] = "100",
            ["--pg-database"] = "target",
            ["--pg-login"] = "kwe_bench",
            ["--pg-superuser"] = "keyward_bench",
            ["--grant"] = "role",
        });
        var rootToken = Environment.GetEnvironmentVariable("KEYWARD_BENCH_ROOT_TOKEN")
            ?? throw new InvalidOperationException("KEYWARD_BENCH_ROOT_TOKEN is not set");
        var loginPassword = Environment.GetEnvironmentVariable("KEYWARD_BENCH_PG_PASSWORD")
            ?? throw new InvalidOperationException("KEYWARD_BENCH_PG_PASSWORD is not set");
        var count = CommandOptions.Int(options, "--count");
        var concurrency = CommandOptions.Int(options, "--concurrency");
        var warmup = options["--warmup"] == "0" ? 0 : CommandOptions.Int(options, "--warmup");
        var database = new TargetDatabase(
            CommandOptions.Int(options, "--pg-port"), options["--pg-database"], options["--pg-superuser"], options["--pg-login"], loginPassword);

        await using var bench = new DynamicCredentialsBenchmark(new Uri(options["--addr"]), rootToken, database, concurrency, options["--grant"]);
        await bench.SetUpAsync();

        if (warmup > 0)
        {
            // Unmeasured: the server's JIT, its pool to the database and the sweeper's path, on a connection of their own.
            var warm = await bench.IssueAsync(DynamicCredentialsBenchmark.WarmupConnection, warmup);
            Log($"warm-up: {warmup} credentials issued at {warm.PerSecond:F1}/s (p50 {warm.P50:F2} ms, p99 {warm.P99:F2} ms), not measured");
            var warmRevoke = await bench.RevokeAsync(DynamicCredentialsBenchmark.WarmupConnection, warm.Usernames);
            Log($"warm-up: {warmup} logins dropped in {warmRevoke.LastGoneMs:F0} ms after the revoke call, not measured");
        }

        var issued = await bench.IssueAsync(DynamicCredentialsBenchmark.MeasuredConnection, count);
        Log($"issued {count} credentials in {issued.Seconds:F3} s with {concurrency} concurrent requests: {issued.PerSecond:F1}/s, p50 {issued.P50:F2} ms, p99 {issued.P99:F2} ms, max {issued.Max:F2} ms");
        await bench.CheckLoginsAsync(issued, sample: 10);

        var revoked = await bench.RevokeAsync(DynamicCredentialsBenchmark.MeasuredConnection, issued.Usernames);
        var revokedPerSecond = count / (revoked.LastGoneMs / 1000);
        Log($"revoke-prefix returned after {revoked.CallMs:F1} ms ({revoked.Revoked} leases); first login gone after {revoked.FirstGoneMs:F0} ms, last after {revoked.LastGoneMs:F0} ms: {revokedPerSecond:F1} logins dropped/s; none could log in any more (NOLOGIN) after {revoked.NoLoginMs:F0} ms");

        var baseline = await bench.BaselineAsync(count, warmup);
        Log($"baseline: {count} CREATE ROLE + GRANT transactions directly (Npgsql, {concurrency} at once) in {baseline.Seconds:F3} s: {baseline.PerSecond:F1}/s, p50 {baseline.P50:F2} ms, p99 {baseline.P99:F2} ms; dropped again");

        var ratio = issued.PerSecond / baseline.PerSecond;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"creds_issued_per_s={issued.PerSecond:F1} creds_revoked_per_s={revokedPerSecond:F1} baseline_created_per_s={baseline.PerSecond:F1} " +
            $"issue_ratio={ratio:F3} p50_issue_ms={issued.P50:F2} p99_issue_ms={issued.P99:F2} count={count}"));
        return 0;
    }

    internal static void Log(FormattableString message) =>
        Console.Error.WriteLine("bench: dyncreds: " + message.ToString(CultureInfo.InvariantCulture));
}
