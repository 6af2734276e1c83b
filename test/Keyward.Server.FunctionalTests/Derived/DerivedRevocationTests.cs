using System.Net;
using System.Net.Http.Json;
using Keyward.Client;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests.Derived;

/// <summary>
/// Derived (<c>kwd_</c>) tokens revoked one by one, and what they may call: a token's id (a hash of its final tag, under
/// its session) is named in its audit records and revoked by <c>POST /v1/auth/revoke {derived_id}</c> — that token and
/// every token derived from it, never the session or its other tokens; anomalies through a derived token revoke that
/// token, not its session (unless the tenant says so); a <c>tool</c> caveat lets the token call that one integration.
/// </summary>
public sealed class DerivedRevocationTests : IAsyncLifetime
{
    private KeywardTestHost _host = null!;
    private LoopbackUpstream _upstream = null!;
    private AgentWorld _world = null!;
    private AgentWorld _other = null!;

    private static TokenCaveat InAnHour => TokenCaveat.ExpiresAt(DateTimeOffset.UtcNow.AddHours(1));

    public async Task InitializeAsync()
    {
        _upstream = await LoopbackUpstream.StartAsync();
        _upstream.Secret = "sk-crm-0123456789abcdef";
        _host = await KeywardTestHost.StartAsync();
        _world = await AgentWorld.CreateAsync(_host, "acme");
        _other = await AgentWorld.CreateAsync(_host, "globex");
        await _world.PutRoleAsync("caller", [AgentWorld.Rule("apps/**", "read", "list", "use")], "1h", "caller");
        await _host.PutSecretAsync(_world.Admin, "apps/web/db", new { password = "web-canary" });
        await _host.PutSecretAsync(_world.Admin, "apps/tools/crm", new { api_key = "sk-crm-0123456789abcdef" });
        await _host.PutSecretAsync(_world.Admin, "apps/tools/billing", new { api_key = "sk-billing-0123456789abcdef" });
        await PutIntegrationAsync("crm", "apps/tools/crm");
        await PutIntegrationAsync("billing", "apps/tools/billing");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private async Task PutIntegrationAsync(string name, string secretPath)
    {
        using var client = _host.Client(_world.Admin);
        await Problems.JsonAsync(await client.PutAsJsonAsync("/v1/integrations/" + name, new Dictionary<string, object?>
        {
            ["upstream"] = _upstream.Address.ToString(),
            ["secret_path"] = secretPath,
            ["secret_field"] = "api_key",
            ["inject"] = new { kind = "bearer" },
            ["allow"] = new[] { new { methods = new[] { "GET" }, path = "**" } },
            ["allow_insecure_loopback"] = true,
        }));
    }

    private async Task<HttpStatusCode> StatusAsync(string token, string route)
    {
        using var client = _host.Client(token);
        using var response = await client.GetAsync(route);
        return response.StatusCode;
    }

    private async Task<HttpResponseMessage> RevokeAsync(string token, object body)
    {
        using var client = _host.Client(token);
        return await client.PostAsJsonAsync("/v1/auth/revoke", body);
    }

    [Fact]
    public async Task ToolCaveat_CallsItsIntegration_AndNothingElse()
    {
        // Arrange: a session that may use both integrations' secrets; a token narrowed to the crm integration
        var session = await _world.StartAgentAsync("planner", "run-1", "caller");
        var crmOnly = KeywardToken.Parse(session.Token).Attenuate(InAnHour, TokenCaveat.Tool("crm"));

        // Act / Assert: its integration works, with the credential injected upstream
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(crmOnly.Value, "/v1/gateway/crm/ok"));
        Assert.Equal("Bearer sk-crm-0123456789abcdef", Assert.Single(_upstream.Requests).Header("Authorization"));

        // another integration, a secret read, a list: refused (and nothing more went upstream)
        Assert.True(await StatusAsync(crmOnly.Value, "/v1/gateway/billing/ok") is HttpStatusCode.Forbidden or HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(crmOnly.Value, "/v1/secrets/apps/tools/crm"));
        var listed = await Problems.JsonAsync(await _world.GetAsync(crmOnly.Value, "/v1/secrets?prefix=apps"));
        Assert.Equal(0, listed.GetProperty("keys").GetArrayLength());
        Assert.Single(_upstream.Requests);

        // other caveats still apply to the integration's secret: a path caveat that excludes it refuses the call
        var narrowed = crmOnly.Attenuate(TokenCaveat.Path("apps/web/**"));
        Assert.True(await StatusAsync(narrowed.Value, "/v1/gateway/crm/ok") is HttpStatusCode.Forbidden or HttpStatusCode.NotFound);
        Assert.Single(_upstream.Requests);
    }

    [Fact]
    public async Task McpToolCaveat_IsReserved_AndRefusedUntilMcpToolCallsExist()
    {
        var session = await _world.StartAgentAsync("planner", "run-1", "caller");
        var mcp = KeywardToken.Parse(session.Token).Attenuate(InAnHour, TokenCaveat.McpTool("github", "issues_*"));

        using var client = _host.Client(mcp.Value);
        await Problems.AssertProblemAsync(await client.GetAsync("/v1/auth/self"), HttpStatusCode.Unauthorized, "invalid_token");
    }

    [Fact]
    public async Task RevokeDerivedId_RefusesThatTokenAndItsDescendants_TheSessionAndItsOtherTokensKeepWorking()
    {
        // Arrange: a session; A derived from it, A2 derived from A, B a sibling of A
        var session = await _world.StartAgentAsync("planner", "run-1", "caller");
        var a = KeywardToken.Parse(session.Token).Attenuate(InAnHour, TokenCaveat.SubAgent("worker-a"));
        var a2 = a.Attenuate(TokenCaveat.Path("apps/web/**"));
        var b = KeywardToken.Parse(session.Token).Attenuate(InAnHour, TokenCaveat.SubAgent("worker-b"));
        var self = await Problems.JsonAsync(await _world.GetAsync(a.Value, "/v1/auth/self"));
        Assert.Equal(a.DerivedId, self.GetProperty("derived_id").GetString());
        Assert.Matches("^[0-9a-f]{32}\\.[0-9a-f]{32}$", a.DerivedId!);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(a2.Value, "/v1/secrets/apps/web/db"));

        // Act: the session's own agent revokes A by its id
        using (var revoked = await RevokeAsync(session.Token, new { derived_id = a.DerivedId }))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoked.StatusCode);
        }

        // Assert
        foreach (var dead in new[] { a, a2 })
        {
            using var client = _host.Client(dead.Value);
            await Problems.AssertProblemAsync(await client.GetAsync("/v1/secrets/apps/web/db"), HttpStatusCode.Unauthorized, "token_revoked");
        }

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(b.Value, "/v1/secrets/apps/web/db"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(session.Token, "/v1/secrets/apps/web/db"));
        // a token derived anew from the session, with the same caveats as A, is A again (same tag): revoked too
        var again = KeywardToken.Parse(session.Token).Attenuate(a.Caveats);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(again.Value, "/v1/secrets/apps/web/db"));

        // The audit records name the derived token that acted, and the revocation names the id
        var audit = await _world.AuditAsync();
        Assert.Contains(audit, r => r.GetProperty("operation").GetString() == "secret.read"
            && r.GetProperty("actor").TryGetProperty("derived_id", out var id) && id.GetString() == a2.DerivedId);
        var revocation = Assert.Single(audit, r => r.GetProperty("operation").GetString() == "auth.revoke");
        Assert.Equal(a.DerivedId, revocation.GetProperty("details").GetProperty("derived_id").GetString());
    }

    [Fact]
    public async Task RevokeDerivedId_OnlyTheSessionItsAncestorsAndAdmins_AnyoneElseGets404()
    {
        // Arrange: a planner that spawned a worker; the worker's derived token; a stranger agent; another tenant's admin
        var planner = await _world.StartAgentAsync("planner", "run-1", "caller");
        var worker = await _world.SpawnAsync(planner, "worker", "caller");
        var stranger = await _world.StartAgentAsync("stranger", "run-2", "caller");
        var derived = KeywardToken.Parse(worker.Token).Attenuate(InAnHour, TokenCaveat.SubAgent("sub"));
        var body = new { derived_id = derived.DerivedId };

        // Act / Assert: refused to outsiders, without saying whether the id exists
        await Problems.AssertProblemAsync(await RevokeAsync(stranger.Token, body), HttpStatusCode.NotFound, "token_not_found");
        await Problems.AssertProblemAsync(await RevokeAsync(_other.Admin, body), HttpStatusCode.NotFound, "token_not_found");
        await Problems.AssertProblemAsync(await RevokeAsync(derived.Value, body), HttpStatusCode.Forbidden, "orchestrator_or_admin_required");
        await Problems.AssertProblemAsync(await RevokeAsync(_world.Admin, new { derived_id = "not-an-id" }), HttpStatusCode.BadRequest, "invalid_field");
        await Problems.AssertProblemAsync(await RevokeAsync(_world.Admin, new { derived_id = derived.DerivedId, accessor = worker.Accessor }), HttpStatusCode.BadRequest, "invalid_request");
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(derived.Value, "/v1/secrets/apps/web/db"));

        // the parent agent (an ancestor), the orchestrator and the admin may
        foreach (var (token, which) in new[] { (planner.Token, "planner"), (_world.Orchestrator, "orchestrator"), (_world.Admin, "admin") })
        {
            var target = KeywardToken.Parse(worker.Token).Attenuate(InAnHour, TokenCaveat.SubAgent("by-" + which));
            using var revoked = await RevokeAsync(token, new { derived_id = target.DerivedId });
            Assert.True(revoked.StatusCode == HttpStatusCode.NoContent, which);
            Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(target.Value, "/v1/secrets/apps/web/db"));
        }

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(worker.Token, "/v1/secrets/apps/web/db"));
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("session", true)]
    public async Task DenialsThroughADerivedToken_RevokeThatToken_AndTheSessionOnlyWhenTheTenantSaysSo(string? derivedDenialsLock, bool sessionRevoked)
    {
        // Arrange: three denials in a minute lock down; a sub-task's token narrowed to apps/web
        using (var client = _host.Client(_world.Admin))
        {
            var settings = new Dictionary<string, object?> { ["deny_threshold"] = new { count = 3, window = "1m" } };
            if (derivedDenialsLock is not null)
            {
                settings["derived_denials_lock"] = derivedDenialsLock;
            }

            var stored = await Problems.JsonAsync(await client.PutAsJsonAsync("/v1/settings/anomalies", settings));
            Assert.Equal(derivedDenialsLock ?? "token", stored.GetProperty("derived_denials_lock").GetString());
        }

        var session = await _world.StartAgentAsync("planner", "run-1", "caller");
        var subTask = KeywardToken.Parse(session.Token).Attenuate(InAnHour, TokenCaveat.Path("apps/web/**"));
        var sibling = KeywardToken.Parse(session.Token).Attenuate(InAnHour, TokenCaveat.SubAgent("sibling"));

        // Act: the sub-task's token probes outside its caveats
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(subTask.Value, "/v1/secrets/apps/tools/crm"));
        }

        // Assert: that token is revoked; the session (and its other tokens) only in "session" mode
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(subTask.Value, "/v1/secrets/apps/web/db"));
        var expected = sessionRevoked ? HttpStatusCode.Unauthorized : HttpStatusCode.OK;
        Assert.Equal(expected, await StatusAsync(session.Token, "/v1/secrets/apps/web/db"));
        Assert.Equal(expected, await StatusAsync(sibling.Value, "/v1/secrets/apps/web/db"));
        var audit = await _world.AuditAsync();
        Assert.Contains(audit, r => r.GetProperty("operation").GetString() == "anomaly.revoke_derived"
            && r.GetProperty("details").GetProperty("derived_id").GetString() == subTask.DerivedId
            && r.GetProperty("details").GetProperty("flagged_session").GetString() == session.Accessor);
        Assert.Equal(sessionRevoked, audit.Any(r => r.GetProperty("operation").GetString() == "anomaly.lockdown"));
    }

    [Fact]
    public async Task DerivedAnomalySettings_UnknownValue_IsRefused()
    {
        using var client = _host.Client(_world.Admin);
        await Problems.AssertProblemAsync(
            await client.PutAsJsonAsync("/v1/settings/anomalies", new { derived_denials_lock = "tenant" }), HttpStatusCode.BadRequest, "invalid_field");
    }
}
