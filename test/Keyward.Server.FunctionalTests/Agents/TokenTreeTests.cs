using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests.Agents;

/// <summary>The token tree: spawning within may_spawn and the parent's rules, cascading revocation, runs, renewal.</summary>
public sealed class TokenTreeTests : IAsyncLifetime
{
    private readonly ManualTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private KeywardTestHost _host = null!;
    private AgentWorld _world = null!;

    public async Task InitializeAsync()
    {
        _host = await KeywardTestHost.StartAsync(services: s => s.AddSingleton<TimeProvider>(_clock));
        _world = await AgentWorld.CreateAsync(_host, "acme");
        await _host.PutSecretAsync(_world.Admin, "apps/web/db", new { password = "web-canary-1" });
        await _host.PutSecretAsync(_world.Admin, "apps/api/key", new { key = "api-canary-2" });
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Spawn_RoleNotInMaySpawn_Refused()
    {
        // Arrange
        var worker = await _world.StartAgentAsync("w", "run-1", "worker");
        var solo = await _world.StartAgentAsync("s", "run-1", "solo");

        // Act
        var workerSpawnsLead = await _world.PostAsync(worker.Token, "/v1/agents/spawn", new { agent_id = "c", role = "lead", ttl = "5m" });
        var soloSpawnsSolo = await _world.PostAsync(solo.Token, "/v1/agents/spawn", new { agent_id = "c", ttl = "5m" });

        // Assert
        await Problems.AssertProblemAsync(workerSpawnsLead, HttpStatusCode.Forbidden, "spawn_not_allowed");
        await Problems.AssertProblemAsync(soloSpawnsSolo, HttpStatusCode.Forbidden, "spawn_not_allowed");
    }

    [Fact]
    public async Task Spawn_RulesWiderThanParentsEffectiveRules_RefusedEvenWhenTheRoleWouldAllowThem()
    {
        // Arrange: the parent was narrowed at bootstrap to apps/web/**; the lead role itself allows apps/**
        var parent = await _world.ExchangeAsync(await _world.BootstrapAsync("p", "run-2", "lead", rules: [AgentWorld.Rule("apps/web/**", "read")]));

        // Act
        var wider = await _world.PostAsync(parent.Token, "/v1/agents/spawn", new { agent_id = "c", role = "lead", ttl = "5m" });
        var sibling = await _world.PostAsync(parent.Token, "/v1/agents/spawn",
            new { agent_id = "c", role = "lead", ttl = "5m", rules = new[] { AgentWorld.Rule("apps/web-admin/**", "read") } });
        var narrower = await _world.PostAsync(parent.Token, "/v1/agents/spawn",
            new { agent_id = "c", role = "worker", ttl = "5m", rules = new[] { AgentWorld.Rule("apps/web/db", "read") } });

        // Assert
        await Problems.AssertProblemAsync(wider, HttpStatusCode.Forbidden, "scope_exceeds_parent");
        await Problems.AssertProblemAsync(sibling, HttpStatusCode.Forbidden, "scope_exceeds_parent");
        Assert.Equal(HttpStatusCode.OK, narrower.StatusCode);
    }

    [Fact]
    public async Task Spawn_RunMismatchOrTtlBeyondParent_Refused()
    {
        // Arrange
        var parent = await _world.StartAgentAsync("p", "run-3", "lead", ttl: "10m");

        // Act
        var otherRun = await _world.PostAsync(parent.Token, "/v1/agents/spawn", new { agent_id = "c", run_id = "run-other", ttl = "5m" });
        var sameRun = await _world.PostAsync(parent.Token, "/v1/agents/spawn", new { agent_id = "c", run_id = "run-3", ttl = "5m" });
        var tooLong = await _world.PostAsync(parent.Token, "/v1/agents/spawn", new { agent_id = "c", ttl = "20m" });

        // Assert
        await Problems.AssertProblemAsync(otherRun, HttpStatusCode.BadRequest, "run_mismatch");
        Assert.Equal(HttpStatusCode.OK, sameRun.StatusCode);
        await Problems.AssertProblemAsync(tooLong, HttpStatusCode.BadRequest, "ttl_exceeds_limit");
    }

    [Fact]
    public async Task Spawn_ByOrchestratorOrAdmin_RefusedOnlyAgentsSpawn()
    {
        // Act
        var byOrchestrator = await _world.PostAsync(_world.Orchestrator, "/v1/agents/spawn", new { agent_id = "c", ttl = "5m" });
        var byAdmin = await _world.PostAsync(_world.Admin, "/v1/agents/spawn", new { agent_id = "c", ttl = "5m" });

        // Assert
        await Problems.AssertProblemAsync(byOrchestrator, HttpStatusCode.Forbidden, "agent_token_required");
        await Problems.AssertProblemAsync(byAdmin, HttpStatusCode.Forbidden, "agent_token_required");
    }

    [Fact]
    public async Task Revoke_MiddleOfADepthSixChain_RevokesItsSubtreeOnlyAndTheirLeases()
    {
        // Arrange: orchestrator → a0 → a1 → a2 → a3 → a4 → a5, and a sibling s1 under a0
        var chain = new List<AgentSessionInfo> { await _world.StartAgentAsync("a0", "run-4", "lead") };
        for (var i = 1; i < 6; i++)
        {
            chain.Add(await _world.SpawnAsync(chain[^1], $"a{i}", "lead", ttl: "20m"));
        }

        var sibling = await _world.SpawnAsync(chain[0], "s1", "worker");

        // Act: a1 is revoked by the orchestrator (in its subtree)
        var revoke = await _world.PostAsync(_world.Orchestrator, "/v1/auth/revoke", new { accessor = chain[1].Accessor });

        // Assert
        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(chain[0].Token, "apps/web/db"));
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(sibling.Token, "apps/web/db"));
        foreach (var revoked in chain.Skip(1))
        {
            await Problems.AssertProblemAsync(await _world.GetAsync(revoked.Token, "/v1/secrets/apps/web/db"), HttpStatusCode.Unauthorized, "token_revoked");
        }

        var leases = await Problems.JsonAsync(await _world.GetAsync(_world.Admin, "/v1/leases?prefix=auth/agents"));
        var owners = leases.GetProperty("leases").EnumerateArray().Select(l => l.GetProperty("owner_accessor").GetString()).ToHashSet();
        Assert.Contains(chain[0].Accessor, owners);
        Assert.Contains(sibling.Accessor, owners);
        Assert.DoesNotContain(chain.Skip(1), c => owners.Contains(c.Accessor));
    }

    [Fact]
    public async Task Revoke_OutsideTheCallersSubtree_NotFoundAndNothingRevoked()
    {
        // Arrange
        var otherOrchestrator = await _host.MintTokenAsync("acme", "orchestrator");
        var mine = await _world.StartAgentAsync("mine", "run-5");
        var theirs = await _world.StartAgentAsync("theirs", "run-5", orchestrator: otherOrchestrator);
        var globex = await AgentWorld.CreateAsync(_host, "globex");
        await _host.PutSecretAsync(globex.Admin, "apps/web/db", new { password = "globex-canary" });
        var foreign = await globex.StartAgentAsync("foreign", "run-5");

        // Act
        var acrossOrchestrators = await _world.PostAsync(_world.Orchestrator, "/v1/auth/revoke", new { accessor = theirs.Accessor });
        var acrossTenants = await _world.PostAsync(_world.Admin, "/v1/auth/revoke", new { accessor = foreign.Accessor });
        var byAgent = await _world.PostAsync(mine.Token, "/v1/auth/revoke", new { accessor = theirs.Accessor });

        // Assert
        await Problems.AssertProblemAsync(acrossOrchestrators, HttpStatusCode.NotFound, "token_not_found");
        await Problems.AssertProblemAsync(acrossTenants, HttpStatusCode.NotFound, "token_not_found");
        await Problems.AssertProblemAsync(byAgent, HttpStatusCode.Forbidden, "orchestrator_or_admin_required");
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(theirs.Token, "apps/web/db"));
        Assert.Equal(HttpStatusCode.OK, await globex.ReadStatusAsync(foreign.Token, "apps/web/db"));
    }

    [Fact]
    public async Task RevokeSelf_RevokesItselfAndItsChildrenNotItsParent()
    {
        // Arrange
        var parent = await _world.StartAgentAsync("p", "run-6");
        var child = await _world.SpawnAsync(parent, "c", "lead");
        var grandchild = await _world.SpawnAsync(child, "g", "worker");

        // Act
        var response = await _world.PostAsync(child.Token, "/v1/auth/revoke-self");

        // Assert
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(parent.Token, "apps/web/db"));
        Assert.Equal(HttpStatusCode.Unauthorized, await _world.ReadStatusAsync(child.Token, "apps/web/db"));
        Assert.Equal(HttpStatusCode.Unauthorized, await _world.ReadStatusAsync(grandchild.Token, "apps/web/db"));
    }

    [Fact]
    public async Task CompleteRun_RevokesEveryTokenOfTheRunInReach_OtherRunsUntouched_LaterUseIsAnAnomaly()
    {
        // Arrange
        var a = await _world.StartAgentAsync("a", "run-7");
        var b = await _world.SpawnAsync(a, "b", "worker");
        var pendingBootstrap = await _world.BootstrapAsync("late", "run-7", "worker");
        var otherRun = await _world.StartAgentAsync("x", "run-8");

        // Act
        var response = await Problems.JsonAsync(await _world.PostAsync(_world.Orchestrator, "/v1/runs/run-7/complete"));
        var afterwards = await _world.GetAsync(b.Token, "/v1/secrets/apps/web/db");

        // Assert: a and b, the unexchanged bootstrap, and both session leases
        Assert.Equal(3, response.GetProperty("revoked_tokens").GetInt32());
        Assert.Equal(2, response.GetProperty("revoked_leases").GetInt32());
        await Problems.AssertProblemAsync(afterwards, HttpStatusCode.Unauthorized, "token_revoked");
        await Problems.AssertProblemAsync(await _world.ExchangeRawAsync(pendingBootstrap), HttpStatusCode.Unauthorized, "token_revoked");
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(otherRun.Token, "apps/web/db"));
        var audit = await _world.AuditAsync();
        Assert.Contains(audit, r => r.GetProperty("anomaly").GetString() == "use_after_run_complete"
            && r.GetProperty("actor").GetProperty("accessor").GetString() == b.Accessor);
    }

    [Fact]
    public async Task CompleteRun_ByAnotherOrchestrator_RevokesNothingOutsideItsSubtree()
    {
        // Arrange
        var otherOrchestrator = await _host.MintTokenAsync("acme", "orchestrator");
        var agent = await _world.StartAgentAsync("a", "run-9");

        // Act
        var response = await Problems.JsonAsync(await _world.PostAsync(otherOrchestrator, "/v1/runs/run-9/complete"));

        // Assert
        Assert.Equal(0, response.GetProperty("revoked_tokens").GetInt32());
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(agent.Token, "apps/web/db"));
    }

    [Fact]
    public async Task RunTokens_ListsTheTreeParentsFirst_WithinReach()
    {
        // Arrange
        var a = await _world.StartAgentAsync("a", "run-10");
        var b = await _world.SpawnAsync(a, "b", "worker");

        // Act
        var asOrchestrator = await Problems.JsonAsync(await _world.GetAsync(_world.Orchestrator, "/v1/runs/run-10/tokens"));
        var asChild = await Problems.JsonAsync(await _world.GetAsync(b.Token, "/v1/runs/run-10/tokens"));

        // Assert: two bootstrap tokens and two sessions; the child sees only itself
        var tokens = asOrchestrator.GetProperty("tokens").EnumerateArray().ToArray();
        Assert.Equal(4, tokens.Length);
        var order = tokens.Select(t => t.GetProperty("accessor").GetString()).ToList();
        Assert.True(order.IndexOf(a.Accessor) < order.IndexOf(b.Accessor));
        Assert.Equal(a.Accessor, tokens.Single(t => t.GetProperty("accessor").GetString() == b.Accessor).GetProperty("parent_accessor").GetString());
        Assert.Equal(b.Accessor, Assert.Single(asChild.GetProperty("tokens").EnumerateArray()).GetProperty("accessor").GetString());
    }

    [Fact]
    public async Task Renew_NeverPastTheRolesMaxTtlNorTheParentsExpiry()
    {
        // Arrange: worker's max_ttl is 1h; the parent session lives 30 minutes
        var parent = await _world.StartAgentAsync("p", "run-11", "lead", ttl: "30m");
        var child = await _world.SpawnAsync(parent, "c", "worker", ttl: "5m");
        var solo = await _world.StartAgentAsync("s", "run-11", "solo", ttl: "10m");

        // Act
        var childRenewed = await Problems.JsonAsync(await _world.PostAsync(child.Token, "/v1/auth/renew", new { increment = "2h" }));
        _clock.Advance(TimeSpan.FromMinutes(8));
        var soloFirst = await Problems.JsonAsync(await _world.PostAsync(solo.Token, "/v1/auth/renew", new { increment = "50m" }));
        _clock.Advance(TimeSpan.FromMinutes(40));
        var soloSecond = await Problems.JsonAsync(await _world.PostAsync(solo.Token, "/v1/auth/renew", new { increment = "50m" }));

        // Assert
        Assert.Equal(parent.ExpiresAt, childRenewed.GetProperty("expires_at").GetDateTimeOffset());
        Assert.False(childRenewed.GetProperty("renewable").GetBoolean());
        var soloCreated = solo.ExpiresAt - TimeSpan.FromMinutes(10);
        Assert.Equal(soloCreated + TimeSpan.FromMinutes(58), soloFirst.GetProperty("expires_at").GetDateTimeOffset());
        Assert.Equal(soloCreated + TimeSpan.FromHours(1), soloSecond.GetProperty("expires_at").GetDateTimeOffset());
        Assert.False(soloSecond.GetProperty("renewable").GetBoolean());
    }

    [Fact]
    public async Task Renew_AfterRevocation_RefusedAndAuditedAsAnomaly()
    {
        // Arrange
        var agent = await _world.StartAgentAsync("r", "run-12");
        await _world.PostAsync(agent.Token, "/v1/auth/revoke-self");

        // Act
        var response = await _world.PostAsync(agent.Token, "/v1/auth/renew", new { increment = "5m" });

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.Unauthorized, "token_revoked");
        var audit = await _world.AuditAsync();
        Assert.Contains(audit, r => r.GetProperty("operation").GetString() == "auth.renew" && r.GetProperty("anomaly").GetString() == "renew_after_revoke");
    }

    [Fact]
    public async Task Session_ExpiresExactlyAtItsTtl_NoGrace()
    {
        // Arrange
        var agent = await _world.StartAgentAsync("e", "run-13", "worker", ttl: "10m");

        // Act
        _clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(1));
        var justBefore = await _world.ReadStatusAsync(agent.Token, "apps/web/db");
        _clock.Advance(TimeSpan.FromSeconds(1));
        var atExpiry = await _world.GetAsync(agent.Token, "/v1/secrets/apps/web/db");

        // Assert
        Assert.Equal(HttpStatusCode.OK, justBefore);
        await Problems.AssertProblemAsync(atExpiry, HttpStatusCode.Unauthorized, "token_expired");
    }

    [Fact]
    public async Task Bootstrap_ExchangedAfterItsBootstrapTtl_Expired()
    {
        // Arrange
        var bootstrap = await _world.BootstrapAsync("slow", "run-14", "worker");

        // Act
        _clock.Advance(TimeSpan.FromSeconds(60));
        var response = await _world.ExchangeRawAsync(bootstrap);

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.Unauthorized, "token_expired");
    }

    [Fact]
    public async Task Exchange_ReplayedLongAfterwards_StillDetectedWhileTheSessionCouldLive()
    {
        // Arrange
        var bootstrap = await _world.BootstrapAsync("late-replay", "run-15", "worker", ttl: "30m");
        var session = await _world.ExchangeAsync(bootstrap);

        // Act: the bootstrap token itself expired long ago, but its session could still be alive
        _clock.Advance(TimeSpan.FromMinutes(20));
        var replay = await _world.ExchangeRawAsync(bootstrap);

        // Assert
        await Problems.AssertProblemAsync(replay, HttpStatusCode.Conflict, "bootstrap_replayed");
        Assert.Equal(HttpStatusCode.Unauthorized, await _world.ReadStatusAsync(session.Token, "apps/web/db"));
    }

    [Fact]
    public async Task Lockdown_ThenUnlock_EveryRowOfTheRunMarkedRevoked_NewAgentsWork()
    {
        // Arrange
        var a = await _world.StartAgentAsync("a", "run-16");
        var b = await _world.SpawnAsync(a, "b", "worker");
        var pending = await _world.BootstrapAsync("p", "run-16", "worker");

        // Act
        var lockdown = await Problems.JsonAsync(await _world.PostAsync(KeywardTestHost.RootToken, "/v1/tenants/acme/lockdown", new { reason = "test" }));
        var whileLocked = await _world.GetAsync(b.Token, "/v1/secrets/apps/web/db");
        Assert.Equal(HttpStatusCode.NoContent, (await _world.PostAsync(KeywardTestHost.RootToken, "/v1/tenants/acme/unlock")).StatusCode);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var orchestrator = await _host.MintTokenAsync("acme", "orchestrator");
        var admin = await _host.MintTokenAsync("acme", "admin");
        var tree = await Problems.JsonAsync(await _world.GetAsync(admin, "/v1/runs/run-16/tokens"));

        // Assert: the epoch refused at once; by the unlock every row carries the lockdown's revocation
        Assert.True(lockdown.GetProperty("revoked_tokens").GetInt32() >= 5);
        await Problems.AssertProblemAsync(whileLocked, HttpStatusCode.Locked, "tenant_locked");
        await Problems.AssertProblemAsync(await _world.GetAsync(b.Token, "/v1/secrets/apps/web/db"), HttpStatusCode.Unauthorized, "token_revoked");
        await Problems.AssertProblemAsync(await _world.ExchangeRawAsync(pending), HttpStatusCode.Unauthorized, "token_revoked");
        var tokens = tree.GetProperty("tokens").EnumerateArray().ToArray();
        var live = tokens.Where(t => t.GetProperty("kind").GetString() == "agent" || t.GetProperty("agent_id").GetString() == "p").ToArray();
        Assert.Equal(3, live.Length);
        Assert.All(live, t => Assert.Equal("lockdown", t.GetProperty("revoked_reason").GetString()));

        var fresh = await _world.StartAgentAsync("new", "run-17", orchestrator: orchestrator);
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(fresh.Token, "apps/web/db"));
    }

    [Fact]
    public async Task SpawnedChildren_RandomizedSeeded_NeverReachMoreThanTheirParent()
    {
        // Arrange: a role that may do anything and spawn itself; each case narrows at bootstrap, then spawns 1-3 levels
        await _world.PutRoleAsync("any", [AgentWorld.Rule("**", "read", "list", "write")], "1h", "any");
        var probes = new[] { "apps/web/db", "apps/web/cache", "apps/api/key", "apps/api/x/y", "ops/root", "apps/web-admin/k" };
        foreach (var path in probes)
        {
            await _host.PutSecretAsync(_world.Admin, path, new { value = "canary-" + path });
        }

        var accepted = 0;
        var refused = 0;
        for (var seed = 0; seed < 150; seed++)
        {
            var random = new Random(seed);
            var parentRules = RandomRules(random);
            var parent = await _world.ExchangeAsync(await _world.BootstrapAsync($"p{seed}", $"prop-{seed}", "any", rules: parentRules));
            var parentSet = Keyward.Core.Policies.RuleSet.FromSpecs(Specs(parentRules));
            for (var depth = random.Next(1, 4); depth > 0; depth--)
            {
                // Most children narrow their parent (so most are accepted); the rest are arbitrary (mostly refused).
                var childRules = random.Next(10) < 6 ? NarrowedRules(random, parentRules) : RandomRules(random);
                var childSet = Keyward.Core.Policies.RuleSet.FromSpecs(Specs(childRules));
                var response = await _world.PostAsync(parent.Token, "/v1/agents/spawn", new { agent_id = $"c{seed}-{depth}", ttl = "10m", rules = childRules });
                var witness = probes.Any(p => Enum.GetValues<Keyward.Core.Policies.Capability>()
                    .Where(c => c != Keyward.Core.Policies.Capability.None)
                    .Any(c => childSet.Allows(p, c) && !parentSet.Allows(p, c)));
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    await Problems.AssertProblemAsync(response, HttpStatusCode.Forbidden, "scope_exceeds_parent");
                    refused++;
                    continue;
                }

                // Accepted: no probe may be something the child could do and the parent could not.
                Assert.False(witness, $"seed {seed}: a child exceeding its parent was accepted");
                var bootstrap = (await Problems.JsonAsync(response)).GetProperty("bootstrap_token").GetString()!;
                var child = await _world.ExchangeAsync(bootstrap);
                await AssertNeverMoreAsync(seed, child.Token, parent.Token, probes[random.Next(probes.Length)], random.Next(3));
                await AssertNeverMoreAsync(seed, child.Token, parent.Token, probes[random.Next(probes.Length)], random.Next(3));
                accepted++;
                parent = child;
                parentSet = childSet;
            }
        }

        // The generator must exercise both outcomes, or the property says little.
        Assert.True(accepted > 100 && refused > 50, $"accepted {accepted}, refused {refused}");
    }

    private async Task AssertNeverMoreAsync(int seed, string child, string parent, string path, int operation)
    {
        switch (operation)
        {
            case 0:
                if (await _world.ReadStatusAsync(child, path) == HttpStatusCode.OK)
                {
                    Assert.True(await _world.ReadStatusAsync(parent, path) == HttpStatusCode.OK, $"seed {seed}: child read {path}, parent cannot");
                }

                break;
            case 1:
                var prefix = path[..path.LastIndexOf('/')];
                var childList = await ListAsync(child, prefix);
                var parentList = await ListAsync(parent, prefix);
                Assert.True(childList.IsSubsetOf(parentList), $"seed {seed}: child lists more under {prefix} than its parent");
                break;
            default:
                using (var client = _host.Client(child))
                {
                    var write = await client.PutAsJsonAsync("/v1/secrets/" + path, new { data = new { value = "by-child" } });
                    if (write.IsSuccessStatusCode)
                    {
                        using var parentClient = _host.Client(parent);
                        var parentWrite = await parentClient.PutAsJsonAsync("/v1/secrets/" + path, new { data = new { value = "by-parent" } });
                        Assert.True(parentWrite.IsSuccessStatusCode, $"seed {seed}: child wrote {path}, parent cannot");
                    }
                }

                break;
        }
    }

    private async Task<HashSet<string>> ListAsync(string token, string prefix)
    {
        var response = await _world.GetAsync(token, "/v1/secrets?prefix=" + prefix);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return [];
        }

        var body = await Problems.JsonAsync(response);
        return body.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).ToHashSet();
    }

    private static readonly string[] Globs =
        ["**", "apps/**", "apps/web/**", "apps/*/db", "apps/web/db", "apps/api/**", "apps/*/*", "ops/**", "apps/web-admin/**", "apps/*/**", "*/web/*"];

    private static readonly string[] Capabilities = ["read", "list", "write"];

    private static object[] RandomRules(Random random) =>
        Enumerable.Range(0, random.Next(1, 4)).Select(_ => (object)new
        {
            path = Globs[random.Next(Globs.Length)],
            capabilities = Capabilities.Where(_ => random.Next(2) == 0).DefaultIfEmpty(Capabilities[random.Next(3)]).Distinct().ToArray(),
        }).ToArray();

    /// <summary>Some of the parent's rules, each with a subset of its capabilities and perhaps a narrower glob.</summary>
    private static object[] NarrowedRules(Random random, object[] parentRules)
    {
        var parent = Specs(parentRules);
        return parent.Where(_ => random.Next(3) > 0).DefaultIfEmpty(parent[0]).Select(rule =>
        {
            var glob = Globs[random.Next(Globs.Length)];
            var path = Keyward.Core.Policies.PathGlob.Parse(glob).IsCoveredBy(Keyward.Core.Policies.PathGlob.Parse(rule.Path)) ? glob : rule.Path;
            var capabilities = rule.Capabilities.Where(_ => random.Next(2) == 0).DefaultIfEmpty(rule.Capabilities[0]).ToArray();
            return (object)new { path, capabilities };
        }).ToArray();
    }

    private static List<Keyward.Core.Policies.RuleSpec> Specs(object[] rules) =>
        JsonSerializer.Deserialize<List<Keyward.Core.Policies.RuleSpec>>(
            JsonSerializer.Serialize(rules), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
}
