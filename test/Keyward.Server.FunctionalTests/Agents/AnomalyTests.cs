using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Core.Events;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests.Agents;

/// <summary>
/// Anomaly signals: requests outside a token's rules, bootstrap replay, use after run completion and renew after
/// revoke are audited with their anomaly and published as <c>anomaly</c> events; the tenant's settings can turn
/// denials and replays into an automatic lockdown of the offending subtree — never of the tenant.
/// </summary>
public sealed class AnomalyTests : IAsyncLifetime
{
    private KeywardTestHost _host = null!;
    private AgentWorld _world = null!;
    private AuditLog _audit = null!;

    public async Task InitializeAsync()
    {
        _host = await KeywardTestHost.StartAsync();
        _world = await AgentWorld.CreateAsync(_host, "acme");
        _audit = new AuditLog(_host, _world.Admin, "/v1/audit");
        await _host.PutSecretAsync(_world.Admin, "apps/web/db", new { password = "p" });
        await _host.PutSecretAsync(_world.Admin, "other/db", new { password = "q" });
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static string RequestId(HttpResponseMessage response) => response.Headers.GetValues("X-Request-Id").Single();

    private async Task<HttpResponseMessage> PutSettingsAsync(string? token, object body)
    {
        using var client = _host.Client(token);
        return await client.PutAsJsonAsync("/v1/settings/anomalies", body);
    }

    private async Task<JsonElement> RecordAsync(HttpResponseMessage response, string operation)
    {
        var records = await _audit.ForRequestAsync(RequestId(response));
        return Assert.Single(records, r => r.GetProperty("operation").GetString() == operation);
    }

    private static string? Anomaly(JsonElement record) =>
        record.GetProperty("anomaly").ValueKind == JsonValueKind.Null ? null : record.GetProperty("anomaly").GetString();

    private async Task<List<(EventRecord Event, JsonElement Data)>> AnomalyEventsAsync()
    {
        var events = await TestLeaseEngine.ReadEventsAsync(_host, "acme");
        return events.Where(e => e.Type == EventTypes.Anomaly).Select(e => (e, JsonDocument.Parse(e.Data).RootElement.Clone())).ToList();
    }

    private async Task<HttpResponseMessage> DeniedReadAsync(AgentSessionInfo agent)
    {
        var response = await _world.GetAsync(agent.Token, "/v1/secrets/other/db");
        await Problems.AssertProblemAsync(response, HttpStatusCode.Forbidden, "permission_denied");
        return response;
    }

    [Fact]
    public async Task DeniedRequestOfAnAgent_AuditedOutOfScope_EventPublished()
    {
        var agent = await _world.StartAgentAsync("agent-1", "run-1", "worker");

        var response = await DeniedReadAsync(agent);

        var record = await RecordAsync(response, "secret.read");
        Assert.Equal(("out_of_scope", "denied", 403), (Anomaly(record), record.GetProperty("outcome").GetString(), record.GetProperty("status").GetInt32()));
        Assert.Equal(agent.Accessor, record.GetProperty("actor").GetProperty("accessor").GetString());
        var (anomaly, data) = Assert.Single(await AnomalyEventsAsync());
        Assert.Equal(("out_of_scope", agent.Accessor, "agent-1", "run-1"), (data.GetProperty("anomaly").GetString(), anomaly.SubjectAccessor, data.GetProperty("agent_id").GetString(), data.GetProperty("run_id").GetString()));
        Assert.Equal(RequestId(response), data.GetProperty("request_id").GetString());

        // An allowed read is no anomaly; neither is an orchestrator's refusal (only agents are counted).
        using var allowed = await _world.GetAsync(agent.Token, "/v1/secrets/apps/web/db");
        Assert.Null(Anomaly(await RecordAsync(allowed, "secret.read")));
        using var orchestrator = await _world.GetAsync(_world.Orchestrator, "/v1/secrets/other/db");
        Assert.Equal(HttpStatusCode.Forbidden, orchestrator.StatusCode);
        Assert.Null(Anomaly(await RecordAsync(orchestrator, "secret.read")));
        Assert.Single(await AnomalyEventsAsync());
    }

    [Fact]
    public async Task DenyThreshold_ThirdDenialRevokesTheAgentsSubtree_NotItsSiblingNorTheTenant()
    {
        using (var put = await PutSettingsAsync(_world.Admin, new { deny_threshold = new { count = 3, window = "60s" } }))
        {
            var body = await Problems.JsonAsync(put);
            Assert.Equal(3, body.GetProperty("deny_threshold").GetProperty("count").GetInt32());
            Assert.Equal(60, body.GetProperty("deny_threshold").GetProperty("window").GetInt64());
        }

        var agent = await _world.StartAgentAsync("agent-a", "run-1");
        var child = await _world.SpawnAsync(agent, "agent-a1", "worker");
        var sibling = await _world.StartAgentAsync("agent-b", "run-1");

        // Denials are counted per agent: two each, nobody reaches three.
        for (var i = 0; i < 2; i++)
        {
            (await DeniedReadAsync(agent)).Dispose();
            (await DeniedReadAsync(sibling)).Dispose();
            (await DeniedReadAsync(child)).Dispose();
        }

        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(agent.Token, "apps/web/db"));
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(child.Token, "apps/web/db"));

        using var third = await DeniedReadAsync(agent);

        foreach (var gone in new[] { agent, child })
        {
            using var refused = await _world.GetAsync(gone.Token, "/v1/secrets/apps/web/db");
            await Problems.AssertProblemAsync(refused, HttpStatusCode.Unauthorized, "token_revoked");
        }

        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(sibling.Token, "apps/web/db"));
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync((await _world.StartAgentAsync("agent-c", "run-2")).Token, "apps/web/db"));
        using (var admin = await _world.GetAsync(_world.Admin, "/v1/roles"))
        {
            Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        }

        var trigger = await RecordAsync(third, "secret.read");
        Assert.Equal("out_of_scope", Anomaly(trigger));
        Assert.Equal("subtree", trigger.GetProperty("details").GetProperty("auto_lockdown").GetString());
        var lockdown = await RecordAsync(third, "anomaly.lockdown");
        Assert.Equal("out_of_scope", Anomaly(lockdown));
        var events = await TestLeaseEngine.ReadEventsAsync(_host, "acme");
        var revoked = Assert.Single(events, e => e.Type == EventTypes.TokenRevoked);
        Assert.Equal(agent.Accessor, revoked.SubjectAccessor);
        Assert.Equal("anomaly", JsonDocument.Parse(revoked.Data).RootElement.GetProperty("reason").GetString());
        Assert.DoesNotContain(events, e => e.Type == EventTypes.TenantLockdown);
    }

    [Fact]
    public async Task DenyThreshold_Off_ManyDenialsRevokeNothing()
    {
        var agent = await _world.StartAgentAsync("agent-a", "run-1");

        for (var i = 0; i < 12; i++)
        {
            (await DeniedReadAsync(agent)).Dispose();
        }

        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(agent.Token, "apps/web/db"));
        Assert.Equal(12, (await AnomalyEventsAsync()).Count);
    }

    [Fact]
    public async Task BootstrapReplay_WithLockdownSetting_RevokesTheMintersSubtree()
    {
        using (var put = await PutSettingsAsync(_world.Admin, new { lockdown_on_bootstrap_replay = true }))
        {
            Assert.True((await Problems.JsonAsync(put)).GetProperty("lockdown_on_bootstrap_replay").GetBoolean());
        }

        var minter = await _host.MintTokenAsync("acme", "orchestrator");
        var other = await _world.StartAgentAsync("agent-other", "run-1");
        var sameMinter = await _world.StartAgentAsync("agent-y", "run-2", orchestrator: minter);
        var bootstrap = await _world.BootstrapAsync("agent-x", "run-2", "lead", orchestrator: minter);
        var first = await _world.ExchangeAsync(bootstrap);
        var minterAccessor = (await Problems.JsonAsync(await _world.GetAsync(minter, "/v1/auth/self"))).GetProperty("accessor").GetString();

        using var replay = await _world.ExchangeRawAsync(bootstrap);

        await Problems.AssertProblemAsync(replay, HttpStatusCode.Conflict, "bootstrap_replayed");
        foreach (var token in new[] { first.Token, sameMinter.Token, minter })
        {
            using var refused = await _world.GetAsync(token, "/v1/auth/self");
            await Problems.AssertProblemAsync(refused, HttpStatusCode.Unauthorized, "token_revoked");
        }

        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(other.Token, "apps/web/db"));
        using (var orchestrator = await _world.GetAsync(_world.Orchestrator, "/v1/auth/self"))
        {
            Assert.Equal(HttpStatusCode.OK, orchestrator.StatusCode);
        }

        var record = await RecordAsync(replay, "auth.exchange");
        Assert.Equal("bootstrap_replay", Anomaly(record));
        Assert.Equal(minterAccessor, record.GetProperty("details").GetProperty("auto_lockdown_accessor").GetString());
        Assert.Contains(await AnomalyEventsAsync(), e => e.Data.GetProperty("anomaly").GetString() == "bootstrap_replay");
    }

    [Fact]
    public async Task BootstrapReplay_WithoutLockdownSetting_RevokesOnlyTheProducedSession()
    {
        var minter = await _host.MintTokenAsync("acme", "orchestrator");
        var sameMinter = await _world.StartAgentAsync("agent-y", "run-2", orchestrator: minter);
        var bootstrap = await _world.BootstrapAsync("agent-x", "run-2", "lead", orchestrator: minter);
        var first = await _world.ExchangeAsync(bootstrap);

        using var replay = await _world.ExchangeRawAsync(bootstrap);

        await Problems.AssertProblemAsync(replay, HttpStatusCode.Conflict, "bootstrap_replayed");
        using (var refused = await _world.GetAsync(first.Token, "/v1/auth/self"))
        {
            await Problems.AssertProblemAsync(refused, HttpStatusCode.Unauthorized, "token_revoked");
        }

        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(sameMinter.Token, "apps/web/db"));
        using (var self = await _world.GetAsync(minter, "/v1/auth/self"))
        {
            Assert.Equal(HttpStatusCode.OK, self.StatusCode);
        }

        var record = await RecordAsync(replay, "auth.exchange");
        Assert.Equal("bootstrap_replay", Anomaly(record));
        Assert.False(record.GetProperty("details").TryGetProperty("auto_lockdown_accessor", out _));
    }

    [Fact]
    public async Task UseAfterRunComplete_Audited()
    {
        var agent = await _world.StartAgentAsync("agent-1", "run-done");
        var selfRevoked = await _world.StartAgentAsync("agent-2", "run-other");
        using (var complete = await _world.PostAsync(_world.Orchestrator, "/v1/runs/run-done/complete"))
        {
            Assert.True((await Problems.JsonAsync(complete)).GetProperty("revoked_tokens").GetInt32() >= 1);
        }

        using (var revokeSelf = await _world.PostAsync(selfRevoked.Token, "/v1/auth/revoke-self"))
        {
            Assert.Equal(HttpStatusCode.NoContent, revokeSelf.StatusCode);
        }

        using var late = await _world.GetAsync(agent.Token, "/v1/secrets/apps/web/db");
        using var lateOther = await _world.GetAsync(selfRevoked.Token, "/v1/secrets/apps/web/db");

        await Problems.AssertProblemAsync(late, HttpStatusCode.Unauthorized, "token_revoked");
        await Problems.AssertProblemAsync(lateOther, HttpStatusCode.Unauthorized, "token_revoked");
        var record = await RecordAsync(late, "secret.read");
        Assert.Equal("use_after_run_complete", Anomaly(record));
        Assert.Equal(agent.Accessor, record.GetProperty("actor").GetProperty("accessor").GetString());
        Assert.Null(Anomaly(await RecordAsync(lateOther, "secret.read")));
        var (anomaly, data) = Assert.Single(await AnomalyEventsAsync());
        Assert.Equal(("use_after_run_complete", agent.Accessor), (data.GetProperty("anomaly").GetString(), anomaly.SubjectAccessor));
    }

    [Fact]
    public async Task RenewAfterRevoke_Audited()
    {
        var agent = await _world.StartAgentAsync("agent-1", "run-1");
        var live = await _world.StartAgentAsync("agent-2", "run-1");
        using (var revoke = await _world.PostAsync(agent.Token, "/v1/auth/revoke-self"))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }

        using var renew = await _world.PostAsync(agent.Token, "/v1/auth/renew", new { increment = "5m" });
        using var liveRenew = await _world.PostAsync(live.Token, "/v1/auth/renew", new { increment = "5m" });

        await Problems.AssertProblemAsync(renew, HttpStatusCode.Unauthorized, "token_revoked");
        Assert.Equal(HttpStatusCode.OK, liveRenew.StatusCode);
        Assert.Equal("renew_after_revoke", Anomaly(await RecordAsync(renew, "auth.renew")));
        Assert.Null(Anomaly(await RecordAsync(liveRenew, "auth.renew")));
        var (anomaly, data) = Assert.Single(await AnomalyEventsAsync());
        Assert.Equal(("renew_after_revoke", agent.Accessor), (data.GetProperty("anomaly").GetString(), anomaly.SubjectAccessor));
    }

    [Theory]
    [InlineData("""{"deny_threshold": {"count": 0, "window": "60s"}}""", "invalid_field")]
    [InlineData("""{"deny_threshold": {"count": -1, "window": "60s"}}""", "invalid_field")]
    [InlineData("""{"deny_threshold": {"count": 10001, "window": "60s"}}""", "invalid_field")]
    [InlineData("""{"deny_threshold": {"count": 3, "window": "2h"}}""", "invalid_field")]
    [InlineData("""{"deny_threshold": {"count": 3, "window": "0s"}}""", "invalid_duration")]
    [InlineData("""{"deny_threshold": {"count": 3}}""", "invalid_field")]
    [InlineData("""{"deny_threshold": {"window": "60s"}}""", "invalid_field")]
    [InlineData("""{"deny_treshold": {"count": 3, "window": "60s"}}""", "unknown_field")]
    [InlineData("""{"deny_threshold": {"count": 3, "window": "60s", "scope": "tenant"}}""", "unknown_field")]
    [InlineData("""{"lockdown_on_bootstrap_replay": true, "lockdown_tenant": true}""", "unknown_field")]
    public async Task Settings_Invalid_Refused400_SettingsUnchanged(string body, string code)
    {
        using (var put = await PutSettingsAsync(_world.Admin, new { lockdown_on_bootstrap_replay = true, deny_threshold = new { count = 5, window = "30s" } }))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using var client = _host.Client(_world.Admin);
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");

        var response = await client.PutAsync("/v1/settings/anomalies", content);

        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        var stored = await Problems.JsonAsync(await client.GetAsync("/v1/settings/anomalies"));
        Assert.True(stored.GetProperty("lockdown_on_bootstrap_replay").GetBoolean());
        Assert.Equal((5, 30L), (stored.GetProperty("deny_threshold").GetProperty("count").GetInt32(), stored.GetProperty("deny_threshold").GetProperty("window").GetInt64()));
    }

    [Fact]
    public async Task Settings_NeedAnAdminToken()
    {
        var agent = await _world.StartAgentAsync("agent-1", "run-1");
        var body = new { deny_threshold = new { count = 1, window = "60s" } };

        await Problems.AssertProblemAsync(await PutSettingsAsync(_world.Orchestrator, body), HttpStatusCode.Forbidden, "admin_token_required");
        await Problems.AssertProblemAsync(await PutSettingsAsync(agent.Token, body), HttpStatusCode.Forbidden, "admin_token_required");
        await Problems.AssertProblemAsync(await PutSettingsAsync(KeywardTestHost.RootToken, body), HttpStatusCode.Forbidden, "tenant_token_required");
        await Problems.AssertProblemAsync(await _world.GetAsync(_world.Orchestrator, "/v1/settings/anomalies"), HttpStatusCode.Forbidden, "admin_token_required");
        await Problems.AssertProblemAsync(await PutSettingsAsync(null, body), HttpStatusCode.Unauthorized, "missing_token");

        // Nothing was stored: the defaults, and the agent's own refusals did not lock it out.
        var stored = await Problems.JsonAsync(await _world.GetAsync(_world.Admin, "/v1/settings/anomalies"));
        Assert.False(stored.GetProperty("lockdown_on_bootstrap_replay").GetBoolean());
        Assert.Equal(JsonValueKind.Null, stored.GetProperty("deny_threshold").ValueKind);
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(agent.Token, "apps/web/db"));
    }

    [Fact]
    public async Task Settings_AreThePerTenantsOwn()
    {
        var globex = await AgentWorld.CreateAsync(_host, "globex");
        await _host.PutSecretAsync(globex.Admin, "other/db", new { password = "g" });
        await _host.PutSecretAsync(globex.Admin, "apps/web/db", new { password = "h" });
        using (var put = await PutSettingsAsync(_world.Admin, new { deny_threshold = new { count = 1, window = "60s" } }))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        var globexAgent = await globex.StartAgentAsync("agent-1", "run-1");
        using (var denied = await globex.GetAsync(globexAgent.Token, "/v1/secrets/other/db"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, await globex.ReadStatusAsync(globexAgent.Token, "apps/web/db"));
        var globexSettings = await Problems.JsonAsync(await globex.GetAsync(globex.Admin, "/v1/settings/anomalies"));
        Assert.Equal(JsonValueKind.Null, globexSettings.GetProperty("deny_threshold").ValueKind);
    }
}
