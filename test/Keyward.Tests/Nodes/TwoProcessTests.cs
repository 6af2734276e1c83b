using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Tests.Common;
using Xunit.Abstractions;

namespace Keyward.Tests.Nodes;

/// <summary>
/// Two real <c>keyward server --storage postgres</c> processes on one real PostgreSQL database: writes through either
/// are read through the other; one node is killed with SIGKILL while both take writes, the other keeps serving, and
/// every write either node acknowledged is readable, audited, and the audit chain verifies.
/// </summary>
public sealed class TwoProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int WritersPerNode = 4;

    private readonly TempDirectory _data = new("keyward-nodes-");
    private string _database = null!;
    private string _connectionString = null!;

    public async Task InitializeAsync()
    {
        var cluster = await PostgresCluster.GetAsync();
        _database = await cluster.CreateDatabaseAsync();
        _connectionString = cluster.ConnectionString(_database);
    }

    public async Task DisposeAsync()
    {
        await (await PostgresCluster.GetAsync()).DropDatabaseAsync(_database);
        _data.Dispose();
    }

    [Fact]
    public async Task KillOneNodeMidTraffic_TheOtherKeepsServing_NoAcknowledgedWriteIsLost()
    {
        // Arrange: node A initializes the store (dev mode; the dev unseal key in the shared directory), node B joins
        await using var a = await StartNodeAsync();
        await using var b = await StartNodeAsync();
        string admin;
        using (var root = a.Client())
        {
            (await root.PostAsJsonAsync("/v1/tenants", new { id = "acme" })).EnsureSuccessStatusCode();
            admin = (await Problems.JsonAsync(await root.PostAsJsonAsync("/v1/tenants/acme/tokens", new { kind = "admin", ttl = "1h" })))
                .GetProperty("token").GetString()!;
        }

        using (var viaB = b.Client(admin))
        {
            (await viaB.PutAsJsonAsync("/v1/secrets/apps/hello", new { data = new { v = "from-b" } })).EnsureSuccessStatusCode();
        }

        using (var viaA = a.Client(admin))
        {
            var read = await Problems.JsonAsync(await viaA.GetAsync("/v1/secrets/apps/hello"));
            Assert.Equal("from-b", read.GetProperty("data").GetProperty("v").GetString());
        }

        // Act: both nodes take writes; A is killed mid-stream; B goes on
        var acknowledged = new ConcurrentBag<(string Path, long Version, string Value)>();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, WritersPerNode)
            .SelectMany(w => new[]
            {
                WriteUntilStoppedAsync(a, admin, $"load/a{w}", acknowledged, stop.Token),
                WriteUntilStoppedAsync(b, admin, $"load/b{w}", acknowledged, stop.Token),
            })
            .ToArray();
        await WaitForAsync(() => acknowledged.Count >= 200);
        a.KillHard();
        var atKill = acknowledged.Count(w => w.Path.StartsWith("load/b", StringComparison.Ordinal));
        await WaitForAsync(() => acknowledged.Count(w => w.Path.StartsWith("load/b", StringComparison.Ordinal)) >= atKill + 100);
        await stop.CancelAsync();
        await Task.WhenAll(writers);
        output.WriteLine($"{acknowledged.Count} acknowledged writes; {atKill} through B when A was killed");

        // Assert: B serves every acknowledged write of both nodes, each audited, and the chain verifies
        Assert.True(a.HasExited);
        using var client = b.Client(admin);
        foreach (var (path, version, value) in acknowledged)
        {
            var read = await Problems.JsonAsync(await client.GetAsync($"/v1/secrets/{path}?version={version}"));
            Assert.Equal(value, read.GetProperty("data").GetProperty("v").GetString());
        }

        var audited = await AuditedWrites.ReadAsync(client);
        Assert.All(acknowledged, w => Assert.Contains((w.Path, w.Version), audited));
        using var root2 = b.Client();
        var verify = await Problems.JsonAsync(await root2.GetAsync("/v1/sys/audit/verify"));
        Assert.True(verify.GetProperty("ok").GetBoolean(), verify.GetRawText());
    }

    private Task<KeywardProcess> StartNodeAsync() =>
        KeywardProcess.StartAsync(
            _data.Path, KeywardProcess.FreePort(),
            ["--dev", "--dev-root-token", KeywardTestHost.RootToken, "--storage", "postgres", "--pg", _connectionString]);

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the writers made no progress within 30 s");
            await Task.Delay(20);
        }
    }

    private static async Task WriteUntilStoppedAsync(
        KeywardProcess node, string token, string path, ConcurrentBag<(string, long, string)> acknowledged, CancellationToken stop)
    {
        using var client = node.Client(token);
        client.Timeout = TimeSpan.FromSeconds(10);
        (await client.PutAsJsonAsync($"/v1/secret-metadata/{path}", new { max_versions = 1000 }, stop)).EnsureSuccessStatusCode();
        while (!stop.IsCancellationRequested && !node.HasExited)
        {
            var value = $"{path}:{Guid.NewGuid():N}";
            try
            {
                using var response = await client.PutAsJsonAsync($"/v1/secrets/{path}", new { data = new { v = value } }, stop);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(stop));
                    acknowledged.Add((path, body.RootElement.GetProperty("version").GetInt64(), value));
                }
            }
            catch (Exception error) when (error is HttpRequestException or OperationCanceledException or IOException)
            {
                // The node died mid-request, or the test is stopping: this write was never acknowledged.
            }
        }
    }
}
