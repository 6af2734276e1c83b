using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Core.Events;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests.Rotation;

/// <summary>
/// The anomaly rules' rotation (<c>rotate_exposed</c> in <c>PUT /v1/settings/anomalies</c>): when a rule locks down a
/// subtree, every secret with a generator that the locked-down tokens could read is rotated and promoted at once, in
/// the lockdown's transaction; secrets out of their reach, and secrets without a generator, are left alone.
/// </summary>
public sealed class ExposureRotationTests : IAsyncLifetime
{
    private const string Exposed = "apps/web/db";
    private const string NoGenerator = "apps/web/plain";
    private const string OutOfReach = "other/db";

    private KeywardTestHost _host = null!;
    private AgentWorld _world = null!;
    private AuditLog _audit = null!;

    public async Task InitializeAsync()
    {
        _host = await KeywardTestHost.StartAsync();
        _world = await AgentWorld.CreateAsync(_host, "acme");
        _audit = new AuditLog(_host, _world.Admin, "/v1/audit");
        foreach (var path in new[] { Exposed, NoGenerator, OutOfReach })
        {
            await _host.PutSecretAsync(_world.Admin, path, new { username = "app", password = "v1-" + path });
        }

        foreach (var path in new[] { Exposed, OutOfReach })
        {
            using var client = _host.Client(_world.Admin);
            var response = await client.PutAsJsonAsync($"/v1/secret-metadata/{path}", new { rotation = new { generator = new { kind = "random", length = 32, fields = new[] { "password" } } } });
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task DenyThreshold_WithRotateExposed_RotatesWhatTheAgentCouldRead_InTheLockdown()
    {
        // Arrange
        var settings = await PutSettingsAsync(new { deny_threshold = new { count = 2, window = "60s" }, rotate_exposed = true });
        var agent = await _world.StartAgentAsync("agent-a", "run-1", role: "worker");
        var seen = await ReadAsync(agent.Token, Exposed);

        // Act: two reads outside its rules lock the agent's subtree down
        for (var i = 0; i < 2; i++)
        {
            using var denied = await _world.GetAsync(agent.Token, $"/v1/secrets/{OutOfReach}");
            await Problems.AssertProblemAsync(denied, HttpStatusCode.Forbidden, "permission_denied");
        }

        // Assert: the exposed secret has a new current value (the generated field only) and the old one is previous
        Assert.True(settings.GetProperty("rotate_exposed").GetBoolean());
        var current = await ReadAsync(_world.Admin, Exposed);
        Assert.Equal((2L, 2L), (current.GetProperty("version").GetInt64(), current.GetProperty("epoch").GetInt64()));
        Assert.NotEqual(Password(seen), Password(current));
        Assert.Equal(32, Password(current).Length);
        Assert.Equal("app", current.GetProperty("data").GetProperty("username").GetString());
        Assert.Equal(Password(seen), Password(await ReadAsync(_world.Admin, Exposed + "?stage=previous")));
        Assert.Equal(1L, (await ReadAsync(_world.Admin, NoGenerator)).GetProperty("version").GetInt64());
        Assert.Equal(1L, (await ReadAsync(_world.Admin, OutOfReach)).GetProperty("version").GetInt64());
        using (var refused = await _world.GetAsync(agent.Token, $"/v1/secrets/{Exposed}"))
        {
            await Problems.AssertProblemAsync(refused, HttpStatusCode.Unauthorized, "token_revoked");
        }

        var lockdown = Assert.Single(await _audit.RefreshAsync(), r => r.GetProperty("operation").GetString() == "anomaly.lockdown");
        Assert.Equal("1", lockdown.GetProperty("details").GetProperty("rotated_exposed").GetString());
        var rotated = Assert.Single(await RotatedEventsAsync());
        Assert.Equal((Exposed, "current", "anomaly"), (rotated.GetProperty("path").GetString(), rotated.GetProperty("stage").GetString(), rotated.GetProperty("reason").GetString()));
        Assert.DoesNotContain(Password(current), rotated.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DenyThreshold_WithoutRotateExposed_LocksDownButRotatesNothing()
    {
        // Arrange
        var settings = await PutSettingsAsync(new { deny_threshold = new { count = 2, window = "60s" } });
        var agent = await _world.StartAgentAsync("agent-a", "run-1", role: "worker");

        // Act
        for (var i = 0; i < 2; i++)
        {
            (await _world.GetAsync(agent.Token, $"/v1/secrets/{OutOfReach}")).Dispose();
        }

        // Assert
        Assert.False(settings.GetProperty("rotate_exposed").GetBoolean());
        Assert.Equal(HttpStatusCode.Unauthorized, await _world.ReadStatusAsync(agent.Token, Exposed));
        Assert.Equal(1L, (await ReadAsync(_world.Admin, Exposed)).GetProperty("version").GetInt64());
        Assert.Empty(await RotatedEventsAsync());
    }

    [Fact]
    public async Task BootstrapReplay_WithRotateExposed_RotatesWhatTheLeakedSessionCouldRead()
    {
        // Arrange: a bootstrap token for a worker (reads apps/web/**) is used twice
        await PutSettingsAsync(new { lockdown_on_bootstrap_replay = true, rotate_exposed = true });
        var minter = await _host.MintTokenAsync("acme", "orchestrator");
        var bootstrap = await _world.BootstrapAsync("agent-x", "run-2", "worker", orchestrator: minter);
        var first = await _world.ExchangeAsync(bootstrap);
        var seen = await ReadAsync(first.Token, Exposed);

        // Act
        using var replay = await _world.ExchangeRawAsync(bootstrap);

        // Assert
        await Problems.AssertProblemAsync(replay, HttpStatusCode.Conflict, "bootstrap_replayed");
        var current = await ReadAsync(_world.Admin, Exposed);
        Assert.Equal(2L, current.GetProperty("version").GetInt64());
        Assert.NotEqual(Password(seen), Password(current));
        Assert.Equal(1L, (await ReadAsync(_world.Admin, OutOfReach)).GetProperty("version").GetInt64());
        Assert.Equal(Exposed, Assert.Single(await RotatedEventsAsync()).GetProperty("path").GetString());
    }

    [Fact]
    public async Task RotateExposed_MustBeABoolean()
    {
        using var client = _host.Client(_world.Admin);
        using var content = new StringContent("""{"rotate_exposed": "yes"}""", System.Text.Encoding.UTF8, "application/json");

        var response = await client.PutAsync("/v1/settings/anomalies", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.False((await Problems.JsonAsync(await client.GetAsync("/v1/settings/anomalies"))).GetProperty("rotate_exposed").GetBoolean());
    }

    private async Task<JsonElement> PutSettingsAsync(object body)
    {
        using var client = _host.Client(_world.Admin);
        var response = await client.PutAsJsonAsync("/v1/settings/anomalies", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await Problems.JsonAsync(response);
    }

    private async Task<JsonElement> ReadAsync(string token, string pathAndQuery)
    {
        using var response = await _world.GetAsync(token, $"/v1/secrets/{pathAndQuery}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await Problems.JsonAsync(response);
    }

    private static string Password(JsonElement read) => read.GetProperty("data").GetProperty("password").GetString()!;

    private async Task<List<JsonElement>> RotatedEventsAsync() =>
        (await TestLeaseEngine.ReadEventsAsync(_host, "acme"))
            .Where(e => e.Type == EventTypes.SecretRotated)
            .Select(e => JsonDocument.Parse(e.Data).RootElement.Clone())
            .ToList();
}
