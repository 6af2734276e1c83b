using Keyward.Core.Leases;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;

namespace Keyward.Storage.Conformance;

/// <summary>Leases: listing by whole-segment prefix and subtree, every revocation path, expiry, clean-ups and the sweep.</summary>
public abstract partial class StoreConformanceTests
{
    private const string ExternalEngine = "test-db";

    private static readonly string[] External = [ExternalEngine];

    private static LeaseRecord NewLease(string tenantUid, string leaseId, string owner, string engine = "token", int expiresInMinutes = 60) => new(
        leaseId,
        tenantUid,
        owner,
        leaseId.Contains('/', StringComparison.Ordinal) ? leaseId[..leaseId.LastIndexOf('/')] : leaseId,
        engine,
        engine == "token" ? null : "login-" + leaseId.Replace('/', '-'),
        T0,
        T0.AddMinutes(expiresInMinutes),
        T0.AddHours(4),
        null);

    private static async Task InsertLeasesAsync(IKeywardStore store, params LeaseRecord[] leases) =>
        await WriteAsync(store, async s =>
        {
            foreach (var lease in leases)
            {
                await s.Leases.InsertAsync(lease);
            }
        });

    private static async Task<LeaseRecord> LeaseAsync(IKeywardStore store, string leaseId) =>
        (await ReadAsync(store, s => s.Leases.GetAsync(leaseId))) ?? throw new Xunit.Sdk.XunitException($"lease {leaseId} is gone");

    private static Task<IReadOnlyList<LeaseRecord>> ListLeasesAsync(IKeywardStore store, string tenantUid, string? scope, string prefix, bool includeRevoked = false, int limit = 100) =>
        ReadAsync(store, s => s.Leases.ListAsync(tenantUid, scope, prefix, includeRevoked, limit));

    /// <summary>acme: orch → a → a1, orch → s (sibling of a); run "r1" on a and a1. globex: g.</summary>
    private static async Task<(string Acme, string Globex)> SeedLeaseOwnersAsync(IKeywardStore store)
    {
        var acme = await AddTenantAsync(store, "acme");
        var globex = await AddTenantAsync(store, "globex");
        await InsertAllAsync(store,
            TreeToken(acme.Uid, "orch", null, TokenKind.Orchestrator),
            TreeToken(acme.Uid, "a", "orch", runId: "r1", minute: 1),
            TreeToken(acme.Uid, "a1", "a", runId: "r1", minute: 2),
            TreeToken(acme.Uid, "s", "orch", runId: "r2", minute: 1),
            TreeToken(globex.Uid, "g", null, runId: "r1"));
        return (acme.Uid, globex.Uid);
    }

    [Fact]
    public async Task Leases_Insert_RoundTripsEveryField()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var lease = new LeaseRecord(
            "creds/db/ro/abc", tenant.Uid, "owner-acc", "creds/db/ro", ExternalEngine, "login_abc",
            T0, T0.AddMinutes(15), T0.AddHours(1), T0.AddMinutes(5), CleanupState.Pending, 3, T0.AddMinutes(7), "TimeoutException");

        await InsertLeasesAsync(store, lease);

        Assert.Equal(lease, await ReadAsync(store, s => s.Leases.GetAsync("creds/db/ro/abc")));
        Assert.Null(await ReadAsync(store, s => s.Leases.GetAsync("creds/db/ro")));
        Assert.True(await IsRefusedAsync(store, s => s.Leases.InsertAsync(lease with { Path = "other" })), "two leases with one id");
    }

    [Fact]
    public async Task Leases_List_PrefixMatchesWholeSegmentsOnly()
    {
        var store = await NewStoreAsync();
        var (acme, globex) = await SeedLeaseOwnersAsync(store);
        await InsertLeasesAsync(store,
            NewLease(acme, "auth/a/1", "a"),
            NewLease(acme, "auth/a/2", "a"),
            NewLease(acme, "auth/a/deep/3", "a"),
            NewLease(acme, "auth/ab/x", "a"),
            NewLease(acme, "auth/a-b/x", "a"),
            NewLease(acme, "auth/a.b/x", "a"),
            NewLease(acme, "auth/A/x", "a"),
            NewLease(acme, "authx/a/1", "a"),
            NewLease(acme, "auth/b/1", "a"),
            NewLease(globex, "auth/a/9", "g"));

        async Task<IEnumerable<string>> IdsAsync(string prefix) => (await ListLeasesAsync(store, acme, null, prefix)).Select(l => l.LeaseId);

        Assert.Equal(["auth/a/1", "auth/a/2", "auth/a/deep/3"], await IdsAsync("auth/a"));
        Assert.Equal(["auth/a/deep/3"], await IdsAsync("auth/a/deep"));
        Assert.Equal(["auth/a/1"], await IdsAsync("auth/a/1"));
        Assert.Empty(await IdsAsync("auth/a/1/x"));
        Assert.Equal(
            ["auth/A/x", "auth/a-b/x", "auth/a.b/x", "auth/a/1", "auth/a/2", "auth/a/deep/3", "auth/ab/x", "auth/b/1"],
            await IdsAsync("auth"));
        Assert.Equal(9, (await IdsAsync("")).Count());
        Assert.Equal(["auth/a/9"], (await ListLeasesAsync(store, globex, null, "auth/a")).Select(l => l.LeaseId));
    }

    [Fact]
    public async Task Leases_List_OrderedLimitedAndLiveOnlyUnlessAsked()
    {
        var store = await NewStoreAsync();
        var (acme, _) = await SeedLeaseOwnersAsync(store);
        await InsertLeasesAsync(store,
            NewLease(acme, "p/3", "a"),
            NewLease(acme, "p/1", "a"),
            NewLease(acme, "p/2", "a") with { RevokedAt = T0.AddMinutes(1) },
            NewLease(acme, "p/4", "a"));

        Assert.Equal(["p/1", "p/3", "p/4"], (await ListLeasesAsync(store, acme, null, "p")).Select(l => l.LeaseId));
        Assert.Equal(["p/1", "p/2", "p/3", "p/4"], (await ListLeasesAsync(store, acme, null, "p", includeRevoked: true)).Select(l => l.LeaseId));
        Assert.Equal(["p/1", "p/3"], (await ListLeasesAsync(store, acme, null, "p", limit: 2)).Select(l => l.LeaseId));
    }

    [Fact]
    public async Task Leases_List_ScopedToTheOwnersSubtree()
    {
        var store = await NewStoreAsync();
        var (acme, _) = await SeedLeaseOwnersAsync(store);
        await InsertLeasesAsync(store,
            NewLease(acme, "l/orch", "orch"),
            NewLease(acme, "l/a", "a"),
            NewLease(acme, "l/a1", "a1"),
            NewLease(acme, "l/s", "s"),
            NewLease(acme, "l/stranger", "not-a-token"));

        async Task<IEnumerable<string>> IdsAsync(string? scope) => (await ListLeasesAsync(store, acme, scope, "")).Select(l => l.LeaseId);

        Assert.Equal(["l/a", "l/a1"], await IdsAsync("a"));
        Assert.Equal(["l/a1"], await IdsAsync("a1"));
        Assert.Equal(["l/s"], await IdsAsync("s"));
        Assert.Equal(["l/a", "l/a1", "l/orch", "l/s"], await IdsAsync("orch"));
        Assert.Equal(["l/a", "l/a1", "l/orch", "l/s", "l/stranger"], await IdsAsync(null));
        Assert.Empty(await IdsAsync("unknown"));
    }

    [Fact]
    public async Task Leases_Revoke_ExternalEnginesBecomePendingOthersNot()
    {
        var store = await NewStoreAsync();
        var (acme, _) = await SeedLeaseOwnersAsync(store);
        await InsertLeasesAsync(store,
            NewLease(acme, "t/1", "a"),
            NewLease(acme, "x/1", "a", ExternalEngine),
            NewLease(acme, "y/1", "a", "unregistered"),
            NewLease(acme, "x/old", "a", ExternalEngine) with { RevokedAt = T0, Cleanup = CleanupState.Done },
            NewLease(acme, "x/kept", "a", ExternalEngine));
        var at = T0.AddMinutes(3);

        var revoked = await WriteAsync(store, s => s.Leases.RevokeAsync(["t/1", "x/1", "y/1", "x/old", "unknown"], at, External));

        Assert.Equal(3, revoked);
        var token = await LeaseAsync(store, "t/1");
        var external = await LeaseAsync(store, "x/1");
        var other = await LeaseAsync(store, "y/1");
        Assert.Equal((at, CleanupState.None), (token.RevokedAt, token.Cleanup));
        Assert.Equal((at, CleanupState.Pending, (DateTimeOffset?)at), (external.RevokedAt, external.Cleanup, external.CleanupNextAt));
        Assert.Equal((at, CleanupState.None), (other.RevokedAt, other.Cleanup));
        Assert.Equal((T0, CleanupState.Done), ((await LeaseAsync(store, "x/old")).RevokedAt, (await LeaseAsync(store, "x/old")).Cleanup));
        Assert.Null((await LeaseAsync(store, "x/kept")).RevokedAt);
        Assert.Equal(1, await ReadAsync(store, s => s.Leases.CountPendingCleanupsAsync(acme)));
        Assert.Equal(0, await WriteAsync(store, s => s.Leases.RevokeAsync([], at, External)));
    }

    [Fact]
    public async Task Leases_RevokeForSubtree_OnlyLeasesOwnedInTheSubtree()
    {
        var store = await NewStoreAsync();
        var (acme, globex) = await SeedLeaseOwnersAsync(store);
        await InsertLeasesAsync(store,
            NewLease(acme, "l/orch", "orch"),
            NewLease(acme, "l/a", "a", ExternalEngine),
            NewLease(acme, "l/a1", "a1"),
            NewLease(acme, "l/s", "s", ExternalEngine),
            NewLease(globex, "l/g", "g"));
        var at = T0.AddMinutes(4);

        Assert.Equal(2, await WriteAsync(store, s => s.Leases.RevokeForSubtreeAsync("a", at, External)));
        Assert.Equal(0, await WriteAsync(store, s => s.Leases.RevokeForSubtreeAsync("a", at.AddMinutes(1), External)));

        Assert.Equal((at, CleanupState.Pending), ((await LeaseAsync(store, "l/a")).RevokedAt, (await LeaseAsync(store, "l/a")).Cleanup));
        Assert.Equal(at, (await LeaseAsync(store, "l/a1")).RevokedAt);
        foreach (var id in new[] { "l/orch", "l/s", "l/g" })
        {
            Assert.True((await LeaseAsync(store, id)).RevokedAt is null, $"{id} is outside the subtree");
        }
    }

    [Fact]
    public async Task Leases_RevokeForRun_WithAndWithoutScope()
    {
        var store = await NewStoreAsync();
        var (acme, globex) = await SeedLeaseOwnersAsync(store);
        await InsertAllAsync(store,
            TreeToken(acme, "orch2", null, TokenKind.Orchestrator),
            TreeToken(acme, "c", "orch2", runId: "r1", minute: 1));
        await InsertLeasesAsync(store,
            NewLease(acme, "l/orch", "orch"),
            NewLease(acme, "l/a", "a", ExternalEngine),
            NewLease(acme, "l/a1", "a1"),
            NewLease(acme, "l/s", "s"),
            NewLease(acme, "l/c", "c"),
            NewLease(globex, "l/g", "g"));
        var at = T0.AddMinutes(4);

        Assert.Equal(2, await WriteAsync(store, s => s.Leases.RevokeForRunAsync(acme, "r1", "orch", at, External)));
        Assert.Null((await LeaseAsync(store, "l/c")).RevokedAt);
        Assert.Equal(CleanupState.Pending, (await LeaseAsync(store, "l/a")).Cleanup);

        Assert.Equal(1, await WriteAsync(store, s => s.Leases.RevokeForRunAsync(acme, "r1", null, at, External)));
        Assert.NotNull((await LeaseAsync(store, "l/c")).RevokedAt);
        foreach (var id in new[] { "l/orch", "l/s", "l/g" })
        {
            Assert.True((await LeaseAsync(store, id)).RevokedAt is null, $"{id} is not of acme's run r1");
        }
    }

    [Fact]
    public async Task Leases_RevokeTenant_OnlyThatTenantsLiveLeases()
    {
        var store = await NewStoreAsync();
        var (acme, globex) = await SeedLeaseOwnersAsync(store);
        await InsertLeasesAsync(store,
            NewLease(acme, "l/1", "a"),
            NewLease(acme, "l/2", "s", ExternalEngine),
            NewLease(acme, "l/3", "a1", ExternalEngine) with { RevokedAt = T0, Cleanup = CleanupState.Done },
            NewLease(globex, "l/g", "g", ExternalEngine));
        var at = T0.AddMinutes(8);

        Assert.Equal(2, await WriteAsync(store, s => s.Leases.RevokeTenantAsync(acme, at, External)));

        Assert.Equal(at, (await LeaseAsync(store, "l/1")).RevokedAt);
        Assert.Equal((at, CleanupState.Pending), ((await LeaseAsync(store, "l/2")).RevokedAt, (await LeaseAsync(store, "l/2")).Cleanup));
        Assert.Equal((T0, CleanupState.Done), ((await LeaseAsync(store, "l/3")).RevokedAt, (await LeaseAsync(store, "l/3")).Cleanup));
        Assert.Null((await LeaseAsync(store, "l/g")).RevokedAt);
        Assert.Equal((1, 0), (await ReadAsync(store, s => s.Leases.CountPendingCleanupsAsync(acme)), await ReadAsync(store, s => s.Leases.CountPendingCleanupsAsync(globex))));
    }

    [Fact]
    public async Task Leases_SetExpiry_LiveOnly()
    {
        var store = await NewStoreAsync();
        var (acme, _) = await SeedLeaseOwnersAsync(store);
        await InsertLeasesAsync(store, NewLease(acme, "l/live", "a"), NewLease(acme, "l/gone", "a") with { RevokedAt = T0 });

        Assert.True(await WriteAsync(store, s => s.Leases.SetExpiryAsync("l/live", T0.AddHours(2))));
        Assert.False(await WriteAsync(store, s => s.Leases.SetExpiryAsync("l/gone", T0.AddHours(2))));
        Assert.False(await WriteAsync(store, s => s.Leases.SetExpiryAsync("l/unknown", T0.AddHours(2))));
        Assert.Equal(T0.AddHours(2), (await LeaseAsync(store, "l/live")).ExpiresAt);
        Assert.Equal(T0.AddHours(1), (await LeaseAsync(store, "l/gone")).ExpiresAt);
    }

    [Fact]
    public async Task Leases_RevokeExpired_BoundedByLimitAndReturnsTheRevoked()
    {
        var store = await NewStoreAsync();
        var (acme, globex) = await SeedLeaseOwnersAsync(store);
        await InsertLeasesAsync(store,
            NewLease(acme, "e/1", "a", expiresInMinutes: 1),
            NewLease(acme, "e/2", "a", ExternalEngine, expiresInMinutes: 2),
            NewLease(acme, "e/3", "a", expiresInMinutes: 3),
            NewLease(globex, "e/4", "g", ExternalEngine, expiresInMinutes: 4),
            NewLease(acme, "e/5", "a", expiresInMinutes: 10),
            NewLease(acme, "e/gone", "a", expiresInMinutes: 1) with { RevokedAt = T0 },
            NewLease(acme, "e/live", "a", expiresInMinutes: 60));
        var now = T0.AddMinutes(10);

        var first = await WriteAsync(store, s => s.Leases.RevokeExpiredAsync(now, 3, External));
        var second = await WriteAsync(store, s => s.Leases.RevokeExpiredAsync(now, 3, External));
        var third = await WriteAsync(store, s => s.Leases.RevokeExpiredAsync(now, 3, External));

        Assert.Equal(3, first.Count);
        Assert.Equal(2, second.Count); // e/5 expires exactly now: expired
        Assert.Empty(third);
        var all = first.Concat(second).ToList();
        Assert.Equal(["e/1", "e/2", "e/3", "e/4", "e/5"], all.Select(l => l.LeaseId).Order(StringComparer.Ordinal));
        Assert.All(all, l => Assert.Equal(now, l.RevokedAt));
        Assert.Equal(CleanupState.Pending, all.Single(l => l.LeaseId == "e/2").Cleanup);
        Assert.Equal(CleanupState.Pending, (await LeaseAsync(store, "e/4")).Cleanup);
        Assert.Equal(CleanupState.None, (await LeaseAsync(store, "e/1")).Cleanup);
        Assert.Equal(T0, (await LeaseAsync(store, "e/gone")).RevokedAt);
        Assert.Null((await LeaseAsync(store, "e/live")).RevokedAt);
    }

    [Fact]
    public async Task Leases_Cleanups_DueOldestFirst_RetriedUntilDone()
    {
        var store = await NewStoreAsync();
        var (acme, _) = await SeedLeaseOwnersAsync(store);
        await InsertLeasesAsync(store,
            NewLease(acme, "c/late", "a", ExternalEngine) with { RevokedAt = T0, Cleanup = CleanupState.Pending, CleanupNextAt = T0.AddMinutes(30) },
            NewLease(acme, "c/second", "a", ExternalEngine) with { RevokedAt = T0, Cleanup = CleanupState.Pending, CleanupNextAt = T0.AddMinutes(2) },
            NewLease(acme, "c/first", "a", ExternalEngine) with { RevokedAt = T0, Cleanup = CleanupState.Pending, CleanupNextAt = T0.AddMinutes(1) },
            NewLease(acme, "c/done", "a", ExternalEngine) with { RevokedAt = T0, Cleanup = CleanupState.Done },
            NewLease(acme, "c/live", "a", ExternalEngine));
        var now = T0.AddMinutes(5);

        Assert.Equal(["c/first", "c/second"], (await ReadAsync(store, s => s.Leases.ListDueCleanupsAsync(now, 10))).Select(l => l.LeaseId));
        Assert.Equal(["c/first"], (await ReadAsync(store, s => s.Leases.ListDueCleanupsAsync(now, 1))).Select(l => l.LeaseId));

        // A failure: still pending, one more attempt, not due before its next time.
        await WriteAsync(store, s => s.Leases.RecordCleanupAsync("c/first", false, T0.AddMinutes(20), "TimeoutException"));
        var failed = await LeaseAsync(store, "c/first");
        Assert.Equal((CleanupState.Pending, 1, (DateTimeOffset?)T0.AddMinutes(20), "TimeoutException"), (failed.Cleanup, failed.CleanupAttempts, failed.CleanupNextAt, failed.CleanupError));
        Assert.Equal(["c/second"], (await ReadAsync(store, s => s.Leases.ListDueCleanupsAsync(now, 10))).Select(l => l.LeaseId));
        Assert.Equal(["c/second", "c/first", "c/late"], (await ReadAsync(store, s => s.Leases.ListDueCleanupsAsync(T0.AddMinutes(30), 10))).Select(l => l.LeaseId));
        Assert.Equal(3, await ReadAsync(store, s => s.Leases.CountPendingCleanupsAsync(acme)));

        // Success: done, never listed again; recording again changes nothing.
        await WriteAsync(store, s => s.Leases.RecordCleanupAsync("c/first", true, null, null));
        var done = await LeaseAsync(store, "c/first");
        Assert.Equal((CleanupState.Done, 2), (done.Cleanup, done.CleanupAttempts));
        await WriteAsync(store, s => s.Leases.RecordCleanupAsync("c/first", false, T0.AddMinutes(40), "late"));
        Assert.Equal(CleanupState.Done, (await LeaseAsync(store, "c/first")).Cleanup);
        Assert.DoesNotContain("c/first", (await ReadAsync(store, s => s.Leases.ListDueCleanupsAsync(T0.AddDays(1), 10))).Select(l => l.LeaseId));
        Assert.Equal(2, await ReadAsync(store, s => s.Leases.CountPendingCleanupsAsync(acme)));
    }

    [Fact]
    public async Task Leases_Sweep_DeletesOldRevokedButNeverPendingCleanups()
    {
        var store = await NewStoreAsync();
        var (acme, _) = await SeedLeaseOwnersAsync(store);
        await InsertLeasesAsync(store,
            NewLease(acme, "s/none", "a") with { RevokedAt = T0 },
            NewLease(acme, "s/done", "a", ExternalEngine) with { RevokedAt = T0, Cleanup = CleanupState.Done },
            NewLease(acme, "s/none-2", "a") with { RevokedAt = T0.AddMinutes(1) },
            NewLease(acme, "s/pending", "a", ExternalEngine) with { RevokedAt = T0, Cleanup = CleanupState.Pending, CleanupNextAt = T0 },
            NewLease(acme, "s/recent", "a") with { RevokedAt = T0.AddHours(2) },
            NewLease(acme, "s/live", "a", expiresInMinutes: 1));
        var before = T0.AddHours(1);

        Assert.Equal(2, await WriteAsync(store, s => s.Leases.SweepAsync(before, 2)));
        Assert.Equal(1, await WriteAsync(store, s => s.Leases.SweepAsync(before, 100)));
        Assert.Equal(0, await WriteAsync(store, s => s.Leases.SweepAsync(before, 100)));

        foreach (var id in new[] { "s/none", "s/done", "s/none-2" })
        {
            Assert.Null(await ReadAsync(store, s => s.Leases.GetAsync(id)));
        }

        foreach (var id in new[] { "s/pending", "s/recent", "s/live" })
        {
            Assert.True(await ReadAsync(store, s => s.Leases.GetAsync(id)) is not null, $"{id} must not be swept");
        }
    }
}
