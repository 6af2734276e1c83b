using System.Security.Cryptography;
using Keyward.Core.Tokens;
using Keyward.Core.Wrapping;

namespace Keyward.Storage.Conformance;

public abstract partial class StoreConformanceTests
{
    private static WrapRecord NewWrap(string tenantUid, byte[]? payload = null, TimeSpan? ttl = null, string path = "apps/db") => new(
        tenantUid, RandomNumberGenerator.GetBytes(32), Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), path,
        T0, T0 + (ttl ?? TimeSpan.FromMinutes(1)), 2, payload ?? RandomNumberGenerator.GetBytes(48), null, WrapState.Active,
        "acc_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)));

    [Fact]
    public async Task Wraps_Insert_RoundTripsEveryFieldIncludingThePayload()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var wrap = NewWrap(tenant.Uid, [0, 1, 2, 255], path: "creds/postgres/main/ro");

        await WriteAsync(store, s => s.Wraps.InsertAsync(wrap));

        var stored = await ReadAsync(store, s => s.Wraps.GetByHashAsync(wrap.TokenHash));
        Assert.NotNull(stored);
        Assert.Equal(wrap with { TokenHash = [], Payload = null }, stored with { TokenHash = [], Payload = null });
        Assert.Equal(wrap.TokenHash, stored.TokenHash);
        Assert.Equal(wrap.Payload, stored.Payload);
        Assert.Null(await ReadAsync(store, s => s.Wraps.GetByHashAsync(RandomNumberGenerator.GetBytes(32))));
    }

    [Fact]
    public async Task Wraps_RefuseAnUnknownTenant_AndADuplicateTokenHash()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var wrap = NewWrap(tenant.Uid);
        await WriteAsync(store, s => s.Wraps.InsertAsync(wrap));

        Assert.True(await IsRefusedAsync(store, s => s.Wraps.InsertAsync(NewWrap("t_missing"))));
        Assert.True(await IsRefusedAsync(store, s => s.Wraps.InsertAsync(NewWrap(tenant.Uid) with { TokenHash = wrap.TokenHash })));
    }

    [Fact]
    public async Task Wraps_Claim_ReturnsThePayloadOnce_ThenTheRowIsUsedWithoutIt()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var wrap = NewWrap(tenant.Uid);
        await WriteAsync(store, s => s.Wraps.InsertAsync(wrap));
        var now = T0.AddSeconds(30);

        var first = await WriteAsync(store, s => s.Wraps.ClaimAsync(wrap.TokenHash, now));
        var second = await WriteAsync(store, s => s.Wraps.ClaimAsync(wrap.TokenHash, now));

        Assert.NotNull(first);
        Assert.Equal(wrap.Payload, first.Payload);
        Assert.Equal(wrap.Accessor, first.Accessor);
        Assert.Equal(wrap.TenantUid, first.TenantUid);
        Assert.Equal(wrap.CreationPath, first.CreationPath);
        Assert.Null(second);
        var row = await ReadAsync(store, s => s.Wraps.GetByHashAsync(wrap.TokenHash));
        Assert.Equal(WrapState.Used, row!.State);
        Assert.Equal(now, row.UsedAt);
        Assert.Null(row.Payload);
    }

    [Fact]
    public async Task Wraps_Claim_RolledBack_LeavesTheRowClaimable()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var wrap = NewWrap(tenant.Uid);
        await WriteAsync(store, s => s.Wraps.InsertAsync(wrap));

        await using (var session = await store.WriteAsync())
        {
            Assert.NotNull(await session.Wraps.ClaimAsync(wrap.TokenHash, T0));
        }

        Assert.NotNull(await WriteAsync(store, s => s.Wraps.ClaimAsync(wrap.TokenHash, T0)));
    }

    [Fact]
    public async Task Wraps_Claim_AtOrAfterExpiry_ClaimsNothingAndChangesNothing()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var wrap = NewWrap(tenant.Uid, ttl: TimeSpan.FromSeconds(60));
        await WriteAsync(store, s => s.Wraps.InsertAsync(wrap));

        Assert.Null(await WriteAsync(store, s => s.Wraps.ClaimAsync(wrap.TokenHash, wrap.ExpiresAt)));
        Assert.Null(await WriteAsync(store, s => s.Wraps.ClaimAsync(wrap.TokenHash, wrap.ExpiresAt.AddDays(1))));

        var row = await ReadAsync(store, s => s.Wraps.GetByHashAsync(wrap.TokenHash));
        Assert.Equal(WrapState.Active, row!.State);
        Assert.Equal(wrap.Payload, row.Payload);
        Assert.NotNull(await WriteAsync(store, s => s.Wraps.ClaimAsync(wrap.TokenHash, wrap.ExpiresAt.AddTicks(-10))));
    }

    [Fact]
    public async Task Wraps_ConcurrentClaimsInSeparateTransactions_ExactlyOneWins()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        for (var round = 0; round < 5; round++)
        {
            var wrap = NewWrap(tenant.Uid);
            await WriteAsync(store, s => s.Wraps.InsertAsync(wrap));
            using var start = new ManualResetEventSlim();

            var claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                start.Wait();
                return await WriteAsync(store, s => s.Wraps.ClaimAsync(wrap.TokenHash, T0));
            })).Append(Task.Run(() =>
            {
                start.Set();
                return (WrapRecord?)null;
            })));

            var won = Assert.Single(claims, c => c is not null);
            Assert.Equal(wrap.Payload, won!.Payload);
        }
    }

    [Fact]
    public async Task Wraps_RevokeTenant_ErasesOnlyThatTenantsActiveRows()
    {
        var store = await NewStoreAsync();
        var acme = await AddTenantAsync(store, "acme");
        var globex = await AddTenantAsync(store, "globex");
        var active = NewWrap(acme.Uid);
        var used = NewWrap(acme.Uid);
        var other = NewWrap(globex.Uid);
        await WriteAsync(store, async s =>
        {
            await s.Wraps.InsertAsync(active);
            await s.Wraps.InsertAsync(used);
            await s.Wraps.InsertAsync(other);
        });
        Assert.NotNull(await WriteAsync(store, s => s.Wraps.ClaimAsync(used.TokenHash, T0)));

        var revoked = await WriteAsync(store, s => s.Wraps.RevokeTenantAsync(acme.Uid));

        Assert.Equal(1, revoked);
        var rows = await ReadAsync(store, async s => (
            await s.Wraps.GetByHashAsync(active.TokenHash), await s.Wraps.GetByHashAsync(used.TokenHash), await s.Wraps.GetByHashAsync(other.TokenHash)));
        Assert.Equal(WrapState.Revoked, rows.Item1!.State);
        Assert.Null(rows.Item1.Payload);
        Assert.Equal(WrapState.Used, rows.Item2!.State);
        Assert.Equal(WrapState.Active, rows.Item3!.State);
        Assert.Equal(other.Payload, rows.Item3.Payload);
        Assert.Null(await WriteAsync(store, s => s.Wraps.ClaimAsync(active.TokenHash, T0)));
        Assert.Equal(1, await ReadAsync(store, s => s.Wraps.CountAsync(acme.Uid, WrapState.Revoked)));
        Assert.Equal(2, await ReadAsync(store, s => s.Wraps.CountAsync(acme.Uid)));
    }

    [Fact]
    public async Task Wraps_RevokeOwnedByRevoked_ErasesTheActiveRowsOfRevokedOrMissingOwnersOfThatTenantOnly()
    {
        var store = await NewStoreAsync();
        var acme = await AddTenantAsync(store, "acme");
        var globex = await AddTenantAsync(store, "globex");
        await InsertAllAsync(store,
            TreeToken(acme.Uid, "parent", null), TreeToken(acme.Uid, "child", "parent"), TreeToken(acme.Uid, "sibling", null),
            TreeToken(globex.Uid, "other", null));
        var ofChild = NewWrap(acme.Uid) with { OwnerAccessor = "child" };
        var usedOfChild = NewWrap(acme.Uid) with { OwnerAccessor = "child" };
        var ofSibling = NewWrap(acme.Uid) with { OwnerAccessor = "sibling" };
        var ofGone = NewWrap(acme.Uid) with { OwnerAccessor = "no-longer-stored" };
        var unowned = NewWrap(acme.Uid) with { OwnerAccessor = null };
        var ofOther = NewWrap(globex.Uid) with { OwnerAccessor = "other" };
        await WriteAsync(store, async s =>
        {
            foreach (var wrap in new[] { ofChild, usedOfChild, ofSibling, ofGone, unowned, ofOther })
            {
                await s.Wraps.InsertAsync(wrap);
            }
        });
        Assert.NotNull(await WriteAsync(store, s => s.Wraps.ClaimAsync(usedOfChild.TokenHash, T0)));

        // Act: the parent's subtree is revoked (and globex's token, whose wraps another call would handle), then the wraps.
        var revoked = await WriteAsync(store, async s =>
        {
            await s.Tokens.RevokeSubtreeAsync("parent", T0, RevocationReasons.Revoked);
            await s.Tokens.RevokeSubtreeAsync("other", T0, RevocationReasons.Revoked);
            return await s.Wraps.RevokeOwnedByRevokedAsync(acme.Uid);
        });

        // Assert
        Assert.Equal(2, revoked);
        async Task<WrapRecord> RowAsync(WrapRecord wrap) => (await ReadAsync(store, s => s.Wraps.GetByHashAsync(wrap.TokenHash)))!;
        foreach (var gone in new[] { ofChild, ofGone })
        {
            var row = await RowAsync(gone);
            Assert.Equal((WrapState.Revoked, null), (row.State, row.Payload));
        }

        Assert.Equal(WrapState.Used, (await RowAsync(usedOfChild)).State);
        foreach (var kept in new[] { ofSibling, unowned, ofOther })
        {
            var row = await RowAsync(kept);
            Assert.Equal(WrapState.Active, row.State);
            Assert.Equal(kept.Payload, row.Payload);
        }

        Assert.Equal(0, await WriteAsync(store, s => s.Wraps.RevokeOwnedByRevokedAsync(acme.Uid)));
    }

    [Fact]
    public async Task Wraps_EraseExpiredThenSweep_InBoundedBatches_KeepingActiveAndRecentRows()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var expired = Enumerable.Range(0, 5).Select(_ => NewWrap(tenant.Uid, ttl: TimeSpan.FromSeconds(10))).ToList();
        var live = NewWrap(tenant.Uid, ttl: TimeSpan.FromMinutes(10));
        await WriteAsync(store, async s =>
        {
            foreach (var wrap in expired.Append(live))
            {
                await s.Wraps.InsertAsync(wrap);
            }
        });
        var now = T0.AddMinutes(1);

        Assert.Equal(3, await WriteAsync(store, s => s.Wraps.EraseExpiredAsync(now, 3)));
        Assert.Equal(2, await WriteAsync(store, s => s.Wraps.EraseExpiredAsync(now, 3)));
        Assert.Equal(0, await WriteAsync(store, s => s.Wraps.EraseExpiredAsync(now, 3)));
        Assert.Equal(5, await ReadAsync(store, s => s.Wraps.CountAsync(tenant.Uid, WrapState.Expired)));
        Assert.All(expired, w => Assert.Null(ReadAsync(store, s => s.Wraps.GetByHashAsync(w.TokenHash)).Result!.Payload));
        Assert.Equal(live.Payload, (await ReadAsync(store, s => s.Wraps.GetByHashAsync(live.TokenHash)))!.Payload);

        // Rows are deleted only once past the cut-off, never an active one.
        Assert.Equal(0, await WriteAsync(store, s => s.Wraps.SweepAsync(T0, 100)));
        Assert.Equal(4, await WriteAsync(store, s => s.Wraps.SweepAsync(T0.AddDays(2), 4)));
        Assert.Equal(1, await WriteAsync(store, s => s.Wraps.SweepAsync(T0.AddDays(2), 4)));
        Assert.Equal(1, await ReadAsync(store, s => s.Wraps.CountAsync(tenant.Uid)));
        Assert.NotNull(await ReadAsync(store, s => s.Wraps.GetByHashAsync(live.TokenHash)));
    }
}
