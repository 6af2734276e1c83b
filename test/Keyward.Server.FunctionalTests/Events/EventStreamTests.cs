using System.Net;
using Keyward.Core.Events;
using Keyward.Core.Storage;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Events;

/// <summary><c>GET /v1/events</c>: server-sent events filtered by the token's reach, resumable, closed on revocation.</summary>
public sealed class EventStreamTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private KeywardTestHost _host = null!;
    private AgentWorld _world = null!;

    public async Task InitializeAsync()
    {
        _host = await KeywardTestHost.StartAsync();
        _world = await AgentWorld.CreateAsync(_host, "acme");
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Admin_SeesSecretWritesAndDeletes_WithVersionsAndNeverValues()
    {
        // Arrange
        await using var stream = await SseStream.OpenAsync(_host, _world.Admin, "/v1/events");

        // Act
        await _host.PutSecretAsync(_world.Admin, "apps/web/db", new { password = "canary-value-1" });
        await _world.PostAsync(_world.Admin, "/v1/secrets/apps/web/db/destroy", new { versions = new[] { 1 } });
        var events = await stream.ReadAsync(2, Wait);

        // Assert
        Assert.Equal(["secret.written", "secret.deleted"], events.Select(e => e.Type));
        Assert.Equal("apps/web/db", events[0].Data.GetProperty("path").GetString());
        Assert.Equal(1, events[0].Data.GetProperty("version").GetInt64());
        Assert.Equal("destroy", events[1].Data.GetProperty("action").GetString());
        Assert.True(events[1].Id > events[0].Id);
        Assert.DoesNotContain(events, e => e.Raw.Contains("canary-value-1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Agent_SeesOnlyPathsItMayReadOrListOrUse_AndOnlyRevocationsInItsSubtree()
    {
        // Arrange: a worker (read on apps/web/**) and a sibling agent of another orchestrator branch
        var agent = await _world.StartAgentAsync("w", "run-1", "worker");
        var child = await _world.SpawnAsync(agent, "c", "worker");
        var sibling = await _world.StartAgentAsync("s", "run-1", "worker");
        await using var stream = await SseStream.OpenAsync(_host, agent.Token, "/v1/events");

        // Act
        await _host.PutSecretAsync(_world.Admin, "apps/api/key", new { key = "hidden" });
        await _world.PostAsync(_world.Orchestrator, "/v1/auth/revoke", new { accessor = sibling.Accessor });
        await _host.PutSecretAsync(_world.Admin, "apps/web/db", new { password = "visible" });
        await _world.PostAsync(child.Token, "/v1/auth/revoke-self");
        var events = await stream.ReadAsync(2, Wait);

        // Assert: the web write and the child's revocation; not the api write, not the sibling's revocation
        Assert.Equal(["secret.written", "token.revoked"], events.Select(e => e.Type));
        Assert.Equal("apps/web/db", events[0].Data.GetProperty("path").GetString());
        Assert.Equal(child.Accessor, events[1].Data.GetProperty("accessor").GetString());
    }

    [Fact]
    public async Task Prefix_FiltersWholeSegments()
    {
        // Arrange
        await using var stream = await SseStream.OpenAsync(_host, _world.Admin, "/v1/events?prefix=apps/web");

        // Act
        await _host.PutSecretAsync(_world.Admin, "apps/web-admin/k", new { v = "x" });
        await _host.PutSecretAsync(_world.Admin, "apps/web/k", new { v = "y" });
        var events = await stream.ReadAsync(1, Wait);

        // Assert
        Assert.Equal("apps/web/k", Assert.Single(events).Data.GetProperty("path").GetString());
    }

    [Fact]
    public async Task LastEventId_ResumesWithEverythingMissed_OrResetsWhenItWasPruned()
    {
        // Arrange: one event seen, then two written while disconnected
        long seen;
        await using (var first = await SseStream.OpenAsync(_host, _world.Admin, "/v1/events"))
        {
            await _host.PutSecretAsync(_world.Admin, "apps/a", new { v = "1" });
            seen = (await first.ReadAsync(1, Wait))[0].Id;
        }

        await _host.PutSecretAsync(_world.Admin, "apps/b", new { v = "2" });
        await _host.PutSecretAsync(_world.Admin, "apps/c", new { v = "3" });

        // Act
        await using var resumed = await SseStream.OpenAsync(_host, _world.Admin, "/v1/events", seen);
        var missed = await resumed.ReadAsync(2, Wait);
        await using (var session = await _host.Store.WriteAsync())
        {
            await session.Events.PruneAsync(DateTimeOffset.UtcNow.AddDays(1), 1000);
            await session.CommitAsync();
        }

        await using var stale = await SseStream.OpenAsync(_host, _world.Admin, "/v1/events", seen);
        var reset = await stale.ReadAsync(1, Wait);

        // Assert
        Assert.Equal(["apps/b", "apps/c"], missed.Select(e => e.Data.GetProperty("path").GetString()));
        Assert.Equal("reset", Assert.Single(reset).Type);
    }

    [Fact]
    public async Task Stream_EndsWhenItsTokenIsRevoked()
    {
        // Arrange
        var agent = await _world.StartAgentAsync("r", "run-2", "worker");
        await using var stream = await SseStream.OpenAsync(_host, agent.Token, "/v1/events");

        // Act
        await _world.PostAsync(_world.Orchestrator, "/v1/auth/revoke", new { accessor = agent.Accessor });
        var ended = await stream.WaitForEndAsync(Wait);

        // Assert
        Assert.True(ended, "the stream must close once its token is revoked");
    }

    [Fact]
    public async Task NinthStreamOfOneToken_Refused429_BadLastEventId400()
    {
        // Arrange
        var streams = new List<SseStream>();
        for (var i = 0; i < 8; i++)
        {
            streams.Add(await SseStream.OpenAsync(_host, _world.Admin, "/v1/events"));
        }

        // Act
        using var client = _host.Client(_world.Admin);
        var ninth = await client.GetAsync("/v1/events", HttpCompletionOption.ResponseHeadersRead);
        using var badId = new HttpRequestMessage(HttpMethod.Get, "/v1/events");
        badId.Headers.Add("Last-Event-ID", "abc");
        using var other = _host.Client(await _host.MintTokenAsync("acme", "admin"));
        var bad = await other.SendAsync(badId);

        // Assert
        await Problems.AssertProblemAsync(ninth, HttpStatusCode.TooManyRequests, "too_many_streams");
        await Problems.AssertProblemAsync(bad, HttpStatusCode.BadRequest, "invalid_field");
        foreach (var stream in streams)
        {
            await stream.DisposeAsync();
        }
    }

    [Fact]
    public async Task OtherTenantsCommits_MoveNoStreamPastItsOwnEvents()
    {
        // Arrange: a stream of acme, and a busy neighbour whose events take ids before, between and after acme's
        var globex = await AgentWorld.CreateAsync(_host, "globex");
        await using var stream = await SseStream.OpenAsync(_host, _world.Admin, "/v1/events");

        // Act
        var writes = new List<Task>();
        for (var i = 0; i < 20; i++)
        {
            writes.Add(_host.PutSecretAsync(globex.Admin, $"apps/g{i}", new { password = "globex-value" }));
            if (i % 5 == 0)
            {
                writes.Add(_host.PutSecretAsync(_world.Admin, $"apps/a{i}", new { password = "acme-value" }));
            }
        }

        await Task.WhenAll(writes);
        var seen = await stream.ReadAsync(4, Wait);
        await _host.PutSecretAsync(globex.Admin, "apps/g-last", new { password = "globex-value" });
        await _host.PutSecretAsync(_world.Admin, "apps/a-last", new { password = "acme-value" });
        var last = await stream.ReadAsync(1, Wait);

        // Assert: every acme write, in id order, nothing of globex's
        Assert.Equal(["apps/a0", "apps/a10", "apps/a15", "apps/a5"], seen.Select(e => e.Data.GetProperty("path").GetString()).Order(StringComparer.Ordinal));
        Assert.Equal(seen.OrderBy(e => e.Id).Select(e => e.Id), seen.Select(e => e.Id));
        Assert.Equal("apps/a-last", Assert.Single(last).Data.GetProperty("path").GetString());
    }

    [Fact]
    public async Task EventsCommittedOutsideThisNodesCommitter_ReachTheStreamByItsPoll()
    {
        // Arrange: a quiet server (no sweeper or scheduler commits), a stream that has already read up to date
        var quiet = new KeywardServerOptions
        {
            Dev = true,
            DevRootToken = KeywardTestHost.RootToken,
            SweepInterval = TimeSpan.FromDays(30),
            RotationInterval = TimeSpan.FromDays(30),
        };
        await using var host = await KeywardTestHost.StartAsync(quiet);
        var world = await AgentWorld.CreateAsync(host, "shared");
        await using var stream = await SseStream.OpenAsync(host, world.Admin, "/v1/events");
        await host.PutSecretAsync(world.Admin, "apps/here", new { password = "written-here" });
        var here = await stream.ReadAsync(1, Wait);

        // Act: an event committed straight into the store, as another node sharing it would: this node's committer
        // never sees it (its next audit checkpoint is 10 s away), so only the stream's once-a-second poll can find it
        var store = host.Services.GetRequiredService<IKeywardStore>();
        await using (var session = await store.WriteAsync())
        {
            var tenant = await session.Tenants.GetByIdAsync("shared");
            await EventLog.AppendAsync(session, tenant!.Uid, EventTypes.SecretWritten, DateTimeOffset.UtcNow, new { path = "apps/elsewhere", version = 1 }, path: "apps/elsewhere");
            await session.CommitAsync();
        }

        var events = await stream.ReadAsync(1, EventStream.RecheckInterval * 5);

        // Assert
        Assert.Equal("apps/here", Assert.Single(here).Data.GetProperty("path").GetString());
        Assert.Equal("apps/elsewhere", Assert.Single(events).Data.GetProperty("path").GetString());
    }

    [Fact]
    public async Task SecondServerOnTheSameSqliteDirectory_IsRefusedAtStart()
    {
        // Two servers on one SQLite file would each cache what the other changes (a revocation on one would not
        // hold on the other): the data directory's lock refuses the second.
        using var data = new TempDirectory();
        await using var first = await KeywardTestHost.StartAsync(data.Path);

        var refused = await Assert.ThrowsAsync<Keyward.Server.Hosting.ServerStartupException>(() => KeywardTestHost.StartAsync(data.Path));

        Assert.Contains("keyward.lock", refused.Message, StringComparison.Ordinal);
        Assert.Contains("--storage postgres", refused.Message, StringComparison.Ordinal);
    }
}
