using Keyward.Client.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Primitives;

namespace Keyward.Client.Tests.Cache;

/// <summary>The agent-side cache against the in-process server: invalidation end to end.</summary>
public sealed class SecretCacheTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public SecretCacheTests(ServerFixture server)
    {
        _server = server;
    }

    [Fact]
    public async Task Put_NewVersion_DropsTheEntry_NextReadReturnsIt()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("cacher", "run-cache-put");
        using var admin = world.Admin();
        var first = await session.Secrets.GetAsync("app/db");
        Assert.True(session.Secrets.IsLive);
        Assert.Equal(("pw-app-db", 1L), (Password(first), first.Version));

        var dropped = Invalidations.Next(session.Secrets, e => e.Path == "app/db");
        await admin.PutSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "pw-app-db-2" });
        Assert.Equal(SecretInvalidationReason.Written, (await dropped).Reason);

        Assert.False(session.Secrets.TryGet("app/db", out _));
        Assert.Throws<ObjectDisposedException>(() => first.GetString());
        var second = await session.Secrets.GetAsync("app/db");
        Assert.Equal(("pw-app-db-2", 2L), (Password(second), second.Version));
    }

    [Fact]
    public async Task RotateThenPromote_PendingKeepsTheEntry_PromoteDropsIt_NextReadIsTheNewCurrent()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("cacher", "run-cache-rotate");
        using var admin = world.Admin();
        var first = await session.Secrets.GetAsync("app/db");
        var invalidations = new List<SecretInvalidatedEventArgs>();
        session.Secrets.Invalidated += (_, e) =>
        {
            lock (invalidations)
            {
                invalidations.Add(e);
            }
        };

        var staged = await admin.RotateSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "pw-rotated" });
        var dropped = Invalidations.Next(session.Secrets, e => e.Path == "app/db");
        var promoted = await admin.PromoteSecretAsync("app/db", staged.Version);
        Assert.Equal(SecretInvalidationReason.Rotated, (await dropped).Reason);

        lock (invalidations)
        {
            // The pending stage came first on the same stream and dropped nothing.
            Assert.Single(invalidations);
        }

        Assert.Throws<ObjectDisposedException>(() => first.GetString());
        var second = await session.Secrets.GetAsync("app/db");
        Assert.Equal(("pw-rotated", staged.Version, promoted.Epoch), (Password(second), second.Version, second.Epoch));
    }

    [Fact]
    public async Task Delete_DropsTheEntry()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("cacher", "run-cache-delete");
        using var admin = world.Admin();
        await session.Secrets.GetAsync("app/db");

        var dropped = Invalidations.Next(session.Secrets, e => e.Path == "app/db");
        await admin.DeleteSecretAsync("app/db");

        Assert.Equal(SecretInvalidationReason.Deleted, (await dropped).Reason);
        Assert.False(session.Secrets.TryGet("app/db", out _));
        await Clients.FailsAsync(() => session.Secrets.GetAsync("app/db").AsTask(), 404, "secret_deleted");
    }

    [Fact]
    public async Task RevokedSession_DropsEverything_AndReadsGoToTheServer()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("cacher", "run-cache-revoke");
        var value = await session.Secrets.GetAsync("app/db");

        var refused = Invalidations.Next(session.Secrets, e => e.Reason == SecretInvalidationReason.Revoked);
        using (var orchestrator = world.Orchestrator())
        {
            await orchestrator.RevokeTokenAsync(session.Accessor);
        }

        await refused;
        Assert.True(session.Secrets.IsRefusing);
        Assert.True(value.IsReleased);
        Assert.False(session.Secrets.TryGet("app/db", out _));
        var failure = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => session.Secrets.GetAsync("app/db").AsTask());
        Assert.Equal(401, failure.Status);
    }

    [Fact]
    public async Task TenantLockdown_DropsEverything_AndRefuses()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("cacher", "run-cache-lockdown");
        var value = await session.Secrets.GetAsync("app/db");

        var refused = Invalidations.Next(session.Secrets, e => e.Reason is SecretInvalidationReason.Lockdown or SecretInvalidationReason.Revoked);
        using (var root = _server.Client())
        {
            await root.LockdownTenantAsync(world.Tenant, "cache test");
        }

        await refused;
        Assert.True(session.Secrets.IsRefusing);
        Assert.True(value.IsReleased);
        var failure = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => session.Secrets.GetAsync("app/db").AsTask());
        Assert.Contains(failure.Status, new[] { 401, 423 });
    }

    [Fact]
    public async Task Prefetch_LoadsEveryReadablePathOfTheRules_ThroughTheGlobListing()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("prefetcher", "run-cache-prefetch");

        var loaded = await session.PrefetchAsync();

        Assert.Equal(2, loaded);
        Assert.True(session.Secrets.IsLive);
        Assert.True(session.Secrets.TryGet("app/db", out var db));
        Assert.Equal("pw-app-db", db.TryGetField("password", out var password) ? password : null);
        Assert.True(session.Secrets.TryGet("app/x/key", out _));
        Assert.False(session.Secrets.TryGet("ops/pager", out _));
    }

    [Fact]
    public async Task SecretRef_ResolvesThroughTheSession()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("resolver", "run-cache-ref");
        using var admin = world.Admin();
        await admin.PutSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "pw-app-db-2" });

        var current = await SecretRef.Parse("kw://app/db").ResolveAsync(session);
        var pinned = await SecretRef.Parse("kw://app/db#1").ResolveAsync(session);

        Assert.Equal(("pw-app-db-2", 2L), (current.TryGetField("password", out var c) ? c : null, current.Version));
        Assert.Equal(("pw-app-db", 1L), (pinned.TryGetField("password", out var p) ? p : null, pinned.Version));
        Assert.Equal(new SecretRef("app/db", 2), current.ToRef());
    }

    [Fact]
    public async Task ConfigurationProvider_NewVersion_ChangesTheValueAndFiresTheReloadToken()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("configured", "run-cache-config");
        using var admin = world.Admin();
        var configuration = new ConfigurationBuilder()
            .AddKeyward(session, new Dictionary<string, (string Path, string Field)> { ["Database:Password"] = ("app/db", "password") })
            .Build();
        Assert.Equal("pw-app-db", configuration["Database:Password"]);

        var reloaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = ChangeToken.OnChange(configuration.GetReloadToken, () => reloaded.TrySetResult());
        await admin.PutSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "pw-app-db-rotated" });
        await reloaded.Task.WaitAsync(Invalidations.Wait);

        Assert.Equal("pw-app-db-rotated", configuration["Database:Password"]);
    }

    [Fact]
    public async Task ConfigurationProvider_MissingField_FailsTheLoad_UnlessOptional()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("configured", "run-cache-config-missing");
        var map = new Dictionary<string, (string Path, string Field)> { ["A"] = ("app/db", "nope"), ["B"] = ("app/none", "password") };

        Assert.Throws<InvalidOperationException>(() => new ConfigurationBuilder().AddKeyward(session, map).Build());
        var optional = new ConfigurationBuilder().AddKeyward(session, map, optional: true).Build();

        Assert.Null(optional["A"]);
        Assert.Null(optional["B"]);
    }

    [Fact]
    public async Task CacheDisabled_EveryReadGoesToTheServer()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("uncached", "run-cache-off", options: new AgentSessionOptions { CacheEnabled = false });

        var value = await session.Secrets.GetAsync("app/db");

        Assert.Equal("pw-app-db", value.TryGetField("password", out var password) ? password : null);
        Assert.False(session.Secrets.TryGet("app/db", out _));
        Assert.False(session.Secrets.IsLive);
    }

    [Fact]
    public async Task Session_CreateContext_CarriesItsIdentity()
    {
        var world = await AgentWorld.CreateAsync(_server);
        await using var session = await world.SessionAsync("ctx-agent", "run-ctx");

        Assert.Equal(new AgentContext(world.Tenant, "ctx-agent", "run-ctx", "worker"), session.CreateContext());
    }

    private static string? Password(SecretValue value) => value.TryGetField("password", out var password) ? password : null;
}
