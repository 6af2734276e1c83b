using Keyward.Client.Models;

namespace Keyward.Client.Tests;

public sealed class EventStreamTests : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly ServerFixture _server;

    public EventStreamTests(ServerFixture server)
    {
        _server = server;
    }

    [Fact]
    public async Task StreamEventsAsync_DeliversWritesInOrder_ResumesAfterTheLastId_NeverCarriesValues()
    {
        var world = await AgentWorld.CreateAsync(_server);
        using var admin = world.Admin();
        using var timeout = new CancellationTokenSource(Wait);
        await admin.PutSecretAsync("app/one", new Dictionary<string, string> { ["v"] = "value-one" });
        await admin.PutSecretAsync("ops/other", new Dictionary<string, string> { ["v"] = "value-ops" });
        await admin.PutSecretAsync("app/two", new Dictionary<string, string> { ["v"] = "value-two" });

        // From the beginning of what is kept (a fresh stream would start after the newest event): the tenant's earlier
        // writes under app/ come first, the ops/ write never.
        var seen = new List<KeywardEvent>();
        await foreach (var e in admin.StreamEventsAsync(prefix: "app", lastEventId: 0, cancellationToken: timeout.Token))
        {
            Assert.NotEqual("ops/other", e.IsReset ? null : e.Data.GetProperty("path").GetString());
            seen.Add(e);
            if (!e.IsReset && e.Data.GetProperty("path").GetString() == "app/two")
            {
                break;
            }
        }

        var one = seen.Single(e => !e.IsReset && e.Data.GetProperty("path").GetString() == "app/one");
        var two = seen[^1];
        Assert.Equal(("secret.written", "app/one"), (one.Type, one.Data.GetProperty("path").GetString()));
        Assert.Equal(("secret.written", "app/two"), (two.Type, two.Data.GetProperty("path").GetString()));
        Assert.True(two.Id > one.Id);
        Assert.DoesNotContain("value-", one.Data.GetRawText() + two.Data.GetRawText(), StringComparison.Ordinal);

        // Resuming after the first event replays the second.
        await foreach (var replayed in admin.StreamEventsAsync(prefix: "app", lastEventId: one.Id, cancellationToken: timeout.Token))
        {
            Assert.Equal(two.Id, replayed.Id);
            break;
        }
    }

    [Fact]
    public async Task StreamEventsAsync_EndsWhenTheSessionIsRevoked()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("listener", "run-events");
        using var timeout = new CancellationTokenSource(Wait);
        var received = new List<KeywardEvent>();
        var reading = Task.Run(async () =>
        {
            await foreach (var e in session.Client.StreamEventsAsync(cancellationToken: timeout.Token))
            {
                received.Add(e);
            }
        });

        await Task.Delay(200);
        using (var orchestrator = world.Orchestrator())
        {
            await orchestrator.RevokeTokenAsync(session.Accessor);
        }

        await reading;
        Assert.False(timeout.IsCancellationRequested, "the stream should end once its token is revoked, not time out");
    }
}
