using Keyward.Client.Models;
using Keyward.Tests.Common;

namespace Keyward.Client.Tests;

/// <summary><see cref="AgentSession"/> and the agent routes against the real in-process server.</summary>
public sealed class AgentSessionTests : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private readonly ServerFixture _server;

    public AgentSessionTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task ExchangeAsync_BootstrapToken_GivesASessionBoundToAgentRunAndRole()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var bootstrap = await world.BootstrapAsync("planner", "run-1");

        await using var session = await AgentSession.ExchangeAsync(world.Options(), bootstrap.BootstrapToken);
        var self = await session.Client.GetSelfAsync();
        var secret = await session.Client.GetSecretAsync("app/db");

        Assert.StartsWith("kwb_", bootstrap.BootstrapToken, StringComparison.Ordinal);
        Assert.Equal(world.Tenant, session.Tenant);
        Assert.Equal("planner", session.AgentId);
        Assert.Equal("run-1", session.RunId);
        Assert.Equal("worker", session.Role);
        Assert.Equal(session.Accessor, self.Accessor);
        Assert.Equal("planner", self.AgentId);
        Assert.Equal("pw-app-db", secret.Data.GetProperty("password").GetString());
        Assert.InRange(session.ExpiresAt, DateTimeOffset.UtcNow.AddMinutes(9), DateTimeOffset.UtcNow.AddMinutes(11));
        Assert.Equal(403, (await Assert.ThrowsAsync<KeywardRequestFailedException>(() => session.Client.GetSecretAsync("ops/pager"))).Status);
    }

    [Fact]
    public async Task ExchangeAsync_Replay_ThrowsBootstrapReplayed_AndRevokesTheFirstSession()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var bootstrap = await world.BootstrapAsync("planner", "run-replay");
        await using var first = await AgentSession.ExchangeAsync(world.Options(), bootstrap.BootstrapToken);

        var replay = await Clients.FailsAsync(() => AgentSession.ExchangeAsync(world.Options(), bootstrap.BootstrapToken), 409, "bootstrap_replayed");

        Assert.DoesNotContain(bootstrap.BootstrapToken, replay.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(bootstrap.BootstrapToken, replay.ToString(), StringComparison.Ordinal);
        var refused = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => first.Client.GetSelfAsync());
        Assert.Equal(401, refused.Status);
    }

    [Fact]
    public async Task ExchangeBootstrapTokenAsync_UnknownToken_Throws401()
    {
        using var anonymous = _server.Client(token: null);

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(
            () => anonymous.ExchangeBootstrapTokenAsync("kwb_this-token-was-never-issued-0123456789abcdefgh"));

        Assert.Equal(401, error.Status);
        Assert.DoesNotContain("kwb_this-token-was-never-issued", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExchangeBootstrapTokenAsync_SessionTokenInsteadOfBootstrap_IsRefused()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var spy = new TokenSpy();
        await using var session = await world.SessionAsync("planner", "run-confused", spy: spy);
        await session.Client.GetSelfAsync();
        using var anonymous = _server.Client(token: null);

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => anonymous.ExchangeBootstrapTokenAsync(spy.Last));

        Assert.InRange(error.Status, 400, 499);
    }

    [Fact]
    public async Task DisposeAsync_RevokesTheSession_TokenIsRefusedAfterwards()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var spy = new TokenSpy();
        var session = await world.SessionAsync("planner", "run-dispose", spy: spy);
        await session.Client.GetSelfAsync();
        var token = spy.Last;
        var accessor = session.Accessor;

        await session.DisposeAsync();

        using var stale = _server.Client(token);
        await Clients.FailsAsync(() => stale.GetSelfAsync(), 401, "token_revoked");
        using var orchestrator = world.Orchestrator();
        var tree = await orchestrator.GetRunTokensAsync("run-dispose");
        Assert.NotNull(Assert.Single(tree.Tokens, t => t.Accessor == accessor).RevokedAt);
    }

    [Fact]
    public async Task Derive_OfflineChild_ReadsOnlyWithinItsCaveats_AndDiesWithTheSession()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var session = await world.SessionAsync("planner", "run-derive");

        var derived = session.Derive(TimeSpan.FromMinutes(5), TokenCaveat.Path("app/x/**"), TokenCaveat.Capabilities("read"), TokenCaveat.SubAgent("sub-1"));

        Assert.StartsWith("kwd_", derived.Value, StringComparison.Ordinal);
        using var child = _server.Client(derived.Value);
        Assert.Equal("pw-app-x", (await child.GetSecretAsync("app/x/key")).Data.GetProperty("key").GetString());
        await Clients.FailsAsync(() => child.GetSecretAsync("app/db"), 403, "permission_denied");
        Assert.Empty(await child.ListSecretsAsync("app"));

        await session.DisposeAsync();

        await Clients.FailsAsync(() => child.GetSecretAsync("app/x/key"), 401, "token_revoked");
    }

    [Fact]
    public async Task DisposeAsync_RevokesChildrenSpawnedByTheSession()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var parent = await world.SessionAsync("planner", "run-cascade");
        var childBootstrap = await parent.SpawnAsync("helper-1", TimeSpan.FromMinutes(5), role: "helper");
        var spy = new TokenSpy();
        await using var child = await AgentSession.ExchangeAsync(world.Options(spy), childBootstrap.BootstrapToken);
        await child.Client.GetSelfAsync();

        await parent.DisposeAsync();

        using var stale = _server.Client(spy.Last);
        await Clients.FailsAsync(() => stale.GetSelfAsync(), 401, "token_revoked");
    }

    [Fact]
    public async Task Renewal_BeforeExpiry_ExtendsTheSessionOnTheServer()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var time = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var bootstrap = await world.BootstrapAsync("planner", "run-renew", ttl: TimeSpan.FromSeconds(60));
        await using var session = await AgentSession.ExchangeAsync(
            world.Options(), bootstrap.BootstrapToken, new AgentSessionOptions { TimeProvider = time, RenewIncrement = TimeSpan.FromMinutes(10) });
        var renewed = new TaskCompletionSource<AgentSessionRenewedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        session.Renewed += (_, e) => renewed.TrySetResult(e);
        session.RenewalFailed += (_, e) => renewed.TrySetException(e.Error);
        var before = session.ExpiresAt;

        // Two thirds of 60s: the session is renewed 20s before it would expire (on the session's clock).
        time.Advance(TimeSpan.FromSeconds(41));
        var args = await renewed.Task.WaitAsync(Wait);
        var self = await session.Client.GetSelfAsync();

        Assert.True(args.ExpiresAt > before.AddMinutes(5), $"renewed to {args.ExpiresAt:O}, was {before:O}");
        Assert.Equal(session.ExpiresAt, args.ExpiresAt);
        Assert.Equal(args.ExpiresAt, self.ExpiresAt);
        Assert.Equal(AgentSessionRenewalState.Active, session.RenewalState);
    }

    [Fact]
    public async Task RenewSelfAsync_NeverPastTheRoleMaxTtl()
    {
        var world = await AgentWorld.CreateAsync(_server);
        using (var admin = world.Admin())
        {
            await admin.PutRoleAsync("short", [new RoleRule("app/**", ["read"])], TimeSpan.FromMinutes(2));
        }

        var bootstrap = await world.BootstrapAsync("planner", "run-cap", role: "short", ttl: TimeSpan.FromMinutes(1));
        await using var session = await AgentSession.ExchangeAsync(world.Options(), bootstrap.BootstrapToken, new AgentSessionOptions { AutoRenew = false });

        var renewal = await session.Client.RenewSelfAsync(TimeSpan.FromHours(5));

        Assert.True(renewal.ExpiresAt <= DateTimeOffset.UtcNow.AddMinutes(2).AddSeconds(5), $"renewed to {renewal.ExpiresAt:O}");
    }

    [Fact]
    public async Task SpawnAsync_AllowedRoleAndNarrowerRules_ChildSessionReadsOnlyItsScope()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var parent = await world.SessionAsync("planner", "run-spawn");

        var childBootstrap = await parent.SpawnAsync("helper-1", TimeSpan.FromMinutes(5), role: "helper");
        await using var child = await AgentSession.ExchangeAsync(world.Options(), childBootstrap.BootstrapToken);

        Assert.StartsWith("kwb_", childBootstrap.BootstrapToken, StringComparison.Ordinal);
        Assert.Equal("run-spawn", child.RunId);
        Assert.Equal("helper", child.Role);
        Assert.Equal("helper-1", child.AgentId);
        Assert.True(child.ExpiresAt <= parent.ExpiresAt);
        Assert.Equal("pw-app-x", (await child.Client.GetSecretAsync("app/x/key")).Data.GetProperty("key").GetString());
        var denied = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => child.Client.GetSecretAsync("app/db"));
        Assert.Equal(403, denied.Status);
        var self = await child.Client.GetSelfAsync();
        Assert.Equal(parent.Accessor, self.ParentAccessor);
    }

    [Fact]
    public async Task SpawnAsync_RoleNotInMaySpawn_Throws403WithoutTokens()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var spy = new TokenSpy();
        await using var parent = await world.SessionAsync("planner", "run-spawn-denied", spy: spy);

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => parent.SpawnAsync("sneaky", TimeSpan.FromMinutes(5), role: "auditor"));

        Assert.Equal(403, error.Status);
        Assert.False(string.IsNullOrEmpty(error.ErrorCode));
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
        Assert.DoesNotContain(spy.Last, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("kws_", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SpawnAsync_RulesWiderThanTheParent_Throws403ScopeExceedsParent()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var parent = await world.SessionAsync("planner", "run-spawn-wide");

        await Clients.FailsAsync(
            () => parent.SpawnAsync("helper-1", TimeSpan.FromMinutes(5), role: "helper", rules: [new RoleRule("ops/**", ["read"])]),
            403,
            "scope_exceeds_parent");
    }

    [Fact]
    public async Task SpawnAsync_HelperRoleWithEmptyMaySpawn_CannotSpawnAnything()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var parent = await world.SessionAsync("planner", "run-grandchild");
        var childBootstrap = await parent.SpawnAsync("helper-1", TimeSpan.FromMinutes(5), role: "helper");
        await using var child = await AgentSession.ExchangeAsync(world.Options(), childBootstrap.BootstrapToken);

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => child.SpawnAsync("helper-2", TimeSpan.FromMinutes(1)));

        Assert.Equal(403, error.Status);
    }

    [Fact]
    public async Task BootstrapAgentAsync_WithAnAgentToken_Throws403()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var agent = await world.SessionAsync("planner", "run-who");

        var byAgent = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => agent.Client.BootstrapAgentAsync("x", "run-who", "worker", TimeSpan.FromMinutes(1)));

        Assert.Equal(403, byAgent.Status);
    }

    [Fact]
    public async Task GetRunTokensAsync_ParentsBeforeChildren_CompleteRunRevokesAll()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var spy = new TokenSpy();
        await using var parent = await world.SessionAsync("planner", "run-tree", spy: spy);
        var childBootstrap = await parent.SpawnAsync("helper-1", TimeSpan.FromMinutes(5), role: "helper");
        await using var child = await AgentSession.ExchangeAsync(world.Options(), childBootstrap.BootstrapToken);
        await parent.Client.GetSelfAsync();
        var parentToken = spy.Last;
        using var orchestrator = world.Orchestrator();

        var tree = await orchestrator.GetRunTokensAsync("run-tree");
        var completed = await orchestrator.CompleteRunAsync("run-tree");

        Assert.Equal("run-tree", tree.RunId);
        var order = tree.Tokens.Select(t => t.Accessor).ToList();
        Assert.Contains(parent.Accessor, order);
        Assert.Contains(child.Accessor, order);
        Assert.True(order.IndexOf(parent.Accessor) < order.IndexOf(child.Accessor), "parents come before children");
        Assert.Equal(parent.Accessor, tree.Tokens.Single(t => t.Accessor == child.Accessor).ParentAccessor);
        Assert.True(completed.RevokedTokens >= 2, $"revoked {completed.RevokedTokens}");
        using var stale = _server.Client(parentToken);
        await Clients.FailsAsync(() => stale.GetSelfAsync(), 401, "token_revoked");
    }

    [Fact]
    public async Task GetRunTokensAsync_OtherTenantsRun_SeesNothingOfIt()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var other = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("planner", "run-private");
        using var otherOrchestrator = other.Orchestrator();

        try
        {
            var tree = await otherOrchestrator.GetRunTokensAsync("run-private");
            Assert.DoesNotContain(tree.Tokens, t => t.Accessor == session.Accessor);
        }
        catch (KeywardRequestFailedException notFound)
        {
            Assert.Equal(404, notFound.Status);
        }

        await Assert.ThrowsAsync<KeywardRequestFailedException>(() => otherOrchestrator.RevokeTokenAsync(session.Accessor));
        Assert.Equal(session.Accessor, (await session.Client.GetSelfAsync()).Accessor);
    }

    [Fact]
    public async Task RevokeTokenAsync_Orchestrator_RevokesTheAgent()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("planner", "run-revoke");
        using var orchestrator = world.Orchestrator();

        await orchestrator.RevokeTokenAsync(session.Accessor);

        await Clients.FailsAsync(() => session.Client.GetSelfAsync(), 401, "token_revoked");
    }

    [Fact]
    public async Task Leases_ListRenewRevoke_RoundTripThroughTheSdk()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("planner", "run-leases");
        using var admin = world.Admin();

        var leases = await admin.ListLeasesAsync();
        foreach (var lease in leases.Where(l => l.RevokedAt is null && l.Renewable).Take(1))
        {
            var renewed = await admin.RenewLeaseAsync(lease.LeaseId, TimeSpan.FromMinutes(1));
            Assert.Equal(lease.LeaseId, renewed.LeaseId);
        }

        await Assert.ThrowsAsync<KeywardRequestFailedException>(() => admin.RevokeLeaseAsync("no-such-lease"));
        Assert.True(await admin.RevokeLeasesByPrefixAsync("no/such/prefix") == 0);
        Assert.All(leases, l => Assert.False(string.IsNullOrEmpty(l.LeaseId)));
    }

    [Fact]
    public async Task LockdownTenantAsync_RefusesTheTenantWith423_UnlockKeepsTokensRevoked()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var spy = new TokenSpy();
        await using var session = await world.SessionAsync("planner", "run-lock", spy: spy);
        await session.Client.GetSelfAsync();
        var token = spy.Last;
        using var root = _server.Client();

        var incident = await root.LockdownTenantAsync(world.Tenant, "suspected leak");

        Assert.False(string.IsNullOrEmpty(incident.IncidentId));
        Assert.True(incident.RevokedTokens >= 3, $"revoked {incident.RevokedTokens}");
        using var stale = _server.Client(token);
        var locked = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => stale.GetSecretAsync("app/db"));
        Assert.True(locked.Status is 423 or 401, $"{locked.Status} {locked.ErrorCode}");
        var freshAdmin = await _server.Host.MintTokenAsync(world.Tenant, "admin");
        using (var fresh = _server.Client(freshAdmin))
        {
            await Clients.FailsAsync(() => fresh.GetSecretAsync("app/db"), 423, "tenant_locked");
        }

        await root.UnlockTenantAsync(world.Tenant);

        await Assert.ThrowsAsync<KeywardRequestFailedException>(() => stale.GetSelfAsync());
        using var afterUnlock = _server.Client(await _server.Host.MintTokenAsync(world.Tenant, "admin"));
        Assert.Equal("pw-app-db", (await afterUnlock.GetSecretAsync("app/db")).Data.GetProperty("password").GetString());
    }

    [Fact]
    public async Task LockdownTenantAsync_TenantToken_IsRefused()
    {
        var world = await AgentWorld.CreateAsync(_server);
        using var admin = world.Admin();

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => admin.LockdownTenantAsync(world.Tenant, "not mine to pull"));

        Assert.Equal(403, error.Status);
    }
}
