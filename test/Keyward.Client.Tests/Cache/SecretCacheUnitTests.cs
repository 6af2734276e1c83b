using Keyward.Tests.Common;

namespace Keyward.Client.Tests.Cache;

/// <summary>The cache's rules against a scripted event stream (the end-to-end behaviour is in <see cref="SecretCacheTests"/>).</summary>
public sealed class SecretCacheUnitTests
{
    [Fact]
    public async Task GetAsync_FirstRead_SubscribesBeforeFetching()
    {
        var backend = new FakeBackend();
        backend.Put("app/db", "one-value");
        await using var cache = backend.Cache();

        var value = await cache.GetAsync("app/db");

        Assert.Equal("one-value", Invalidations.Field(value));
        Assert.True(cache.IsLive);
        Assert.Equal([null], backend.Connects);
        Assert.True(cache.TryGet("app/db", out var hit));
        Assert.Same(value, hit);
    }

    [Fact]
    public async Task Written_DropsTheEntry_ZeroesIt_AndTheNextReadFetchesTheNewVersion()
    {
        var backend = new FakeBackend();
        backend.Put("app/db", "old-value");
        await using var cache = backend.Cache();
        var old = await cache.GetAsync("app/db");

        backend.Put("app/db", "new-value");
        var dropped = Invalidations.Next(cache);
        backend.Send("secret.written", new { path = "app/db", version = 2 });
        var e = await dropped;

        Assert.Equal(("app/db", SecretInvalidationReason.Written), (e.Path, e.Reason));
        Assert.False(cache.TryGet("app/db", out _));
        Assert.True(old.IsReleased);
        Assert.Throws<ObjectDisposedException>(() => old.Span.Length);
        Assert.Throws<ObjectDisposedException>(() => old.GetString());
        var fresh = await cache.GetAsync("app/db");
        Assert.Equal(("new-value", 2L), (Invalidations.Field(fresh), fresh.Version));
    }

    [Fact]
    public async Task RotatedPending_ChangesNothing_RotatedCurrentDrops()
    {
        var backend = new FakeBackend();
        backend.Put("app/db", "current-value");
        backend.Put("app/other", "other-value");
        await using var cache = backend.Cache();
        await cache.GetAsync("app/db");
        await cache.GetAsync("app/other");

        // Events are handled in order: once app/other's drop is seen, the pending rotation before it was handled.
        var other = Invalidations.Next(cache, e => e.Path == "app/other");
        backend.Send("secret.rotated", new { path = "app/db", version = 2, stage = "pending", epoch = 1 });
        backend.Send("secret.deleted", new { path = "app/other", action = "delete" });
        await other;
        Assert.True(cache.TryGet("app/db", out _));

        var current = Invalidations.Next(cache, e => e.Path == "app/db");
        backend.Send("secret.rotated", new { path = "app/db", version = 2, stage = "current", epoch = 2 });
        Assert.Equal(SecretInvalidationReason.Rotated, (await current).Reason);
        Assert.False(cache.TryGet("app/db", out _));
    }

    [Fact]
    public async Task Reset_DropsEverything_ButKeepsServing()
    {
        var backend = new FakeBackend();
        backend.Put("app/a", "value-a");
        backend.Put("app/b", "value-b");
        await using var cache = backend.Cache();
        var a = await cache.GetAsync("app/a");
        await cache.GetAsync("app/b");

        var all = Invalidations.Next(cache);
        backend.SendReset();
        var e = await all;

        Assert.Equal((null, SecretInvalidationReason.Reset), (e.Path, e.Reason));
        Assert.Equal(0, cache.Count);
        Assert.True(a.IsReleased);
        Assert.False(cache.IsRefusing);
        await cache.GetAsync("app/a");
        Assert.True(cache.TryGet("app/a", out _));
    }

    [Fact]
    public async Task TokenRevoked_OwnAccessor_Refuses_ChildAccessor_DoesNot()
    {
        var backend = new FakeBackend();
        backend.Put("app/db", "value-db");
        await using var cache = backend.Cache();
        await cache.GetAsync("app/db");

        var child = Invalidations.Next(cache, e => e.Path == "app/db");
        backend.Send("token.revoked", new { accessor = "acc-child", reason = "revoked" });
        backend.Send("secret.written", new { path = "app/db", version = 2 });
        await child;
        Assert.False(cache.IsRefusing);
        await cache.GetAsync("app/db");

        var revoked = Invalidations.Next(cache, e => e.Reason == SecretInvalidationReason.Revoked);
        backend.Send("token.revoked", new { accessor = FakeBackend.Accessor, reason = "revoked" });
        await revoked;

        Assert.True(cache.IsRefusing);
        Assert.False(cache.TryGet("app/db", out _));
        var before = backend.Fetches;
        await cache.GetAsync("app/db");
        await cache.GetAsync("app/db");
        Assert.Equal(before + 2, backend.Fetches);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public async Task Lockdown_DropsEverythingAndRefuses()
    {
        var backend = new FakeBackend();
        backend.Put("app/db", "value-db");
        await using var cache = backend.Cache();
        var value = await cache.GetAsync("app/db");

        var locked = Invalidations.Next(cache);
        backend.Send("tenant.lockdown", new { incident_id = "inc-1", reason = "test" });
        Assert.Equal(SecretInvalidationReason.Lockdown, (await locked).Reason);

        Assert.True(cache.IsRefusing);
        Assert.True(value.IsReleased);
        Assert.False(cache.TryGet("app/db", out _));
    }

    [Fact]
    public async Task Reconnect_RefusedWith401_DropsEverythingAndRefuses()
    {
        var backend = new FakeBackend();
        backend.Put("app/db", "value-db");
        await using var cache = backend.Cache();
        await cache.GetAsync("app/db");

        var refused = Invalidations.Next(cache, e => e.Reason == SecretInvalidationReason.Revoked);
        backend.RefuseConnect = new KeywardRequestFailedException(401, "token_revoked", "revoked");
        backend.Close();
        await refused;

        Assert.True(cache.IsRefusing);
        Assert.False(cache.IsLive);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public async Task StreamDown_ServesForTheFallbackTtlOnly_ThenRefetches()
    {
        var time = new ManualTimeProvider();
        var backend = new FakeBackend();
        backend.Put("app/db", "value-db");
        await using var cache = backend.Cache(time, fallbackTtl: TimeSpan.FromSeconds(5));
        await cache.GetAsync("app/db");

        // The stream is cut; reconnects fail (transient) and wait for the fake clock.
        backend.RefuseConnect = new KeywardRequestFailedException(503, "sealed", "sealed");
        backend.Close();
        await WaitUntilAsync(() => !cache.IsLive);

        time.Advance(TimeSpan.FromSeconds(4));
        Assert.True(cache.TryGet("app/db", out _));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(cache.TryGet("app/db", out _));
        Assert.False(cache.IsRefusing);

        var before = backend.Fetches;
        await cache.GetAsync("app/db");
        Assert.Equal(before + 1, backend.Fetches);
        Assert.True(cache.TryGet("app/db", out _));
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.False(cache.TryGet("app/db", out _));
    }

    [Fact]
    public async Task Reconnect_WithoutAnEventId_DropsEverything_WithOne_Resumes()
    {
        var backend = new FakeBackend();
        backend.Put("app/db", "value-db");
        backend.Put("app/other", "value-other");
        await using var cache = backend.Cache();
        await cache.GetAsync("app/db");

        // No event seen yet: a reconnect cannot resume, so the entry goes.
        var resubscribed = Invalidations.Next(cache, e => e.Reason == SecretInvalidationReason.Resubscribed);
        backend.Close();
        await resubscribed;
        await WaitUntilAsync(() => cache.IsLive);
        Assert.False(cache.TryGet("app/db", out _));

        // After an event, a reconnect resumes after its id and keeps the entries.
        await cache.GetAsync("app/db");
        var seen = Invalidations.Next(cache, e => e.Path == "app/other");
        backend.Send("secret.written", new { path = "app/other", version = 2 });
        await seen;
        var connects = backend.Connects.Count;
        backend.Close();
        await WaitUntilAsync(() => backend.Connects.Count > connects && cache.IsLive);
        Assert.Equal(1L, backend.Connects.Last());
        Assert.True(cache.TryGet("app/db", out _));
    }

    [Fact]
    public async Task OpenTimeout_FallsBackToTtlMode()
    {
        var time = new ManualTimeProvider();
        var backend = new FakeBackend { Open = false };
        backend.Put("app/db", "value-db");
        await using var cache = backend.Cache(time, openTimeout: TimeSpan.FromSeconds(2));

        var read = cache.GetAsync("app/db").AsTask();
        // The read waits for the stream; the fake clock passes the open timeout.
        await WaitUntilAsync(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(500));
            return read.IsCompleted;
        });

        Assert.Equal("value-db", Invalidations.Field(await read));
        Assert.False(cache.IsLive);
        Assert.True(cache.TryGet("app/db", out _));
        time.Advance(AgentSessionOptions.DefaultCacheFallbackTtl);
        Assert.False(cache.TryGet("app/db", out _));
    }

    [Fact]
    public async Task ConcurrentMisses_ForOnePath_ShareOneFetch()
    {
        var backend = new FakeBackend();
        backend.Put("app/db", "value-db");
        await using var cache = backend.Cache();
        await cache.GetAsync("app/warm-up").AsTask().ContinueWith(_ => { }, TaskScheduler.Default);
        var before = backend.Fetches;
        backend.HoldFetches = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var reads = Enumerable.Range(0, 20).Select(_ => cache.GetAsync("app/db").AsTask()).ToArray();
        await WaitUntilAsync(() => backend.Fetches > before);
        backend.HoldFetches.SetResult();
        var values = await Task.WhenAll(reads);

        Assert.Equal(before + 1, backend.Fetches);
        Assert.All(values, v => Assert.Same(values[0], v));
    }

    [Fact]
    public async Task Fetch_RacingAnInvalidationOfItsPath_IsNotStoredAsTheOldVersion()
    {
        var backend = new FakeBackend();
        backend.Put("app/db", "old-value");
        await using var cache = backend.Cache();
        await cache.GetAsync("app/warm-up").AsTask().ContinueWith(_ => { }, TaskScheduler.Default);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        backend.HoldFetches = hold;

        // The read took its snapshot (old-value) and is in flight when the write's event is processed.
        var read = cache.GetAsync("app/db").AsTask();
        await WaitUntilAsync(() => backend.Fetches >= 2);
        backend.Put("app/db", "new-value");
        var dropped = Invalidations.Next(cache, e => e.Path == "app/db");
        backend.Send("secret.written", new { path = "app/db", version = 2 });
        await dropped;
        backend.HoldFetches = null;
        hold.SetResult();

        var value = await read;
        Assert.Equal("new-value", Invalidations.Field(value));
        Assert.True(cache.TryGet("app/db", out var cached));
        Assert.Equal("new-value", Invalidations.Field(cached));
    }

    [Fact]
    public async Task TryGet_Hit_AllocatesNothing()
    {
        var backend = new FakeBackend();
        backend.Put("app/db", "value-db");
        await using var cache = backend.Cache();
        await cache.GetAsync("app/db");
        for (var i = 0; i < 200; i++)
        {
            Hit(cache);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            Hit(cache);
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());

        static void Hit(SecretCache cache)
        {
            if (!cache.TryGet("app/db", out _))
            {
                throw new InvalidOperationException("miss");
            }

            var pending = cache.GetAsync("app/db");
            if (!pending.IsCompletedSuccessfully || pending.Result.Version != 1)
            {
                throw new InvalidOperationException("the hit did not complete synchronously");
            }
        }
    }

    [Fact]
    public async Task Dispose_ZeroesEveryEntry()
    {
        var backend = new FakeBackend();
        backend.Put("app/db", "value-db");
        var cache = backend.Cache();
        var value = await cache.GetAsync("app/db");

        await cache.DisposeAsync();

        Assert.True(value.IsReleased);
        Assert.Equal(0, cache.Count);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => cache.GetAsync("app/db").AsTask());
    }

    [Fact]
    public async Task FetchedValues_AreRegisteredWithTheScrubber()
    {
        var backend = new FakeBackend();
        backend.Put("app/db", "hunter2-secret");
        var scrubber = new SecretScrubber();
        await using var cache = backend.Cache(scrubber: scrubber);

        await cache.GetAsync("app/db");

        Assert.Equal("pw=[REDACTED]", scrubber.Scrub("pw=hunter2-secret"));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(Invalidations.Wait);
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }
}
