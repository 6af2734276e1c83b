using Keyward.Core.Leases;
using Keyward.Core.Tokens;

namespace Keyward.Storage.Conformance;

/// <summary>The lockdown's revocation epoch: counting what it revokes, and marking the rows in bounded batches.</summary>
public abstract partial class StoreConformanceTests
{
    [Fact]
    public async Task Lockdown_Epoch_SetListedAndCleared()
    {
        var store = await NewStoreAsync();
        var acme = await AddTenantAsync(store, "acme");
        await AddTenantAsync(store, "globex");

        await WriteAsync(store, s => s.Tenants.SetRevokedBeforeAsync(acme.Uid, T0.AddMinutes(5)));
        var pending = await ReadAsync(store, s => s.Tenants.ListRevocationPendingAsync());
        await WriteAsync(store, s => s.Tenants.ClearRevocationPendingAsync(acme.Uid));
        var after = await ReadAsync(store, s => s.Tenants.GetByUidAsync(acme.Uid));

        Assert.Equal([acme.Uid], pending.Select(t => t.Uid));
        Assert.Equal(T0.AddMinutes(5), pending[0].RevokedBefore);
        Assert.True(pending[0].RevocationPending);
        Assert.Equal(T0.AddMinutes(5), after!.RevokedBefore);
        Assert.False(after.RevocationPending);
        Assert.Empty(await ReadAsync(store, s => s.Tenants.ListRevocationPendingAsync()));
    }

    [Fact]
    public async Task Lockdown_TokensIssuedUpToTheEpoch_CountedAndRevokedInBatches_LaterOnesAndOtherTenantsUntouched()
    {
        var store = await NewStoreAsync();
        var acme = await AddTenantAsync(store, "acme");
        var globex = await AddTenantAsync(store, "globex");
        var tokens = Enumerable.Range(0, 7).Select(i => TreeToken(acme.Uid, $"a{i}", null, minute: i)).ToList();
        tokens.Add(TreeToken(acme.Uid, "late", null, minute: 30));
        tokens.Add(TreeToken(acme.Uid, "revoked", null, minute: 1) with { RevokedAt = T0.AddMinutes(2) });
        tokens.Add(TreeToken(acme.Uid, "spent", null, TokenKind.Bootstrap, minute: 1) with { UsedAt = T0.AddMinutes(2) });
        tokens.Add(TreeToken(globex.Uid, "g0", null, minute: 1));
        await InsertAllAsync(store, [.. tokens]);
        var epoch = T0.AddMinutes(10);

        var counted = await ReadAsync(store, s => s.Tokens.CountLiveAsync(acme.Uid, epoch));
        var first = await WriteAsync(store, s => s.Tokens.RevokeIssuedBeforeAsync(acme.Uid, epoch, RevocationReasons.Lockdown, 5));
        var second = await WriteAsync(store, s => s.Tokens.RevokeIssuedBeforeAsync(acme.Uid, epoch, RevocationReasons.Lockdown, 5));
        var third = await WriteAsync(store, s => s.Tokens.RevokeIssuedBeforeAsync(acme.Uid, epoch, RevocationReasons.Lockdown, 5));

        Assert.Equal(7, counted);
        Assert.Equal((5, 2, 0), (first, second, third));
        var a3 = await TokenAsync(store, "a3");
        Assert.Equal((epoch, RevocationReasons.Lockdown), (a3.RevokedAt, a3.RevokedReason));
        Assert.Null((await TokenAsync(store, "late")).RevokedAt);
        Assert.Null((await TokenAsync(store, "spent")).RevokedAt);
        Assert.Equal(T0.AddMinutes(2), (await TokenAsync(store, "revoked")).RevokedAt);
        Assert.Null((await TokenAsync(store, "g0")).RevokedAt);
    }

    [Fact]
    public async Task Lockdown_LeasesIssuedUpToTheEpoch_CountedWithExternalOnes_RevokedInBatches_ExternalOnesPending()
    {
        var store = await NewStoreAsync();
        var (acme, globex) = await SeedLeaseOwnersAsync(store);
        await InsertLeasesAsync(store,
            NewLease(acme, "auth/a/1", "a"),
            NewLease(acme, "auth/a/2", "a"),
            NewLease(acme, "creds/x/1", "a", ExternalEngine),
            NewLease(globex, "auth/g/1", "g"));
        var epoch = DateTimeOffset.UtcNow.AddMinutes(1);

        var counted = await ReadAsync(store, s => s.Leases.CountLiveAsync(acme, epoch, External));
        var first = await WriteAsync(store, s => s.Leases.RevokeIssuedBeforeAsync(acme, epoch, External, 2));
        var second = await WriteAsync(store, s => s.Leases.RevokeIssuedBeforeAsync(acme, epoch, External, 2));
        var third = await WriteAsync(store, s => s.Leases.RevokeIssuedBeforeAsync(acme, epoch, External, 2));

        Assert.Equal((3, 1), counted);
        Assert.Equal((2, 1, 0), (first, second, third));
        Assert.Equal(CleanupState.Pending, (await LeaseAsync(store, "creds/x/1")).Cleanup);
        Assert.Equal(CleanupState.None, (await LeaseAsync(store, "auth/a/1")).Cleanup);
        Assert.NotNull((await LeaseAsync(store, "auth/a/2")).RevokedAt);
        Assert.Null((await LeaseAsync(store, "auth/g/1")).RevokedAt);
    }
}
