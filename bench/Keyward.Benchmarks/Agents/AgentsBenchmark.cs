using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Keyward.Benchmarks.Agents;

/// <summary>
/// <c>bench/run agents</c>: against a running dev server on loopback, (1) a new agent's cold start — bootstrap,
/// exchange, first secret read — measured one after another; (2) a tenant filled with N live agent sessions (each a
/// token and a lease) locked down, timed from the client, then every sampled token checked to be refused.
/// Progress goes to stderr; the figures are returned for the last line.
/// </summary>
internal sealed class AgentsBenchmark : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _rootToken;

    public AgentsBenchmark(Uri address, string rootToken, int connections)
    {
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections, UseProxy = false }) { BaseAddress = address };
        _rootToken = rootToken;
    }

    /// <summary>
    /// Cold starts for <paramref name="warmup"/> unmeasured (the server's JIT is still tiering up its code during the
    /// first seconds: measured too early, a cold start costs twice as much), then <paramref name="count"/> measured.
    /// </summary>
    public async Task<(double P50, double P99, int Count)> ColdStartsAsync(TimeSpan warmup, int count)
    {
        var (orchestrator, _) = await CreateTenantAsync("cold");
        var warming = Stopwatch.GetTimestamp();
        for (var i = 0; Stopwatch.GetElapsedTime(warming) < warmup; i++)
        {
            await ColdStartAsync(orchestrator, $"warm-{i}");
        }

        Array.Clear(StepTimes);
        var samples = new double[count];
        for (var i = 0; i < count; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await ColdStartAsync(orchestrator, $"agent-{i}");
            samples[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        Array.Sort(samples);
        return (Percentiles.Of(samples, 0.50), Percentiles.Of(samples, 0.99), count);
    }

    /// <summary>Time spent in each step of the cold starts so far (bootstrap, exchange, first read), for the stderr breakdown.</summary>
    public TimeSpan[] StepTimes { get; } = new TimeSpan[3];

    private async Task ColdStartAsync(string orchestrator, string agentId)
    {
        var started = Stopwatch.GetTimestamp();
        var bootstrap = await PostAsync(orchestrator, "v1/agents/bootstrap", new { agent_id = agentId, run_id = "cold-run", role = "bench", ttl = "30m" });
        StepTimes[0] += Stopwatch.GetElapsedTime(started);
        started = Stopwatch.GetTimestamp();
        var session = await PostAsync(null, "v1/auth/exchange", new { bootstrap_token = bootstrap.GetProperty("bootstrap_token").GetString() });
        StepTimes[1] += Stopwatch.GetElapsedTime(started);
        started = Stopwatch.GetTimestamp();
        using var read = new HttpRequestMessage(HttpMethod.Get, "v1/secrets/apps/db");
        read.Headers.Authorization = new AuthenticationHeaderValue("Bearer", session.GetProperty("token").GetString());
        using var response = await _http.SendAsync(read);
        Expect(response, HttpStatusCode.OK, "first read");
        StepTimes[2] += Stopwatch.GetElapsedTime(started);
    }

    public async Task<LockdownFigures> LockdownAsync(int agents, int concurrency, int sample)
    {
        var (orchestrator, _) = await CreateTenantAsync("crowd");
        var started = Stopwatch.GetTimestamp();
        var next = -1;
        var kept = new List<string>[concurrency];
        var workers = Enumerable.Range(0, concurrency).Select(async worker =>
        {
            kept[worker] = [];
            int i;
            while ((i = Interlocked.Increment(ref next)) < agents)
            {
                var bootstrap = await PostAsync(orchestrator, "v1/agents/bootstrap", new { agent_id = $"a{i}", run_id = $"run-{i % 100}", role = "bench", ttl = "3h" });
                var session = await PostAsync(null, "v1/auth/exchange", new { bootstrap_token = bootstrap.GetProperty("bootstrap_token").GetString() });
                if (i % Math.Max(1, agents / sample) == 0)
                {
                    kept[worker].Add(session.GetProperty("token").GetString()!);
                }

                if (i > 0 && i % 10_000 == 0)
                {
                    Console.Error.WriteLine($"bench: agents: {i} sessions in {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s");
                }
            }
        }).ToArray();
        await Task.WhenAll(workers);
        var seeding = Stopwatch.GetElapsedTime(started);
        var tokens = kept.SelectMany(k => k).ToArray();
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench: agents: {agents} live sessions (each a token and a lease) in {seeding.TotalSeconds:F1} s ({agents / seeding.TotalSeconds:F0}/s); locking down"));

        var lockdownStarted = Stopwatch.GetTimestamp();
        var incident = await PostAsync(_rootToken, "v1/tenants/crowd/lockdown", new { reason = "bench: kill switch" });
        var lockdown = Stopwatch.GetElapsedTime(lockdownStarted);

        // After the call returns, no request with any of those tokens may succeed.
        var succeeded = 0;
        await Parallel.ForEachAsync(tokens, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (token, _) =>
        {
            using var read = new HttpRequestMessage(HttpMethod.Get, "v1/secrets/apps/db");
            read.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await _http.SendAsync(read);
            if (response.StatusCode != HttpStatusCode.Locked)
            {
                Interlocked.Increment(ref succeeded);
            }
        });
        if (succeeded > 0)
        {
            throw new InvalidOperationException($"{succeeded} of {tokens.Length} sampled tokens were not refused with 423 after the lockdown returned");
        }

        return new LockdownFigures(
            lockdown.TotalMilliseconds,
            incident.GetProperty("took_ms").GetInt64(),
            incident.GetProperty("revoked_tokens").GetInt32(),
            incident.GetProperty("revoked_leases").GetInt32(),
            tokens.Length,
            seeding);
    }

    private async Task<(string Orchestrator, string Admin)> CreateTenantAsync(string id)
    {
        await PostAsync(_rootToken, "v1/tenants", new { id }, HttpStatusCode.Created);
        var admin = (await PostAsync(_rootToken, $"v1/tenants/{id}/tokens", new { kind = "admin", ttl = "4h" })).GetProperty("token").GetString()!;
        var orchestrator = (await PostAsync(_rootToken, $"v1/tenants/{id}/tokens", new { kind = "orchestrator", ttl = "4h" })).GetProperty("token").GetString()!;
        await SendAsync(HttpMethod.Put, admin, "v1/roles/bench", new { rules = new[] { new { path = "apps/**", capabilities = new[] { "read" } } }, max_ttl = "4h" });
        await SendAsync(HttpMethod.Put, admin, "v1/secrets/apps/db", new { data = new { password = "bench-" + Guid.NewGuid().ToString("N") } });
        return (orchestrator, admin);
    }

    private Task<JsonElement> PostAsync(string? token, string route, object body, HttpStatusCode expected = HttpStatusCode.OK) =>
        SendAsync(HttpMethod.Post, token, route, body, expected);

    private async Task<JsonElement> SendAsync(HttpMethod method, string? token, string route, object body, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var request = new HttpRequestMessage(method, route) { Content = JsonContent.Create(body) };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await _http.SendAsync(request);
        Expect(response, expected, $"{method} {route}");
        var text = await response.Content.ReadAsStringAsync();
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    private static void Expect(HttpResponseMessage response, HttpStatusCode expected, string what)
    {
        if (response.StatusCode != expected)
        {
            throw new InvalidOperationException($"{what}: expected {(int)expected}, got {(int)response.StatusCode}");
        }
    }


    public void Dispose() => _http.Dispose();
}

internal sealed record LockdownFigures(double ClientMilliseconds, long ServerMilliseconds, int RevokedTokens, int RevokedLeases, int CheckedTokens, TimeSpan Seeding);
