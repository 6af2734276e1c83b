using System.Net;
using System.Text.Json;
using Keyward.Core.Events;
using Keyward.Core.Leases;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Agents;

/// <summary>
/// Leases over HTTP: an agent session is a lease (engine <c>token</c>) owned by itself; a test engine stands for
/// engines that must clean up outside Keyward. Callers reach only leases owned within their own subtree. The clock is
/// manual and the background sweeper idle, so each sweep is driven by the test.
/// </summary>
public sealed class LeaseTests : IAsyncLifetime
{
    private readonly ManualTimeProvider _clock = new();
    private readonly TestLeaseEngine _engine = new(failuresPerLease: 2);
    private KeywardTestHost _host = null!;
    private AgentWorld _world = null!;

    public async Task InitializeAsync()
    {
        _host = await KeywardTestHost.StartAsync(
            new KeywardServerOptions { Dev = true, DevRootToken = KeywardTestHost.RootToken, SweepInterval = TimeSpan.FromDays(30) },
            s =>
            {
                s.AddSingleton<TimeProvider>(_clock);
                s.AddSingleton<ILeaseEngine>(_engine);
            });
        _world = await AgentWorld.CreateAsync(_host, "acme");
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private Sweeper Sweeper => _host.Services.GetRequiredService<Sweeper>();

    private static string TokenLeaseId(AgentSessionInfo session) => $"auth/agents/{session.Role}/{session.Accessor}";

    private async Task<List<string>> ListAsync(string token, string? prefix = null)
    {
        var response = await _world.GetAsync(token, "/v1/leases" + (prefix is null ? "" : "?prefix=" + prefix));
        var body = await Problems.JsonAsync(response);
        return body.GetProperty("leases").EnumerateArray().Select(l => l.GetProperty("lease_id").GetString()!).ToList();
    }

    private async Task<HttpResponseMessage> RenewAsync(string token, string leaseId, string? increment = null) =>
        await _world.PostAsync(token, "/v1/leases/renew", increment is null ? new { lease_id = leaseId } : new { lease_id = leaseId, increment });

    private async Task<HttpResponseMessage> RevokeAsync(string token, string leaseId) =>
        await _world.PostAsync(token, "/v1/leases/revoke", new { lease_id = leaseId });

    private async Task<HttpStatusCode> SelfStatusAsync(string token)
    {
        using var response = await _world.GetAsync(token, "/v1/auth/self");
        return response.StatusCode;
    }

    /// <summary>orchestrator → a (lead) → a1 (worker) → a2 (worker); orchestrator → b (lead), a's sibling.</summary>
    private async Task<(AgentSessionInfo A, AgentSessionInfo A1, AgentSessionInfo A2, AgentSessionInfo B)> TreeAsync()
    {
        var a = await _world.StartAgentAsync("agent-a", "run-1");
        var a1 = await _world.SpawnAsync(a, "agent-a1", "worker");
        var a2 = await _world.SpawnAsync(a1, "agent-a2", "worker");
        var b = await _world.StartAgentAsync("agent-b", "run-1");
        return (a, a1, a2, b);
    }

    [Fact]
    public async Task List_TokenLeases_OwnSubtreeOnly_AdminAndOrchestratorSeeAll()
    {
        var (a, a1, a2, b) = await TreeAsync();
        var all = new[] { TokenLeaseId(a), TokenLeaseId(a1), TokenLeaseId(a2), TokenLeaseId(b) };

        Assert.Equal(new[] { TokenLeaseId(a), TokenLeaseId(a1), TokenLeaseId(a2) }.Order(StringComparer.Ordinal), (await ListAsync(a.Token)).Order(StringComparer.Ordinal));
        Assert.Equal(new[] { TokenLeaseId(a1), TokenLeaseId(a2) }.Order(StringComparer.Ordinal), (await ListAsync(a1.Token)).Order(StringComparer.Ordinal));
        Assert.Equal([TokenLeaseId(a2)], await ListAsync(a2.Token));
        Assert.Equal([TokenLeaseId(b)], await ListAsync(b.Token));
        Assert.Equal(all.Order(StringComparer.Ordinal), (await ListAsync(_world.Admin)).Order(StringComparer.Ordinal));
        Assert.Equal(all.Order(StringComparer.Ordinal), (await ListAsync(_world.Orchestrator)).Order(StringComparer.Ordinal));

        // Prefixes match whole segments and keep the scope.
        Assert.Equal(new[] { TokenLeaseId(a1), TokenLeaseId(a2) }.Order(StringComparer.Ordinal), (await ListAsync(_world.Admin, "auth/agents/worker")).Order(StringComparer.Ordinal));
        Assert.Empty(await ListAsync(_world.Admin, "auth/agents/work"));
        Assert.Empty(await ListAsync(b.Token, "auth/agents/worker"));
        Assert.Equal([TokenLeaseId(a)], await ListAsync(a.Token, "auth/agents/lead"));
    }

    [Fact]
    public async Task List_ReportsOwnerAndExpiry()
    {
        var a = await _world.StartAgentAsync("agent-a", "run-1", ttl: "30m");

        var body = await Problems.JsonAsync(await _world.GetAsync(a.Token, "/v1/leases"));

        var lease = Assert.Single(body.GetProperty("leases").EnumerateArray().ToList());
        Assert.Equal(a.Accessor, lease.GetProperty("owner_accessor").GetString());
        Assert.Equal("token", lease.GetProperty("engine").GetString());
        Assert.Equal("auth/agents/lead", lease.GetProperty("path").GetString());
        Assert.Equal(a.ExpiresAt, lease.GetProperty("expires_at").GetDateTimeOffset());
        Assert.True(lease.GetProperty("renewable").GetBoolean());
    }

    [Fact]
    public async Task List_BadPrefix_IsRefused()
    {
        var a = await _world.StartAgentAsync("agent-a", "run-1");

        foreach (var prefix in new[] { "a/../b", "a//b", "./a", "a/b%5Cc" })
        {
            using var response = await _world.GetAsync(a.Token, "/v1/leases?prefix=" + prefix);
            await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_prefix");
        }
    }

    [Fact]
    public async Task SiblingsLease_RenewRevoke_NotFound_AndUnharmed()
    {
        var (a, a1, _, b) = await TreeAsync();
        var before = (await TestLeaseEngine.ReadTokenAsync(_host, a.Accessor))!.ExpiresAt;

        // A sibling, a child (for its parent's lease), an unknown id: all "not found".
        await Problems.AssertProblemAsync(await RenewAsync(b.Token, TokenLeaseId(a), "10m"), HttpStatusCode.NotFound, "lease_not_found");
        await Problems.AssertProblemAsync(await RevokeAsync(b.Token, TokenLeaseId(a)), HttpStatusCode.NotFound, "lease_not_found");
        await Problems.AssertProblemAsync(await RevokeAsync(a1.Token, TokenLeaseId(a)), HttpStatusCode.NotFound, "lease_not_found");
        await Problems.AssertProblemAsync(await RenewAsync(a1.Token, TokenLeaseId(a), "10m"), HttpStatusCode.NotFound, "lease_not_found");
        await Problems.AssertProblemAsync(await RevokeAsync(a.Token, "auth/agents/lead/0123456789abcdef0123456789abcdef"), HttpStatusCode.NotFound, "lease_not_found");
        var prefix = await Problems.JsonAsync(await _world.PostAsync(b.Token, "/v1/leases/revoke-prefix", new { prefix = "auth/agents/worker" }));
        Assert.Equal(0, prefix.GetProperty("revoked").GetInt32());

        Assert.Equal(HttpStatusCode.OK, await SelfStatusAsync(a.Token));
        Assert.Equal(HttpStatusCode.OK, await SelfStatusAsync(a1.Token));
        Assert.Equal(before, (await TestLeaseEngine.ReadTokenAsync(_host, a.Accessor))!.ExpiresAt);
    }

    [Fact]
    public async Task OtherTenantsLease_NotFound()
    {
        var globex = await AgentWorld.CreateAsync(_host, "globex");
        var victim = await _world.StartAgentAsync("agent-a", "run-1");
        var attacker = await globex.StartAgentAsync("agent-a", "run-1");

        await Problems.AssertProblemAsync(await RevokeAsync(globex.Admin, TokenLeaseId(victim)), HttpStatusCode.NotFound, "lease_not_found");
        await Problems.AssertProblemAsync(await RenewAsync(globex.Admin, TokenLeaseId(victim), "5m"), HttpStatusCode.NotFound, "lease_not_found");
        await Problems.AssertProblemAsync(await RevokeAsync(attacker.Token, TokenLeaseId(victim)), HttpStatusCode.NotFound, "lease_not_found");
        Assert.DoesNotContain(TokenLeaseId(victim), await ListAsync(globex.Admin));
        var prefix = await Problems.JsonAsync(await _world.PostAsync(globex.Admin, "/v1/leases/revoke-prefix", new { prefix = "auth" }));

        Assert.Equal(1, prefix.GetProperty("revoked").GetInt32()); // globex's own agent only
        Assert.Equal(HttpStatusCode.OK, await SelfStatusAsync(victim.Token));
        Assert.Equal(HttpStatusCode.Unauthorized, await SelfStatusAsync(attacker.Token));
    }

    [Fact]
    public async Task RenewTokenLease_ExtendsTheSession_NeverPastRoleMaxTtl()
    {
        // lead: max_ttl 1h; session 30m; the orchestrator lives 2h.
        var a = await _world.StartAgentAsync("agent-a", "run-1", ttl: "30m");
        var created = _clock.GetUtcNow();
        _clock.Advance(TimeSpan.FromMinutes(20));

        var renewed = await Problems.JsonAsync(await RenewAsync(a.Token, TokenLeaseId(a), "20m"));

        Assert.Equal(created.AddMinutes(40), renewed.GetProperty("expires_at").GetDateTimeOffset());
        Assert.Equal(created.AddMinutes(40), (await TestLeaseEngine.ReadTokenAsync(_host, a.Accessor))!.ExpiresAt);
        Assert.Equal(created.AddMinutes(40), (await TestLeaseEngine.ReadLeaseAsync(_host, TokenLeaseId(a)))!.ExpiresAt);
        var self = await Problems.JsonAsync(await _world.GetAsync(a.Token, "/v1/auth/self"));
        Assert.Equal(created.AddMinutes(40), self.GetProperty("expires_at").GetDateTimeOffset());

        // Asking for far more: capped at creation + max_ttl, by the agent itself or by its orchestrator.
        var capped = await Problems.JsonAsync(await RenewAsync(a.Token, TokenLeaseId(a), "5h"));
        Assert.Equal(created.AddHours(1), capped.GetProperty("expires_at").GetDateTimeOffset());
        _clock.Advance(TimeSpan.FromMinutes(30));
        var again = await Problems.JsonAsync(await RenewAsync(_world.Orchestrator, TokenLeaseId(a), "1h"));
        Assert.Equal(created.AddHours(1), again.GetProperty("expires_at").GetDateTimeOffset());
        Assert.Equal(created.AddHours(1), (await TestLeaseEngine.ReadTokenAsync(_host, a.Accessor))!.ExpiresAt);

        _clock.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        using var expired = await _world.GetAsync(a.Token, "/v1/auth/self");
        await Problems.AssertProblemAsync(expired, HttpStatusCode.Unauthorized, "token_expired");
    }

    [Fact]
    public async Task RevokeTokenLease_RevokesTheSessionAndItsSubtree()
    {
        var (a, a1, a2, b) = await TreeAsync();

        using var response = await RevokeAsync(a.Token, TokenLeaseId(a1));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        foreach (var gone in new[] { a1, a2 })
        {
            using var refused = await _world.GetAsync(gone.Token, "/v1/auth/self");
            await Problems.AssertProblemAsync(refused, HttpStatusCode.Unauthorized, "token_revoked");
            Assert.NotNull((await TestLeaseEngine.ReadLeaseAsync(_host, TokenLeaseId(gone)))!.RevokedAt);
        }

        Assert.Equal(HttpStatusCode.OK, await SelfStatusAsync(a.Token));
        Assert.Equal(HttpStatusCode.OK, await SelfStatusAsync(b.Token));
        Assert.Equal([TokenLeaseId(a)], await ListAsync(a.Token));
        await Problems.AssertProblemAsync(await RevokeAsync(a.Token, TokenLeaseId(a1)), HttpStatusCode.NotFound, "lease_not_found");
    }

    [Fact]
    public async Task RevokePrefix_EmptyOrBadPrefix_Refused()
    {
        var a = await _world.StartAgentAsync("agent-a", "run-1");

        foreach (var prefix in new[] { "", "/", "a/../b", "..", "a//b", "a/./b" })
        {
            var response = await _world.PostAsync(_world.Admin, "/v1/leases/revoke-prefix", new { prefix });
            await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_prefix");
        }

        await Problems.AssertProblemAsync(await _world.PostAsync(_world.Admin, "/v1/leases/revoke-prefix", new { }), HttpStatusCode.BadRequest, "missing_field");
        await Problems.AssertProblemAsync(await _world.PostAsync(_world.Admin, "/v1/leases/revoke-prefix", new { prefix = "auth", all = true }), HttpStatusCode.BadRequest, "unknown_field");
        Assert.Equal(HttpStatusCode.OK, await SelfStatusAsync(a.Token));
    }

    [Fact]
    public async Task RevokePrefix_RevokesWholeSegmentMatchesInReach()
    {
        var (a, a1, a2, b) = await TreeAsync();
        var external = await TestLeaseEngine.IssueAsync(_host, b.Accessor, "creds/db/ro", TimeSpan.FromMinutes(10));

        var workers = await Problems.JsonAsync(await _world.PostAsync(_world.Admin, "/v1/leases/revoke-prefix", new { prefix = "auth/agents/worker/" }));

        Assert.Equal(2, workers.GetProperty("revoked").GetInt32());
        Assert.Equal(HttpStatusCode.Unauthorized, await SelfStatusAsync(a1.Token));
        Assert.Equal(HttpStatusCode.Unauthorized, await SelfStatusAsync(a2.Token));
        Assert.Equal(HttpStatusCode.OK, await SelfStatusAsync(a.Token));

        // "creds/d" is not a whole segment of "creds/db".
        Assert.Equal(0, (await Problems.JsonAsync(await _world.PostAsync(_world.Admin, "/v1/leases/revoke-prefix", new { prefix = "creds/d" }))).GetProperty("revoked").GetInt32());
        Assert.Null((await TestLeaseEngine.ReadLeaseAsync(_host, external.LeaseId))!.RevokedAt);

        // An agent reaches only its own: a's "auth" revokes a itself, not b; b's "creds" revokes its external lease.
        Assert.Equal(1, (await Problems.JsonAsync(await _world.PostAsync(a.Token, "/v1/leases/revoke-prefix", new { prefix = "auth" }))).GetProperty("revoked").GetInt32());
        Assert.Equal(HttpStatusCode.Unauthorized, await SelfStatusAsync(a.Token));
        Assert.Equal(HttpStatusCode.OK, await SelfStatusAsync(b.Token));
        Assert.Equal(1, (await Problems.JsonAsync(await _world.PostAsync(b.Token, "/v1/leases/revoke-prefix", new { prefix = "creds" }))).GetProperty("revoked").GetInt32());
        var revoked = await TestLeaseEngine.ReadLeaseAsync(_host, external.LeaseId);
        Assert.Equal(CleanupState.Pending, revoked!.Cleanup);
        Assert.Equal(HttpStatusCode.OK, await SelfStatusAsync(b.Token));
    }

    [Fact]
    public async Task ExternalLeases_RevokedWithTheirOwnerAtOnce_CleanupRetriedWithBackoffUntilDone()
    {
        var (a, a1, _, b) = await TreeAsync();
        var mine = await TestLeaseEngine.IssueAsync(_host, a.Accessor, "creds/db/rw", TimeSpan.FromMinutes(10));
        var childs = await TestLeaseEngine.IssueAsync(_host, a1.Accessor, "creds/db/ro", TimeSpan.FromMinutes(10));
        var siblings = await TestLeaseEngine.IssueAsync(_host, b.Accessor, "creds/db/ro", TimeSpan.FromMinutes(10));
        Assert.Contains(childs.LeaseId, await ListAsync(a.Token));
        Assert.DoesNotContain(siblings.LeaseId, await ListAsync(a.Token));

        // Revoking the owner: the call returns with the leases revoked, without ever calling the engine.
        using var revoke = await _world.PostAsync(_world.Orchestrator, "/v1/auth/revoke", new { accessor = a.Accessor });
        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        Assert.Equal(0, _engine.TotalCalls);
        foreach (var id in new[] { mine.LeaseId, childs.LeaseId })
        {
            var lease = await TestLeaseEngine.ReadLeaseAsync(_host, id);
            Assert.True(lease!.RevokedAt is not null && lease.Cleanup == CleanupState.Pending, $"{id}: {lease}");
        }

        Assert.Null((await TestLeaseEngine.ReadLeaseAsync(_host, siblings.LeaseId))!.RevokedAt);
        Assert.DoesNotContain(mine.LeaseId, await ListAsync(_world.Admin));

        // First attempt fails: retried after 1 s (and up to a quarter more, at random), not before.
        var first = await Sweeper.SweepOnceAsync();
        Assert.Equal(0, first.CleanupsDone);
        Assert.Equal((1, 1), (_engine.CallsFor(mine.LeaseId), _engine.CallsFor(childs.LeaseId)));
        var failed = await TestLeaseEngine.ReadLeaseAsync(_host, mine.LeaseId);
        Assert.Equal((CleanupState.Pending, 1), (failed!.Cleanup, failed.CleanupAttempts));
        Assert.InRange(failed.CleanupNextAt!.Value, _clock.GetUtcNow().AddSeconds(1), _clock.GetUtcNow().AddSeconds(1.25));
        Assert.Equal("TimeoutException", failed.CleanupError);
        await Sweeper.SweepOnceAsync();
        Assert.Equal(1, _engine.CallsFor(mine.LeaseId));

        // Second attempt fails: the backoff doubles (both leases are due once the longest first backoff has passed).
        _clock.Advance(TimeSpan.FromSeconds(1.25));
        await Sweeper.SweepOnceAsync();
        Assert.Equal(2, _engine.CallsFor(mine.LeaseId));
        var next = (await TestLeaseEngine.ReadLeaseAsync(_host, mine.LeaseId))!.CleanupNextAt!.Value;
        Assert.InRange(next, _clock.GetUtcNow().AddSeconds(2), _clock.GetUtcNow().AddSeconds(2.5));
        _clock.Advance(TimeSpan.FromSeconds(1));
        await Sweeper.SweepOnceAsync();
        Assert.Equal(2, _engine.CallsFor(mine.LeaseId));

        // Third attempt succeeds, and that is the end of it.
        _clock.Advance(TimeSpan.FromSeconds(1.5));
        var done = await Sweeper.SweepOnceAsync();
        Assert.Equal(2, done.CleanupsDone);
        Assert.Equal(new[] { childs.LeaseId, mine.LeaseId }.Order(StringComparer.Ordinal), _engine.Cleaned.Order(StringComparer.Ordinal));
        var cleaned = await TestLeaseEngine.ReadLeaseAsync(_host, mine.LeaseId);
        Assert.Equal((CleanupState.Done, 3), (cleaned!.Cleanup, cleaned.CleanupAttempts));
        _clock.Advance(TimeSpan.FromMinutes(1));
        await Sweeper.SweepOnceAsync();
        Assert.Equal(3, _engine.CallsFor(mine.LeaseId));
        Assert.Equal(0, _engine.CallsFor(siblings.LeaseId));

        // The engine's message (it may quote data) is in no log line.
        Assert.DoesNotContain(_host.Logs.Lines, l => l.Contains("10.0.0.7", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ExpiredExternalLease_RevokedBySweep_CleanupRuns_OwnerUntouched()
    {
        var a = await _world.StartAgentAsync("agent-a", "run-1", ttl: "30m");
        var lease = await TestLeaseEngine.IssueAsync(_host, a.Accessor, "creds/db/ro", TimeSpan.FromMinutes(5));
        var longer = await TestLeaseEngine.IssueAsync(_host, a.Accessor, "creds/db/ro", TimeSpan.FromMinutes(20));
        Assert.Equal(0, (await Sweeper.SweepOnceAsync()).ExpiredLeases);

        _clock.Advance(TimeSpan.FromMinutes(5));
        var sweep = await Sweeper.SweepOnceAsync();

        Assert.Equal(1, sweep.ExpiredLeases);
        var expired = await TestLeaseEngine.ReadLeaseAsync(_host, lease.LeaseId);
        Assert.Equal(_clock.GetUtcNow(), expired!.RevokedAt);
        Assert.Equal(1, _engine.CallsFor(lease.LeaseId)); // the clean-up ran in the same sweep (and failed the first time)
        Assert.Null((await TestLeaseEngine.ReadLeaseAsync(_host, longer.LeaseId))!.RevokedAt);
        Assert.Equal(HttpStatusCode.OK, await SelfStatusAsync(a.Token));
        Assert.DoesNotContain(lease.LeaseId, await ListAsync(a.Token));

        // Backoffs of 1 s and 2 s, each up to a quarter longer at random.
        _clock.Advance(TimeSpan.FromSeconds(1.25));
        await Sweeper.SweepOnceAsync();
        _clock.Advance(TimeSpan.FromSeconds(2.5));
        await Sweeper.SweepOnceAsync();
        Assert.Equal([lease.LeaseId], _engine.Cleaned);
        Assert.Equal(CleanupState.Done, (await TestLeaseEngine.ReadLeaseAsync(_host, lease.LeaseId))!.Cleanup);

        var events = await EventsAsync();
        var revokedEvent = Assert.Single(events, e => e.Type == EventTypes.LeaseRevoked);
        using var data = JsonDocument.Parse(revokedEvent.Data);
        Assert.Equal((lease.LeaseId, "expired"), (data.RootElement.GetProperty("lease_id").GetString(), data.RootElement.GetProperty("reason").GetString()));
        Assert.Equal(a.Accessor, revokedEvent.SubjectAccessor);
    }

    [Fact]
    public async Task ExternalLease_CannotOutliveItsOwner()
    {
        var a = await _world.StartAgentAsync("agent-a", "run-1", ttl: "10m");

        var lease = await TestLeaseEngine.IssueAsync(_host, a.Accessor, "creds/db/ro", TimeSpan.FromHours(1), TimeSpan.FromHours(2));

        Assert.Equal(a.ExpiresAt, lease.ExpiresAt);
        Assert.Equal(a.ExpiresAt, lease.MaxExpiresAt);
        var renewed = await Problems.JsonAsync(await RenewAsync(a.Token, lease.LeaseId, "1h"));
        Assert.True(renewed.GetProperty("expires_at").GetDateTimeOffset() <= a.ExpiresAt, renewed.GetRawText());
    }

    private Task<IReadOnlyList<EventRecord>> EventsAsync() => TestLeaseEngine.ReadEventsAsync(_host, _world.Tenant);
}
