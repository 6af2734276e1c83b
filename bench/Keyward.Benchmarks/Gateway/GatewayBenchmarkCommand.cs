using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Keyward.Client;
using Keyward.Client.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Keyward.Benchmarks.Gateway;

/// <summary>
/// <c>Keyward.Benchmarks gateway --addr URL [--requests N] [--warmup-seconds S] [--concurrency C] [--seconds S]</c>, root token in
/// <c>KEYWARD_BENCH_ROOT_TOKEN</c>: the gateway's overhead. An upstream in this process (Kestrel on loopback) answers
/// <c>POST /v1/chat</c> with a small JSON body, and checks the credential it gets. The same request is sent straight to
/// it and through the gateway (an agent session's <see cref="KeywardClient.CreateGatewayHandler"/>), alternately, one at
/// a time, after an unmeasured warm-up; then the gateway's throughput with C requests in flight for S seconds. Prints
/// <c>direct_p50_ms=X gateway_p50_ms=Y overhead_p50_ms=Z overhead_p99_ms=W rps=N …</c> (overheads are differences of
/// the percentiles).
/// </summary>
internal static class GatewayBenchmarkCommand
{
    private const string Tenant = "gateway-bench";
    private const string RequestBody = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";
    private const string ResponseBody = "{\"id\":\"r1\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"hi there\"}}]}";

    public static async Task<int> RunAsync(string[] args)
    {
        var options = CommandOptions.Parse(args, new()
        {
            ["--requests"] = "3000", ["--warmup-seconds"] = "10", ["--concurrency"] = "16", ["--seconds"] = "5",
        });
        var requests = CommandOptions.Int(options, "--requests");
        var warmup = CommandOptions.Int(options, "--warmup-seconds");
        var concurrency = CommandOptions.Int(options, "--concurrency");
        var seconds = CommandOptions.Int(options, "--seconds");
        var rootToken = Environment.GetEnvironmentVariable("KEYWARD_BENCH_ROOT_TOKEN")
            ?? throw new InvalidOperationException("KEYWARD_BENCH_ROOT_TOKEN is not set");
        var address = new Uri(options["--addr"]);
        var credential = "sk-bench-" + RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 40);

        await using var upstream = await StartUpstreamAsync(credential);
        var upstreamAddress = upstream.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        using var setupHttp = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(30) };
        using var root = new KeywardClient(new KeywardClientOptions { Address = address, Token = rootToken, HttpClient = setupHttp });
        await root.CreateTenantAsync(Tenant);
        using var admin = new KeywardClient(new KeywardClientOptions
        {
            Address = address, Token = (await root.CreateTenantTokenAsync(Tenant, TenantTokenKind.Admin, TimeSpan.FromHours(1))).Token, HttpClient = setupHttp,
        });
        using var orchestrator = new KeywardClient(new KeywardClientOptions
        {
            Address = address, Token = (await root.CreateTenantTokenAsync(Tenant, TenantTokenKind.Orchestrator, TimeSpan.FromHours(1))).Token, HttpClient = setupHttp,
        });
        await admin.PutRoleAsync("caller", [new RoleRule("llm/**", ["use"])], TimeSpan.FromHours(1));
        await admin.PutSecretAsync("llm/provider", new Dictionary<string, string> { ["api_key"] = credential });
        await admin.PutIntegrationAsync("provider", new IntegrationSpec(
            new Uri(upstreamAddress + "/"), "llm/provider", "api_key", new IntegrationInject("bearer"), [new IntegrationAllow(["POST"], "v1/**")], AllowInsecureLoopback: true));
        var bootstrap = await orchestrator.BootstrapAgentAsync("agent", "bench-run", "caller", TimeSpan.FromMinutes(50));
        using var anonymous = new KeywardClient(new KeywardClientOptions { Address = address, HttpClient = setupHttp });
        var session = await anonymous.ExchangeBootstrapTokenAsync(bootstrap.BootstrapToken);

        // The agent's view: its own HttpClient through the SDK's gateway handler; the direct client holds the credential.
        using var agentClient = new KeywardClient(new KeywardClientOptions { Address = address, Token = session.Token });
        using var viaGateway = new HttpClient(agentClient.CreateGatewayHandler("provider")) { BaseAddress = new Uri("https://provider.invalid/"), Timeout = TimeSpan.FromSeconds(30) };
        using var direct = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(upstreamAddress + "/"), Timeout = TimeSpan.FromSeconds(30) };
        direct.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", credential);

        Console.Error.WriteLine($"bench: gateway: {warmup} s of unmeasured pairs, then {requests} alternating direct/gateway requests one at a time, then {concurrency} in flight for {seconds} s");
        // Time-based, like the read benchmark's: the runtime recompiles hot methods (tiered compilation with dynamic PGO)
        // on a background thread for several seconds after they start being called; 1,000 pairs (about 1 s) left that
        // compiling in the measured phase and the p99 overhead came out 6.5-9 ms instead of 1.6-2.6 ms.
        var warmupEnd = Stopwatch.GetTimestamp() + (long)(warmup * (double)Stopwatch.Frequency);
        var warmupPairs = 0;
        while (Stopwatch.GetTimestamp() < warmupEnd)
        {
            await SendAsync(direct);
            await SendAsync(viaGateway);
            warmupPairs++;
        }

        Console.Error.WriteLine($"bench: gateway: {warmupPairs} warm-up pairs");

        var directMs = new double[requests];
        var gatewayMs = new double[requests];
        for (var i = 0; i < requests; i++)
        {
            // Alternate which goes first, so neither always meets the other's leftovers.
            if (i % 2 == 0)
            {
                directMs[i] = await SendAsync(direct);
                gatewayMs[i] = await SendAsync(viaGateway);
            }
            else
            {
                gatewayMs[i] = await SendAsync(viaGateway);
                directMs[i] = await SendAsync(direct);
            }
        }

        var directRps = await ThroughputAsync(direct, concurrency, seconds);
        var gatewayRps = await ThroughputAsync(viaGateway, concurrency, seconds);
        Array.Sort(directMs);
        Array.Sort(gatewayMs);
        double P(double[] sorted, double p) => Percentiles.Of(sorted, p);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench: gateway: direct p50 {P(directMs, 0.5):F3} ms p99 {P(directMs, 0.99):F3} ms; through the gateway p50 {P(gatewayMs, 0.5):F3} ms p99 {P(gatewayMs, 0.99):F3} ms; throughput {gatewayRps:F0}/s through the gateway, {directRps:F0}/s direct"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"direct_p50_ms={P(directMs, 0.5):F3} gateway_p50_ms={P(gatewayMs, 0.5):F3} overhead_p50_ms={P(gatewayMs, 0.5) - P(directMs, 0.5):F3} overhead_p99_ms={P(gatewayMs, 0.99) - P(directMs, 0.99):F3} rps={gatewayRps:F0} direct_p99_ms={P(directMs, 0.99):F3} gateway_p99_ms={P(gatewayMs, 0.99):F3} direct_rps={directRps:F0} requests={requests} concurrency={concurrency}"));
        return 0;
    }

    private static async Task<double> SendAsync(HttpClient client)
    {
        var started = Stopwatch.GetTimestamp();
        using var content = new StringContent(RequestBody, Encoding.UTF8, "application/json");
        using var response = await client.PostAsync("v1/chat", content);
        var body = await response.Content.ReadAsStringAsync();
        var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (response.StatusCode != HttpStatusCode.OK || body != ResponseBody)
        {
            throw new InvalidOperationException($"unexpected answer: HTTP {(int)response.StatusCode} {body[..Math.Min(body.Length, 300)]}");
        }

        return elapsed;
    }

    private static async Task<double> ThroughputAsync(HttpClient client, int concurrency, int seconds)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(seconds * (double)Stopwatch.Frequency);
        long completed = 0;
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (Stopwatch.GetTimestamp() < deadline)
            {
                await SendAsync(client);
                Interlocked.Increment(ref completed);
            }
        }));
        return completed / Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    /// <summary>The upstream: answers <c>POST /v1/chat</c> when it gets the expected credential (401 otherwise, which fails the run).</summary>
    private static async Task<WebApplication> StartUpstreamAsync(string credential)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var expected = "Bearer " + credential;
        var answer = Encoding.UTF8.GetBytes(ResponseBody);
        app.MapPost("/v1/chat", async (HttpContext http) =>
        {
            using var sink = new MemoryStream();
            await http.Request.Body.CopyToAsync(sink);
            if (http.Request.Headers.Authorization != expected)
            {
                http.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return;
            }

            http.Response.ContentType = "application/json";
            await http.Response.Body.WriteAsync(answer);
        });
        await app.StartAsync();
        return app;
    }
}
