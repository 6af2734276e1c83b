using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Core.Events;
using Keyward.Core.Leases;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Agents;

/// <summary>
/// The kill switch: <c>POST /v1/tenants/{id}/lockdown</c> revokes every token and lease of the tenant in one step,
/// answers 423 to all of its requests until unlock (admin tokens minted afterwards may read the audit log), records
/// the incident in the audit log and publishes a <c>tenant.lockdown</c> event. Other tenants are untouched.
/// </summary>
public sealed class LockdownTests : IAsyncLifetime
{
    private const int Sessions = 250;
    private const int Children = 50;
    private const int UnusedBootstraps = 40;
    private const int ExternalLeases = 30;

    private readonly TestLeaseEngine _engine = new(failuresPerLease: 0);
    private KeywardTestHost _host = null!;
    private AgentWorld _acme = null!;
    private AgentWorld _globex = null!;

    public async Task InitializeAsync()
    {
        _host = await KeywardTestHost.StartAsync(services: s => s.AddSingleton<ILeaseEngine>(_engine));
        _acme = await AgentWorld.CreateAsync(_host, "acme");
        _globex = await AgentWorld.CreateAsync(_host, "globex");
        await _host.PutSecretAsync(_acme.Admin, "apps/web/db", new { password = "acme-canary" });
        await _host.PutSecretAsync(_globex.Admin, "apps/web/db", new { password = "globex-canary" });
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<HttpResponseMessage> LockdownAsync(string tenant, string? token = KeywardTestHost.RootToken, string reason = "bootstrap token leaked in CI logs")
    {
        using var client = _host.Client(token);
        return await client.PostAsJsonAsync($"/v1/tenants/{tenant}/lockdown", new { reason });
    }

    private async Task<HttpResponseMessage> UnlockAsync(string tenant, string? token = KeywardTestHost.RootToken)
    {
        using var client = _host.Client(token);
        return await client.PostAsJsonAsync($"/v1/tenants/{tenant}/unlock", new { });
    }

    private static Task ForAllAsync<T>(IEnumerable<T> items, Func<T, Task> work) =>
        Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (item, _) => await work(item));

    private static async Task<(HttpStatusCode Status, string? Code)> StatusAsync(HttpResponseMessage response)
    {
        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                return (response.StatusCode, null);
            }

            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return (response.StatusCode, body.RootElement.GetProperty("code").GetString());
        }
    }

    [Fact]
    public async Task Lockdown_HundredsOfSessions_CountsExact_Every423_ThenRevokedAfterUnlock()
    {
        // Arrange: sessions (some with a spawned child), test-engine leases, unused bootstrap tokens, an admin token.
        var adminBefore = await _host.MintTokenAsync("acme", "admin");
        var sessions = new ConcurrentBag<AgentSessionInfo>();
        await ForAllAsync(Enumerable.Range(0, Sessions), async i =>
        {
            var session = await _acme.StartAgentAsync($"agent-{i}", $"run-{i % 7}");
            sessions.Add(session);
            if (i < Children)
            {
                sessions.Add(await _acme.SpawnAsync(session, $"child-{i}", "worker"));
            }
        });
        var leaseOwners = sessions.Take(ExternalLeases).ToList();
        foreach (var owner in leaseOwners)
        {
            await TestLeaseEngine.IssueAsync(_host, owner.Accessor, "creds/db/ro", TimeSpan.FromMinutes(20));
        }

        var unused = new ConcurrentBag<string>();
        await ForAllAsync(Enumerable.Range(0, UnusedBootstraps), async i => unused.Add(await _acme.BootstrapAsync($"late-{i}", "run-late", "solo")));
        var globexAgent = await _globex.StartAgentAsync("agent-0", "run-0");
        Assert.Equal(HttpStatusCode.OK, await _acme.ReadStatusAsync(sessions.First().Token, "apps/web/db"));

        // Act
        var lockdown = await Problems.JsonAsync(await LockdownAsync("acme"));

        // Assert: every token of the tenant that could still act (two admins, the orchestrator, every session, every
        // unused bootstrap token — exchanged ones are spent and left alone), every lease (one per session and the
        // test engine's, which wait for their clean-up outside).
        var incidentId = lockdown.GetProperty("incident_id").GetString();
        Assert.StartsWith("inc_", incidentId, StringComparison.Ordinal);
        Assert.Equal(3 + Sessions + Children + UnusedBootstraps, lockdown.GetProperty("revoked_tokens").GetInt32());
        Assert.Equal(Sessions + Children + ExternalLeases, lockdown.GetProperty("revoked_leases").GetInt32());
        Assert.Equal(ExternalLeases, lockdown.GetProperty("pending_external").GetInt32());

        // Every token of acme now gets 423, whatever it asks.
        var refusals = new ConcurrentBag<string>();
        async Task Expect423Async(string what, HttpResponseMessage response)
        {
            var (status, code) = await StatusAsync(response);
            if (status != HttpStatusCode.Locked || code != "tenant_locked")
            {
                refusals.Add($"{what}: {(int)status} {code}");
            }
        }

        await ForAllAsync(sessions, async s =>
        {
            await Expect423Async("session read", await _acme.GetAsync(s.Token, "/v1/secrets/apps/web/db"));
            await Expect423Async("session renew", await _acme.PostAsync(s.Token, "/v1/auth/renew"));
        });
        await ForAllAsync(unused, async b => await Expect423Async("unused bootstrap exchange", await _acme.ExchangeRawAsync(b)));
        await Expect423Async("orchestrator bootstrap", await _acme.PostAsync(_acme.Orchestrator, "/v1/agents/bootstrap", new { agent_id = "x", run_id = "r", role = "solo", ttl = "5m" }));
        foreach (var admin in new[] { _acme.Admin, adminBefore })
        {
            await Expect423Async("admin-before audit", await _acme.GetAsync(admin, "/v1/audit"));
            await Expect423Async("admin-before secret", await _acme.GetAsync(admin, "/v1/secrets/apps/web/db"));
            await Expect423Async("admin-before roles", await _acme.GetAsync(admin, "/v1/roles"));
        }

        Assert.True(refusals.IsEmpty, string.Join("\n", refusals.Take(20)));
        Assert.Equal(HttpStatusCode.OK, await _globex.ReadStatusAsync(globexAgent.Token, "apps/web/db"));

        // Unlock: what the lockdown revoked stays revoked.
        using (var unlock = await UnlockAsync("acme"))
        {
            Assert.Equal(HttpStatusCode.NoContent, unlock.StatusCode);
        }

        var after = new ConcurrentBag<string>();
        async Task Expect401Async(string what, HttpResponseMessage response)
        {
            var (status, code) = await StatusAsync(response);
            if (status != HttpStatusCode.Unauthorized || code != "token_revoked")
            {
                after.Add($"{what}: {(int)status} {code}");
            }
        }

        await ForAllAsync(sessions, async s => await Expect401Async("session read", await _acme.GetAsync(s.Token, "/v1/secrets/apps/web/db")));
        await ForAllAsync(unused, async b => await Expect401Async("unused bootstrap exchange", await _acme.ExchangeRawAsync(b)));
        await Expect401Async("orchestrator", await _acme.GetAsync(_acme.Orchestrator, "/v1/auth/self"));
        await Expect401Async("admin", await _acme.GetAsync(adminBefore, "/v1/audit"));
        Assert.True(after.IsEmpty, string.Join("\n", after.Take(20)));

        // Leases stayed revoked; the test engine's clean-ups complete in the background.
        var listed = await Problems.JsonAsync(await _acme.GetAsync(await _host.MintTokenAsync("acme", "admin"), "/v1/leases"));
        Assert.Empty(listed.GetProperty("leases").EnumerateArray());
    }

    [Fact]
    public async Task Lockdown_IncidentAudited_EventPublished_LateAdminReadsAuditOnly()
    {
        var agent = await _acme.StartAgentAsync("agent-1", "run-1");
        var lease = await TestLeaseEngine.IssueAsync(_host, agent.Accessor, "creds/db/ro", TimeSpan.FromMinutes(10));

        var lockdown = await Problems.JsonAsync(await LockdownAsync("acme", reason: "incident 42"));
        var incidentId = lockdown.GetProperty("incident_id").GetString()!;
        await Task.Delay(TimeSpan.FromMilliseconds(20)); // an admin minted "after": a later creation instant than the lockdown
        var lateAdmin = await _host.MintTokenAsync("acme", "admin");

        // The late admin reads the audit log...
        var records = await new Infrastructure.AuditLog(_host, lateAdmin, "/v1/audit").RefreshAsync();
        var incident = Assert.Single(records, r => r.GetProperty("operation").GetString() == "tenant.lockdown");
        Assert.Equal("ok", incident.GetProperty("outcome").GetString());
        Assert.Equal("acme", incident.GetProperty("tenant").GetString());
        var details = incident.GetProperty("details");
        Assert.Equal(incidentId, details.GetProperty("incident_id").GetString());
        Assert.Equal("incident 42", details.GetProperty("reason").GetString());
        Assert.Equal(lockdown.GetProperty("revoked_tokens").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture), details.GetProperty("revoked_tokens").GetString());
        Assert.Equal("2", details.GetProperty("revoked_leases").GetString()); // the session's own and the test engine's
        Assert.True(details.TryGetProperty("pending_external", out _));
        Assert.Equal("root", incident.GetProperty("actor").GetProperty("kind").GetString());

        // ...and nothing else.
        foreach (var (method, route) in new[] { ("GET", "/v1/secrets/apps/web/db"), ("GET", "/v1/roles"), ("PUT", "/v1/roles/x"), ("GET", "/v1/leases"), ("GET", "/v1/settings/anomalies") })
        {
            using var client = _host.Client(lateAdmin);
            using var request = new HttpRequestMessage(new HttpMethod(method), route);
            if (method == "PUT")
            {
                request.Content = JsonContent.Create(new { rules = Array.Empty<object>(), max_ttl = "1h" });
            }

            var response = await client.SendAsync(request);
            await Problems.AssertProblemAsync(response, HttpStatusCode.Locked, "tenant_locked");
        }

        // The root may still mint admin tokens, but not orchestrators.
        using (var root = _host.Client())
        {
            var orchestrator = await root.PostAsJsonAsync("/v1/tenants/acme/tokens", new { kind = "orchestrator", ttl = "1h" });
            await Problems.AssertProblemAsync(orchestrator, HttpStatusCode.Locked, "tenant_locked");
        }

        // The event, read through the store port.
        var events = await TestLeaseEngine.ReadEventsAsync(_host, "acme");
        var published = Assert.Single(events, e => e.Type == EventTypes.TenantLockdown);
        using var data = JsonDocument.Parse(published.Data);
        Assert.Equal(incidentId, data.RootElement.GetProperty("incident_id").GetString());
        Assert.Equal(lockdown.GetProperty("revoked_tokens").GetInt32(), data.RootElement.GetProperty("revoked_tokens").GetInt32());
        Assert.DoesNotContain(await TestLeaseEngine.ReadEventsAsync(_host, "globex"), e => e.Type == EventTypes.TenantLockdown);

        // The lease is revoked and its clean-up outside continues (the background sweeper runs it).
        Assert.NotNull((await TestLeaseEngine.ReadLeaseAsync(_host, lease.LeaseId))!.RevokedAt);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!_engine.Cleaned.Contains(lease.LeaseId) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Contains(lease.LeaseId, _engine.Cleaned);
    }

    [Fact]
    public async Task Lockdown_OtherTenantUntouched()
    {
        var acmeAgent = await _acme.StartAgentAsync("agent-1", "run-1");
        var globexAgent = await _globex.StartAgentAsync("agent-1", "run-1");
        var globexBootstrap = await _globex.BootstrapAsync("agent-2", "run-1", "solo");

        using (var response = await LockdownAsync("acme"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(HttpStatusCode.Locked, await _acme.ReadStatusAsync(acmeAgent.Token, "apps/web/db"));
        var read = await Problems.JsonAsync(await _globex.GetAsync(globexAgent.Token, "/v1/secrets/apps/web/db"));
        Assert.Equal("globex-canary", read.GetProperty("data").GetProperty("password").GetString());
        Assert.Equal(HttpStatusCode.OK, await _globex.ReadStatusAsync((await _globex.ExchangeAsync(globexBootstrap)).Token, "apps/web/db"));
        using (var roles = await _globex.GetAsync(_globex.Admin, "/v1/roles"))
        {
            Assert.Equal(HttpStatusCode.OK, roles.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, await _globex.ReadStatusAsync((await _globex.StartAgentAsync("agent-3", "run-2")).Token, "apps/web/db"));
    }

    [Fact]
    public async Task Lockdown_Refusals_NonRootUnknownTenantMissingReasonUnlockUnlocked()
    {
        var agent = await _acme.StartAgentAsync("agent-1", "run-1");

        await Problems.AssertProblemAsync(await LockdownAsync("acme", _acme.Admin), HttpStatusCode.Forbidden, "root_token_required");
        await Problems.AssertProblemAsync(await LockdownAsync("acme", _acme.Orchestrator), HttpStatusCode.Forbidden, "root_token_required");
        await Problems.AssertProblemAsync(await LockdownAsync("acme", agent.Token), HttpStatusCode.Forbidden, "root_token_required");
        await Problems.AssertProblemAsync(await LockdownAsync("acme", _globex.Admin), HttpStatusCode.Forbidden, "root_token_required");
        await Problems.AssertProblemAsync(await LockdownAsync("acme", null), HttpStatusCode.Unauthorized, "missing_token");
        await Problems.AssertProblemAsync(await LockdownAsync("nope"), HttpStatusCode.NotFound, "tenant_not_found");
        await Problems.AssertProblemAsync(await LockdownAsync("acme", reason: ""), HttpStatusCode.BadRequest, "missing_field");
        await Problems.AssertProblemAsync(await UnlockAsync("acme"), HttpStatusCode.Conflict, "tenant_not_locked");
        await Problems.AssertProblemAsync(await UnlockAsync("nope"), HttpStatusCode.NotFound, "tenant_not_found");
        await Problems.AssertProblemAsync(await UnlockAsync("acme", _acme.Admin), HttpStatusCode.Forbidden, "root_token_required");

        // None of that locked anything.
        Assert.Equal(HttpStatusCode.OK, await _acme.ReadStatusAsync(agent.Token, "apps/web/db"));

        // Once locked, a tenant admin cannot unlock it either.
        using (var locked = await LockdownAsync("acme"))
        {
            Assert.Equal(HttpStatusCode.OK, locked.StatusCode);
        }

        await Problems.AssertProblemAsync(await UnlockAsync("acme", _acme.Admin), HttpStatusCode.Locked, "tenant_locked");
        using (var unlocked = await UnlockAsync("acme"))
        {
            Assert.Equal(HttpStatusCode.NoContent, unlocked.StatusCode);
        }

        await Problems.AssertProblemAsync(await UnlockAsync("acme"), HttpStatusCode.Conflict, "tenant_not_locked");

        // After unlock the tenant works again with new tokens.
        Assert.Equal(HttpStatusCode.OK, await _acme.ReadStatusAsync((await _acme.StartAgentAsync("agent-2", "run-2", orchestrator: await _host.MintTokenAsync("acme", "orchestrator"))).Token, "apps/web/db"));
    }

    [Fact]
    public async Task Lockdown_RacingReads_NoneStartedAfterTheCallReturnedSucceeds()
    {
        var agent = await _acme.StartAgentAsync("agent-1", "run-1");
        var reads = new ConcurrentQueue<(long Started, HttpStatusCode Status)>();
        using var stop = new CancellationTokenSource();
        var readers = Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            using var client = _host.Client(agent.Token);
            while (!stop.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                using var response = await client.GetAsync("/v1/secrets/apps/web/db");
                reads.Enqueue((started, response.StatusCode));
            }
        })).ToList();

        while (reads.Count(r => r.Status == HttpStatusCode.OK) < 50)
        {
            await Task.Delay(5);
        }

        using (var lockdown = await LockdownAsync("acme"))
        {
            Assert.Equal(HttpStatusCode.OK, lockdown.StatusCode);
        }

        var returned = Stopwatch.GetTimestamp();
        while (reads.Count(r => r.Started > returned) < 200)
        {
            await Task.Delay(5);
        }

        await stop.CancelAsync();
        await Task.WhenAll(readers);

        var afterwards = reads.Where(r => r.Started > returned).ToList();
        Assert.True(afterwards.Count >= 200);
        Assert.DoesNotContain(afterwards, r => r.Status == HttpStatusCode.OK);
        Assert.All(afterwards, r => Assert.Equal(HttpStatusCode.Locked, r.Status));
        Assert.Contains(reads, r => r.Started < returned && r.Status == HttpStatusCode.OK);
    }
}
