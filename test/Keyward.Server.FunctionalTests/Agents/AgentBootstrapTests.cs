using System.Net;
using Keyward.Core.Events;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests.Agents;

/// <summary>Two-phase bootstrap: mint, exchange once, replay detection, and what a bootstrap token is not good for.</summary>
public sealed class AgentBootstrapTests : IAsyncLifetime
{
    private KeywardTestHost _host = null!;
    private AgentWorld _world = null!;

    public async Task InitializeAsync()
    {
        _host = await KeywardTestHost.StartAsync();
        _world = await AgentWorld.CreateAsync(_host, "acme");
        await _host.PutSecretAsync(_world.Admin, "apps/web/db", new { password = "web-canary-1" });
        await _host.PutSecretAsync(_world.Admin, "apps/api/key", new { key = "api-canary-2" });
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Exchange_SessionBoundToAgentRunRole_ReadsOnlyWhatItsRoleAllows()
    {
        // Arrange
        var bootstrap = await _world.BootstrapAsync("planner", "run-1", "worker");

        // Act
        var session = await _world.ExchangeAsync(bootstrap);
        var self = await Problems.JsonAsync(await _world.GetAsync(session.Token, "/v1/auth/self"));

        // Assert
        Assert.StartsWith("kws_", session.Token, StringComparison.Ordinal);
        Assert.Equal(("planner", "run-1", "worker"), (session.AgentId, session.RunId, session.Role));
        Assert.Equal("agent", self.GetProperty("kind").GetString());
        Assert.Equal("acme", self.GetProperty("tenant").GetString());
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(session.Token, "apps/web/db"));
        Assert.Equal(HttpStatusCode.Forbidden, await _world.ReadStatusAsync(session.Token, "apps/api/key"));
    }

    [Fact]
    public async Task Exchange_Twice_Replay409RevokesFirstSessionAndItsChildren_AuditedAsAnomaly()
    {
        // Arrange
        var bootstrap = await _world.BootstrapAsync("lead-1", "run-2", "lead");
        var first = await _world.ExchangeAsync(bootstrap);
        var child = await _world.SpawnAsync(first, "child-1", "worker");

        // Act
        var replay = await _world.ExchangeRawAsync(bootstrap);

        // Assert
        await Problems.AssertProblemAsync(replay, HttpStatusCode.Conflict, "bootstrap_replayed");
        await Problems.AssertProblemAsync(await _world.GetAsync(first.Token, "/v1/secrets/apps/web/db"), HttpStatusCode.Unauthorized, "token_revoked");
        await Problems.AssertProblemAsync(await _world.GetAsync(child.Token, "/v1/secrets/apps/web/db"), HttpStatusCode.Unauthorized, "token_revoked");
        var audit = await _world.AuditAsync();
        var record = Assert.Single(audit, r => r.GetProperty("operation").GetString() == "auth.exchange" && r.GetProperty("status").GetInt32() == 409);
        Assert.Equal("bootstrap_replay", record.GetProperty("anomaly").GetString());
        Assert.DoesNotContain(audit, r => r.GetRawText().Contains(bootstrap[4..], StringComparison.Ordinal));
        var events = await EventsAsync();
        Assert.Contains(events, e => e.Type == EventTypes.Anomaly && e.Data.Contains("bootstrap_replay", StringComparison.Ordinal));
        Assert.Contains(events, e => e.Type == EventTypes.TokenRevoked && e.SubjectAccessor == first.Accessor);
    }

    [Fact]
    public async Task Exchange_ManyConcurrently_ExactlyOneWinsAndTheWinnerIsRevokedByTheReplays()
    {
        // Arrange
        var bootstrap = await _world.BootstrapAsync("racer", "run-3", "worker");

        // Act
        var responses = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => _world.ExchangeRawAsync(bootstrap)));

        // Assert
        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        Assert.Equal(15, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
        var winner = AgentWorld.Session(await Problems.JsonAsync(responses.Single(r => r.StatusCode == HttpStatusCode.OK)));
        await Problems.AssertProblemAsync(await _world.GetAsync(winner.Token, "/v1/secrets/apps/web/db"), HttpStatusCode.Unauthorized, "token_revoked");
    }

    [Fact]
    public async Task BootstrapToken_AsBearerToken_RefusedEverywhere()
    {
        // Arrange
        var bootstrap = await _world.BootstrapAsync("sneaky", "run-4", "lead");

        // Act
        var read = await _world.GetAsync(bootstrap, "/v1/secrets/apps/web/db");
        var self = await _world.GetAsync(bootstrap, "/v1/auth/self");

        // Assert: and it is still exchangeable: being refused did not consume it
        await Problems.AssertProblemAsync(read, HttpStatusCode.Unauthorized, "invalid_token");
        await Problems.AssertProblemAsync(self, HttpStatusCode.Unauthorized, "invalid_token");
        Assert.Equal("sneaky", (await _world.ExchangeAsync(bootstrap)).AgentId);
    }

    [Theory]
    [InlineData("kws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", HttpStatusCode.Unauthorized, "invalid_token")]
    [InlineData("kwb_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", HttpStatusCode.Unauthorized, "invalid_token")]
    [InlineData("kwb_short", HttpStatusCode.Unauthorized, "invalid_token")]
    [InlineData("", HttpStatusCode.BadRequest, "missing_field")]
    public async Task Exchange_WithWrongKindOrUnknownToken_Refused(string token, HttpStatusCode status, string code)
    {
        // Act
        var response = await _world.ExchangeRawAsync(token);

        // Assert
        await Problems.AssertProblemAsync(response, status, code);
    }

    [Fact]
    public async Task Exchange_SessionTokenPresentedAsBootstrap_RefusedAndSessionUntouched()
    {
        // Arrange
        var session = await _world.StartAgentAsync("agent-x", "run-5");

        // Act
        var response = await _world.ExchangeRawAsync(session.Token);

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.Unauthorized, "invalid_token");
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(session.Token, "apps/web/db"));
    }

    [Fact]
    public async Task Bootstrap_RulesNarrowTheRole_SessionHasOnlyTheNarrowRules()
    {
        // Arrange
        var bootstrap = await _world.BootstrapAsync("narrow", "run-6", "lead", rules: [AgentWorld.Rule("apps/web/*", "read")]);

        // Act
        var session = await _world.ExchangeAsync(bootstrap);

        // Assert
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(session.Token, "apps/web/db"));
        Assert.Equal(HttpStatusCode.Forbidden, await _world.ReadStatusAsync(session.Token, "apps/api/key"));
    }

    public static TheoryData<object, HttpStatusCode, string> BadBootstraps => new()
    {
        { new { agent_id = "a", run_id = "r", role = "worker", ttl = "10m", rules = new[] { new { path = "apps/**", capabilities = new[] { "read" } } } }, HttpStatusCode.Forbidden, "scope_exceeds_parent" },
        { new { agent_id = "a", run_id = "r", role = "worker", ttl = "10m", rules = new[] { new { path = "apps/web/**", capabilities = new[] { "write" } } } }, HttpStatusCode.Forbidden, "scope_exceeds_parent" },
        { new { agent_id = "a", run_id = "r", role = "worker", ttl = "2h" }, HttpStatusCode.BadRequest, "ttl_exceeds_limit" },
        { new { agent_id = "a", run_id = "r", role = "worker", ttl = "10m", bootstrap_ttl = "91s" }, HttpStatusCode.BadRequest, "ttl_exceeds_limit" },
        { new { agent_id = "a", run_id = "r", role = "nope", ttl = "10m" }, HttpStatusCode.NotFound, "role_not_found" },
        { new { agent_id = "a b", run_id = "r", role = "worker", ttl = "10m" }, HttpStatusCode.BadRequest, "invalid_name" },
        { new { agent_id = "a", run_id = "../r", role = "worker", ttl = "10m" }, HttpStatusCode.BadRequest, "invalid_name" },
        { new { agent_id = "a", run_id = "r", role = "worker" }, HttpStatusCode.BadRequest, "missing_field" },
        { new { agent_id = "a", run_id = "r", role = "worker", ttl = "10m", tll = "1m" }, HttpStatusCode.BadRequest, "unknown_field" },
        { new { agent_id = "a", run_id = "r", role = "worker", ttl = "-5m" }, HttpStatusCode.BadRequest, "invalid_duration" },
    };

    [Theory]
    [MemberData(nameof(BadBootstraps))]
    public async Task Bootstrap_BadRequest_RefusedWithStableCode(object body, HttpStatusCode status, string code)
    {
        // Act
        var response = await _world.PostAsync(_world.Orchestrator, "/v1/agents/bootstrap", body);

        // Assert
        await Problems.AssertProblemAsync(response, status, code);
    }

    [Fact]
    public async Task Bootstrap_SessionWouldOutliveTheOrchestrator_Refused()
    {
        // Arrange
        var shortOrchestrator = await _host.MintTokenAsync("acme", "orchestrator", "5m");

        // Act
        var response = await _world.PostAsync(shortOrchestrator, "/v1/agents/bootstrap", new { agent_id = "a", run_id = "r", role = "worker", ttl = "10m" });

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "ttl_exceeds_limit");
    }

    [Fact]
    public async Task Bootstrap_ByAdminOrAgentOrRoot_RefusedOnlyOrchestratorsMint()
    {
        // Arrange
        var agent = await _world.StartAgentAsync("minter", "run-7");
        var body = new { agent_id = "a", run_id = "r", role = "worker", ttl = "10m" };

        // Act
        var byAdmin = await _world.PostAsync(_world.Admin, "/v1/agents/bootstrap", body);
        var byAgent = await _world.PostAsync(agent.Token, "/v1/agents/bootstrap", body);
        var byRoot = await _world.PostAsync(KeywardTestHost.RootToken, "/v1/agents/bootstrap", body);

        // Assert
        await Problems.AssertProblemAsync(byAdmin, HttpStatusCode.Forbidden, "orchestrator_token_required");
        await Problems.AssertProblemAsync(byAgent, HttpStatusCode.Forbidden, "orchestrator_token_required");
        await Problems.AssertProblemAsync(byRoot, HttpStatusCode.Forbidden, "tenant_token_required");
    }

    [Fact]
    public async Task Exchange_AfterTheOrchestratorWasRevoked_Refused()
    {
        // Arrange
        var orchestrator = await _host.MintTokenAsync("acme", "orchestrator");
        var bootstrap = await _world.BootstrapAsync("orphan", "run-8", "worker", orchestrator: orchestrator);
        var self = await Problems.JsonAsync(await _world.GetAsync(orchestrator, "/v1/auth/self"));
        Assert.Equal(HttpStatusCode.NoContent, (await _world.PostAsync(_world.Admin, "/v1/auth/revoke", new { accessor = self.GetProperty("accessor").GetString() })).StatusCode);

        // Act
        var response = await _world.ExchangeRawAsync(bootstrap);

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.Unauthorized, "token_revoked");
    }

    private async Task<IReadOnlyList<EventRecord>> EventsAsync()
    {
        await using var session = await _host.Store.ReadAsync();
        var tenant = await session.Tenants.GetByIdAsync("acme");
        return await session.Events.ListAsync(tenant!.Uid, 0, 1000);
    }
}
