using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Tests.Common;
using Xunit.Abstractions;

namespace Keyward.Tests.Durability;

/// <summary>
/// An acknowledged write survives kill -9: a real <c>keyward server</c> process takes concurrent writes, is killed
/// with SIGKILL mid-stream, restarts on the same data, and every acknowledged version is readable with its value,
/// has its audit record, and the audit chain verifies.
/// </summary>
public sealed class CrashDurabilityTests(ITestOutputHelper output)
{
    private const int Writers = 8;
    private const int Crashes = 2;

    [Fact]
    public async Task KillDashNine_DuringConcurrentWrites_LosesNoAcknowledgedWriteAndKeepsTheChain()
    {
        using var data = new TempDirectory();
        var acknowledged = new ConcurrentBag<(string Path, long Version, string Value)>();
        string admin;
        var port = KeywardProcess.FreePort();

        await using (var first = await KeywardProcess.StartDevAsync(data.Path, port: port))
        {
            using var root = first.Client();
            (await root.PostAsJsonAsync("/v1/tenants", new { id = "acme" })).EnsureSuccessStatusCode();
            var minted = await Problems.JsonAsync(await root.PostAsJsonAsync("/v1/tenants/acme/tokens", new { kind = "admin", ttl = "1h" }));
            admin = minted.GetProperty("token").GetString()!;
        }

        for (var crash = 0; crash < Crashes; crash++)
        {
            await using var server = await KeywardProcess.StartDevAsync(data.Path, port: port);
            using var stop = new CancellationTokenSource();
            var writers = Enumerable.Range(0, Writers).Select(w => WriteUntilCancelledAsync(server, admin, $"load/c{crash}/w{w}", acknowledged, stop.Token)).ToArray();

            // Let a few hundred writes through, then pull the plug while requests are in flight.
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (acknowledged.Count < (crash + 1) * 200 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }

            server.KillHard();
            await stop.CancelAsync();
            await Task.WhenAll(writers);
            output.WriteLine($"crash {crash}: {acknowledged.Count} acknowledged writes so far");
        }

        Assert.True(acknowledged.Count >= 200, $"only {acknowledged.Count} writes were acknowledged before the crashes");

        await using var survivor = await KeywardProcess.StartDevAsync(data.Path, port: port);
        using var client = survivor.Client(admin);
        foreach (var (path, version, value) in acknowledged)
        {
            var read = await Problems.JsonAsync(await client.GetAsync($"/v1/secrets/{path}?version={version}"));
            Assert.Equal(value, read.GetProperty("data").GetProperty("v").GetString());
        }

        var audited = await AuditedWrites.ReadAsync(client);
        foreach (var (path, version, _) in acknowledged)
        {
            Assert.True(audited.Contains((path, version)), $"acknowledged write {path}#{version} has no audit record");
        }

        using var root2 = survivor.Client();
        var verify = await Problems.JsonAsync(await root2.GetAsync("/v1/sys/audit/verify"));
        Assert.True(verify.GetProperty("ok").GetBoolean(), verify.GetRawText());
    }

    private static async Task WriteUntilCancelledAsync(
        KeywardProcess server, string token, string path, ConcurrentBag<(string, long, string)> acknowledged, CancellationToken stop)
    {
        using var client = server.Client(token);
        client.Timeout = TimeSpan.FromSeconds(10);

        // Keep every version (the default cap of 10 would prune the ones this test checks).
        (await client.PutAsJsonAsync($"/v1/secret-metadata/{path}", new { max_versions = 1000 }, stop)).EnsureSuccessStatusCode();
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var value = $"{path}:{i}:{Guid.NewGuid():N}";
            try
            {
                using var response = await client.PutAsJsonAsync($"/v1/secrets/{path}", new { data = new { v = value } }, stop);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    continue;
                }

                using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(stop));
                acknowledged.Add((path, body.RootElement.GetProperty("version").GetInt64(), value));
            }
            catch (Exception error) when (error is HttpRequestException or OperationCanceledException or IOException)
            {
                // The server died mid-request: this write was never acknowledged.
                if (stop.IsCancellationRequested || server.HasExited)
                {
                    return;
                }
            }
        }
    }
}
