using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Keyward.Core.Secrets;
using Keyward.Core.Storage;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Server.FunctionalTests.Events;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Keyward.Server.FunctionalTests.Nodes;

/// <summary>
/// Two servers on one PostgreSQL database behave as one broker: a write on one is read on the other at once; a
/// revocation, a lockdown or a key rotation on one holds on the other within the bound (NodeCoherence.MaxStaleness,
/// usually milliseconds through LISTEN/NOTIFY); the other's event streams carry the first's events in order and
/// resume; writes from both form one valid audit chain.
/// </summary>
public sealed class TwoNodeTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly TempDirectory _data = new();
    private string _database = null!;
    private KeywardTestHost _a = null!;
    private KeywardTestHost _b = null!;
    private AgentWorld _world = null!;

    public async Task InitializeAsync()
    {
        var cluster = await PostgresCluster.GetAsync();
        _database = await cluster.CreateDatabaseAsync();
        var options = new KeywardServerOptions
        {
            Dev = true,
            DevRootToken = KeywardTestHost.RootToken,
            DataDirectory = _data.Path, // the dev unseal key, shared by both nodes
            Storage = KeywardServerOptions.PostgresStorage,
            PostgresConnectionString = cluster.ConnectionString(_database),
        };
        _a = await KeywardTestHost.StartAsync(options);
        _b = await KeywardTestHost.StartAsync(options);
        _world = await AgentWorld.CreateAsync(_a, "acme");
    }

    public async Task DisposeAsync()
    {
        await _b.DisposeAsync();
        await _a.DisposeAsync();
        await (await PostgresCluster.GetAsync()).DropDatabaseAsync(_database);
        _data.Dispose();
    }

    [Fact]
    public async Task BothNodes_RunOnTheSharedStore()
    {
        var body = await Problems.JsonAsync(await _b.Client(null).GetAsync("/v1/sys/health"));

        Assert.Equal("postgres", body.GetProperty("storage").GetString());
        Assert.True(_a.Services.GetService(typeof(NodeCoherence)) is NodeCoherence { Shared: true });
        var store = body.GetProperty("store");
        Assert.True(store.GetProperty("reachable").GetBoolean());
        Assert.True(store.GetProperty("shared").GetBoolean());
        Assert.True(store.GetProperty("notifications").GetBoolean());
    }

    [Fact]
    public async Task DatabaseGone_HealthAnswers503_WithTheStoreUnreachable()
    {
        // Arrange: a node on a database of its own
        var cluster = await PostgresCluster.GetAsync();
        var database = await cluster.CreateDatabaseAsync();
        await using var node = await KeywardTestHost.StartAsync(new KeywardServerOptions
        {
            Dev = true,
            DevRootToken = KeywardTestHost.RootToken,
            DataDirectory = Path.Combine(_data.Path, "gone"),
            Storage = KeywardServerOptions.PostgresStorage,
            PostgresConnectionString = cluster.ConnectionString(database),
        });
        Assert.Equal(HttpStatusCode.OK, (await node.Client(null).GetAsync("/v1/sys/health")).StatusCode);

        // Act: the database disappears under it
        await cluster.DropDatabaseAsync(database);
        var deadline = Stopwatch.GetTimestamp();
        HttpResponseMessage health;
        do
        {
            health = await node.Client(null).GetAsync("/v1/sys/health");
        }
        while (health.StatusCode == HttpStatusCode.OK && Stopwatch.GetElapsedTime(deadline) < Wait);

        // Assert
        var body = await Problems.JsonAsync(health, HttpStatusCode.ServiceUnavailable);
        Assert.False(body.GetProperty("store").GetProperty("reachable").GetBoolean());
        Assert.False(body.GetProperty("sealed").GetBoolean());
    }

    [Fact]
    public async Task AGatewayRunBudget_HoldsAcrossBothNodes_UnderConcurrentRequests()
    {
        // Arrange: one upstream, one integration with a run budget of 6; an agent session valid on both nodes
        await using var upstream = await LoopbackUpstream.StartAsync();
        await _a.PutSecretAsync(_world.Admin, "llm/key", new { api_key = "sk-two-nodes-0123456789" });
        await _world.PutRoleAsync("caller", [AgentWorld.Rule("llm/*", "use")], "1h");
        using (var admin = _a.Client(_world.Admin))
        {
            await Problems.JsonAsync(await admin.PutAsJsonAsync("/v1/integrations/up", new
            {
                upstream = upstream.Address.ToString(),
                secret_path = "llm/key",
                secret_field = "api_key",
                inject = new { kind = "bearer" },
                allow = new[] { new { methods = new[] { "GET" }, path = "**" } },
                allow_insecure_loopback = true,
                limits = new { run_budget = 6 },
            }));
        }

        var agent = await _world.StartAgentAsync("a1", "r1", "caller");

        // Act: 24 concurrent calls, half through each node
        var statuses = await Task.WhenAll(Enumerable.Range(0, 24).Select(async i =>
        {
            using var client = (i % 2 == 0 ? _a : _b).Client(agent.Token);
            using var response = await client.GetAsync("/v1/gateway/up/ok");
            return response.StatusCode;
        }));

        // Assert: the budget is the store's, not each node's
        Assert.Equal(6, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(18, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        Assert.Equal(6, upstream.Requests.Count);
    }

    [Fact]
    public async Task DeletingAnIntegrationOnA_CutsOffACallInFlightOnB()
    {
        // Arrange: a stream through node B
        await using var upstream = await LoopbackUpstream.StartAsync();
        await _a.PutSecretAsync(_world.Admin, "llm/key", new { api_key = "sk-two-nodes-0123456789" });
        await _world.PutRoleAsync("caller", [AgentWorld.Rule("llm/*", "use")], "1h");
        using (var admin = _a.Client(_world.Admin))
        {
            await Problems.JsonAsync(await admin.PutAsJsonAsync("/v1/integrations/up", new
            {
                upstream = upstream.Address.ToString(),
                secret_path = "llm/key",
                secret_field = "api_key",
                inject = new { kind = "bearer" },
                allow = new[] { new { methods = new[] { "GET" }, path = "**" } },
                allow_insecure_loopback = true,
            }));
        }

        var agent = await _world.StartAgentAsync("a1", "r1", "caller");
        using var client = _b.Client(agent.Token);
        using var response = await client.GetAsync("/v1/gateway/up/sse-forever", HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);
        using var timeout = new CancellationTokenSource(Wait);
        Assert.StartsWith("data: tick", await reader.ReadLineAsync(timeout.Token), StringComparison.Ordinal);

        // Act: the integration is deleted on node A
        using (var admin = _a.Client(_world.Admin))
        {
            Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/v1/integrations/up")).StatusCode);
        }

        // Assert: B's stream ends, and its upstream call with it
        try
        {
            while (await reader.ReadLineAsync(timeout.Token) is not null)
            {
            }
        }
        catch (Exception error) when (error is IOException or HttpRequestException || (error is OperationCanceledException && timeout.IsCancellationRequested))
        {
        }

        Assert.False(timeout.IsCancellationRequested, "the stream on B went on after the integration was deleted on A");
        while (upstream.OpenStreams > 0 && !timeout.IsCancellationRequested)
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, upstream.OpenStreams);
    }

    [Fact]
    public async Task WriteOnA_IsReadOnB_AtOnce()
    {
        // Arrange: B has the secret in whatever it caches
        await _a.PutSecretAsync(_world.Admin, "apps/db", new { password = "v0" });
        Assert.Equal("v0", await ReadPasswordAsync(_b, "apps/db"));

        for (var i = 1; i <= 30; i++)
        {
            // Act
            await _a.PutSecretAsync(_world.Admin, "apps/db", new { password = $"v{i}" });

            // Assert: the very next read on B sees it
            Assert.Equal($"v{i}", await ReadPasswordAsync(_b, "apps/db"));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AChangeNoNodeWasToldOf_IsReadOnB_AtOnce_ThoughBHeldTheRowInItsCache(bool wrapped)
    {
        // Arrange: two versions written through A; B has read the current one twice, so B holds it in its row cache.
        const string Path = "apps/unannounced";
        await _a.PutSecretAsync(_world.Admin, Path, new { password = "one" });
        await _a.PutSecretAsync(_world.Admin, Path, new { password = "two" });
        Assert.Equal("two", await ReadPasswordAsync(_b, Path));
        Assert.Equal("two", await ReadPasswordAsync(_b, Path));
        var cluster = await PostgresCluster.GetAsync();
        var tenantUid = (string)(await cluster.ScalarAsync($"SELECT uid FROM tenants WHERE id = '{_world.Tenant}'", _database))!;
        Assert.True(_b.Services.GetRequiredService<SecretRowCache>().TryGet(tenantUid, Path, SecretRowCache.Slot(null), out _), "B does not hold the row");

        var redoneBefore = _b.Services.GetRequiredService<GroupCommitter>().Stats.CachedReadsRedone;

        // Act: the current version goes back to 1 in the database itself, which notifies no node (as a lost
        // notification would leave it); then B is asked, plainly or for a wrapped answer.
        await cluster.ExecuteAsync($"UPDATE secrets SET current_version = 1 WHERE tenant_uid = '{tenantUid}' AND path = '{Path}'", _database);
        using var client = _b.Client(_world.Admin);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/secrets/{Path}");
        if (wrapped)
        {
            request.Headers.Add("X-Keyward-Wrap-TTL", "60s");
        }

        using var response = await client.SendAsync(request);
        var body = await Problems.JsonAsync(response);
        if (wrapped)
        {
            using var unwrapper = _b.Client(body.GetProperty("wrap_info").GetProperty("token").GetString());
            body = await Problems.JsonAsync(await unwrapper.PostAsync("/v1/wrapping/unwrap", content: null));
        }

        // Assert: version 1, not the cached 2; and one audit record of that read, naming version 1 (the answer from
        // the cache left no trace).
        Assert.Equal(("one", 1L), (body.GetProperty("data").GetProperty("password").GetString(), body.GetProperty("version").GetInt64()));
        var record = await new AuditLog(_b).SingleAsync(response.Headers.GetValues("X-Request-Id").Single());
        Assert.Equal(("secret.read", 1L), (record.GetProperty("operation").GetString(), record.GetProperty("version").GetInt64()));
        Assert.Equal(redoneBefore + 1, _b.Services.GetRequiredService<GroupCommitter>().Stats.CachedReadsRedone);
    }

    [Fact]
    public async Task ReadsOnB_WhileAWritesEveryFewMilliseconds_NeverAnswerAnOlderVersionThanOneAcknowledgedBeforeTheyStarted()
    {
        // Arrange: B caches the secret; A will write 40 versions one after another
        const string Path = "apps/busy";
        var acknowledged = await _a.PutSecretAsync(_world.Admin, Path, new { password = "p1" });
        Assert.Equal("p1", await ReadPasswordAsync(_b, Path));
        using var done = new CancellationTokenSource();
        var violations = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var reads = 0;

        // Act: 6 readers on B for as long as A writes
        var readers = Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            using var client = _b.Client(_world.Admin);
            while (!done.IsCancellationRequested)
            {
                var floor = Volatile.Read(ref acknowledged);
                var read = await Problems.JsonAsync(await client.GetAsync($"/v1/secrets/{Path}"));
                var version = read.GetProperty("version").GetInt64();
                if (version < floor || read.GetProperty("data").GetProperty("password").GetString() != $"p{version}")
                {
                    violations.Enqueue($"read version {version} ({read.GetProperty("data").GetRawText()}) after version {floor} was acknowledged");
                }

                Interlocked.Increment(ref reads);
            }
        })).ToList();
        for (var i = 2; i <= 41; i++)
        {
            Volatile.Write(ref acknowledged, await _a.PutSecretAsync(_world.Admin, Path, new { password = $"p{i}" }));
        }

        await done.CancelAsync();
        await Task.WhenAll(readers);

        // Assert
        Assert.True(violations.IsEmpty, string.Join("\n", violations.Take(5)));
        Assert.True(reads > 40, $"only {reads} reads ran alongside the writes");
        Assert.Equal("p41", await ReadPasswordAsync(_b, Path));
        var verify = await Problems.JsonAsync(await _b.Client().GetAsync("/v1/sys/audit/verify"));
        Assert.True(verify.GetProperty("ok").GetBoolean(), verify.GetRawText());
    }

    [Fact]
    public async Task RevocationOnA_IsRefusedOnB_WithinTheBound()
    {
        // Arrange: an agent B has authenticated many times (cached)
        await _a.PutSecretAsync(_world.Admin, "apps/web/db", new { password = "p" });
        var agent = await _world.StartAgentAsync("agent-1", "run-1");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await ReadStatusAsync(_b, agent.Token, "apps/web/db"));
        }

        // Act
        using (var revoke = await _world.PostAsync(_world.Orchestrator, "/v1/auth/revoke", new { accessor = agent.Accessor }))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }

        var returned = Stopwatch.GetTimestamp();
        var status = HttpStatusCode.OK;
        while (status == HttpStatusCode.OK && Stopwatch.GetElapsedTime(returned) < Wait)
        {
            status = await ReadStatusAsync(_b, agent.Token, "apps/web/db");
        }

        // Assert
        var took = Stopwatch.GetElapsedTime(returned);
        output.WriteLine($"B refused the revoked token {took.TotalMilliseconds:F1} ms after A's revoke returned");
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.True(took < NodeCoherence.MaxStaleness, $"B still accepted the revoked token {took.TotalMilliseconds:F0} ms after the revoke returned");
    }

    [Fact]
    public async Task LockdownOnA_IsEnforcedOnB()
    {
        await _a.PutSecretAsync(_world.Admin, "apps/web/db", new { password = "p" });
        var agent = await _world.StartAgentAsync("agent-1", "run-1");
        Assert.Equal(HttpStatusCode.OK, await ReadStatusAsync(_b, agent.Token, "apps/web/db"));

        using (var root = _a.Client())
        {
            var lockdown = await root.PostAsJsonAsync("/v1/tenants/acme/lockdown", new { reason = "two-node test" });
            Assert.Equal(HttpStatusCode.OK, lockdown.StatusCode);
        }

        var deadline = Stopwatch.GetTimestamp();
        var status = HttpStatusCode.OK;
        while (status == HttpStatusCode.OK && Stopwatch.GetElapsedTime(deadline) < Wait)
        {
            status = await ReadStatusAsync(_b, _world.Admin, "apps/web/db");
        }

        Assert.Equal(HttpStatusCode.Locked, status);
        Assert.True(Stopwatch.GetElapsedTime(deadline) < NodeCoherence.MaxStaleness);
        Assert.NotEqual(HttpStatusCode.OK, await ReadStatusAsync(_b, agent.Token, "apps/web/db"));
    }

    [Fact]
    public async Task EventsWrittenThroughA_ReachAStreamOnB_InOrder_AndResume()
    {
        // Arrange
        await using var stream = await SseStream.OpenAsync(_b, _world.Admin, "/v1/events");

        // Act
        for (var i = 0; i < 5; i++)
        {
            await _a.PutSecretAsync(_world.Admin, $"apps/s{i}", new { password = "p" });
        }

        var events = await stream.ReadAsync(5, Wait);
        await using var resumed = await SseStream.OpenAsync(_b, _world.Admin, "/v1/events", lastEventId: events[1].Id);
        var missed = await resumed.ReadAsync(3, Wait);

        // Assert
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"apps/s{i}"), events.Select(e => e.Data.GetProperty("path").GetString()));
        Assert.Equal(events.Select(e => e.Id).Order(), events.Select(e => e.Id));
        Assert.Equal(events.Skip(2).Select(e => e.Id), missed.Select(e => e.Id));
    }

    [Fact]
    public async Task KeyRotatedOnA_SecretsWrittenOnEitherNode_ReadOnTheOther()
    {
        // Arrange: B holds the tenant's key ring
        await _a.PutSecretAsync(_world.Admin, "apps/before", new { password = "before" });
        Assert.Equal("before", await ReadPasswordAsync(_b, "apps/before"));

        // Act
        using (var root = _a.Client())
        {
            Assert.Equal(HttpStatusCode.OK, (await root.PostAsync("/v1/tenants/acme/rotate-key", null)).StatusCode);
        }

        await _a.PutSecretAsync(_world.Admin, "apps/after-a", new { password = "after-a" });
        await _b.PutSecretAsync(_world.Admin, "apps/after-b", new { password = "after-b" });

        // Assert
        Assert.Equal("after-a", await ReadPasswordAsync(_b, "apps/after-a"));
        Assert.Equal("after-b", await ReadPasswordAsync(_a, "apps/after-b"));
        Assert.Equal("before", await ReadPasswordAsync(_a, "apps/before"));
    }

    [Fact]
    public async Task ConcurrentWritesOnBothNodes_FormOneValidAuditChain()
    {
        var writes = Enumerable.Range(0, 40).Select(i => (i % 2 == 0 ? _a : _b).PutSecretAsync(_world.Admin, $"apps/c{i}", new { password = $"p{i}" }));
        await Task.WhenAll(writes);

        var verify = await Problems.JsonAsync(await _b.Client().GetAsync("/v1/sys/audit/verify"));

        Assert.True(verify.GetProperty("ok").GetBoolean(), verify.GetRawText());
    }

    [Fact]
    public async Task DevMode_OnPostgres_CreatesTheDirectoryForItsKeyBeforeInitializing()
    {
        // Arrange: a fresh database and a data directory that does not exist yet
        var cluster = await PostgresCluster.GetAsync();
        var database = await cluster.CreateDatabaseAsync();
        var directory = Path.Combine(_data.Path, "not", "yet");
        try
        {
            // Act
            await using (var host = await KeywardTestHost.StartAsync(new KeywardServerOptions
            {
                Dev = true,
                DevRootToken = KeywardTestHost.RootToken,
                DataDirectory = directory,
                Storage = KeywardServerOptions.PostgresStorage,
                PostgresConnectionString = cluster.ConnectionString(database),
            }))
            {
                await host.CreateTenantAsync("fresh");
            }

            // Assert: the key share was kept, and a restart unseals with it
            Assert.True(File.Exists(Path.Combine(directory, "dev-unseal.key")));
            await using var again = await KeywardTestHost.StartAsync(new KeywardServerOptions
            {
                Dev = true,
                DevRootToken = KeywardTestHost.RootToken,
                DataDirectory = directory,
                Storage = KeywardServerOptions.PostgresStorage,
                PostgresConnectionString = cluster.ConnectionString(database),
            });
            Assert.Equal(HttpStatusCode.OK, (await again.Client().GetAsync("/v1/tenants/fresh")).StatusCode);
        }
        finally
        {
            await cluster.DropDatabaseAsync(database);
        }
    }

    private async Task<string?> ReadPasswordAsync(KeywardTestHost node, string path)
    {
        using var client = node.Client(_world.Admin);
        var read = await Problems.JsonAsync(await client.GetAsync($"/v1/secrets/{path}"));
        return read.GetProperty("data").GetProperty("password").GetString();
    }

    private static async Task<HttpStatusCode> ReadStatusAsync(KeywardTestHost node, string token, string path)
    {
        using var client = node.Client(token);
        using var response = await client.GetAsync($"/v1/secrets/{path}");
        return response.StatusCode;
    }
}
