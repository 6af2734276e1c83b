using System.Diagnostics;
using System.Globalization;
using System.Net;
using Keyward.Client;
using Keyward.Client.Models;

namespace Keyward.Benchmarks.Nodes;

/// <summary>
/// <c>Keyward.Benchmarks nodes --addr-a URL --addr-b URL [--revocations N]</c>, root token in
/// <c>KEYWARD_BENCH_ROOT_TOKEN</c>: two server nodes on one PostgreSQL database. Each sample: a new agent session
/// (through A) that node B has authenticated a few times (cached), revoked through A; the time from A's revoke
/// returning until B first refuses the token. Prints <c>revocation_p50_ms=… revocation_p99_ms=… revocation_max_ms=…</c>.
/// </summary>
internal static class RevocationPropagationCommand
{
    private const string Tenant = "nodes";
    private const string SecretPath = "apps/db";

    public static async Task<int> RunAsync(string[] args)
    {
        var options = CommandOptions.Parse(args, new() { ["--revocations"] = "200", ["--addr"] = "unused" });
        var count = CommandOptions.Int(options, "--revocations");
        var rootToken = Environment.GetEnvironmentVariable("KEYWARD_BENCH_ROOT_TOKEN")
            ?? throw new InvalidOperationException("KEYWARD_BENCH_ROOT_TOKEN is not set");
        var a = new Uri(options.GetValueOrDefault("--addr-a") ?? throw new ArgumentException("--addr-a is required"));
        var b = new Uri(options.GetValueOrDefault("--addr-b") ?? throw new ArgumentException("--addr-b is required"));

        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(30) };
        using var root = new KeywardClient(new KeywardClientOptions { Address = a, Token = rootToken, HttpClient = http });
        await root.CreateTenantAsync(Tenant);
        using var admin = new KeywardClient(new KeywardClientOptions
        {
            Address = a, Token = (await root.CreateTenantTokenAsync(Tenant, TenantTokenKind.Admin, TimeSpan.FromHours(1))).Token, HttpClient = http,
        });
        using var orchestrator = new KeywardClient(new KeywardClientOptions
        {
            Address = a, Token = (await root.CreateTenantTokenAsync(Tenant, TenantTokenKind.Orchestrator, TimeSpan.FromHours(1))).Token, HttpClient = http,
        });
        await admin.PutRoleAsync("bench", [new RoleRule("apps/**", ["read"])], TimeSpan.FromHours(1));
        await admin.PutSecretAsync(SecretPath, new Dictionary<string, string> { ["password"] = "bench-" + Guid.NewGuid().ToString("N") });
        using var exchange = new KeywardClient(new KeywardClientOptions { Address = a, HttpClient = http });

        var samples = new double[count];
        for (var i = 0; i < count; i++)
        {
            var bootstrap = await orchestrator.BootstrapAgentAsync($"agent-{i}", "bench-run", "bench", TimeSpan.FromMinutes(30));
            var session = await exchange.ExchangeBootstrapTokenAsync(bootstrap.BootstrapToken);
            using var onB = new KeywardClient(new KeywardClientOptions { Address = b, Token = session.Token, HttpClient = http });
            for (var warm = 0; warm < 3; warm++)
            {
                await onB.GetSecretAsync(SecretPath);
            }

            await orchestrator.RevokeTokenAsync(session.Accessor);
            var returned = Stopwatch.GetTimestamp();
            while (true)
            {
                try
                {
                    await onB.GetSecretAsync(SecretPath);
                }
                catch (KeywardRequestFailedException refused) when (refused.Status == (int)HttpStatusCode.Unauthorized)
                {
                    break;
                }

                if (Stopwatch.GetElapsedTime(returned) > TimeSpan.FromSeconds(10))
                {
                    throw new InvalidOperationException($"node B still accepted a token revoked on node A 10 s ago (sample {i})");
                }
            }

            samples[i] = Stopwatch.GetElapsedTime(returned).TotalMilliseconds;
        }

        Array.Sort(samples);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench: nodes: {count} revocations through A, each refused by B after p50 {Percentiles.Of(samples, 0.5):F2} ms, p99 {Percentiles.Of(samples, 0.99):F2} ms, max {samples[^1]:F2} ms"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"revocation_p50_ms={Percentiles.Of(samples, 0.5):F2} revocation_p99_ms={Percentiles.Of(samples, 0.99):F2} revocation_max_ms={samples[^1]:F2} revocations={count}"));
        return 0;
    }
}
