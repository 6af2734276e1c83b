using Keyward.Core.Seal;
using Keyward.Core.Tenants;

namespace Keyward.Storage.Conformance;

public abstract partial class StoreConformanceTests
{
    [Fact]
    public async Task Seal_FreshStore_HasNoConfig()
    {
        var store = await NewStoreAsync();

        Assert.Null(await ReadAsync(store, s => s.Seal.GetAsync()));
    }

    [Fact]
    public async Task Seal_TryInsert_StoresOnceAndRoundTrips()
    {
        var store = await NewStoreAsync();
        var config = new SealConfig(5, 3, uint.MaxValue, Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(), T0);
        var other = new SealConfig(1, 1, 7, new byte[32], T0.AddDays(1));

        Assert.True(await WriteAsync(store, s => s.Seal.TryInsertAsync(config)));
        Assert.False(await WriteAsync(store, s => s.Seal.TryInsertAsync(other)));

        var stored = await ReadAsync(store, s => s.Seal.GetAsync());
        Assert.NotNull(stored);
        Assert.Equal((5, 3, uint.MaxValue, T0), (stored.Shares, stored.Threshold, stored.ShareSetId, stored.CreatedAt));
        Assert.Equal(config.RootCheck, stored.RootCheck);
    }

    [Fact]
    public async Task Tenants_GetUnknown_IsNull()
    {
        var store = await NewStoreAsync();

        Assert.Null(await ReadAsync(store, s => s.Tenants.GetByIdAsync("nobody")));
        Assert.Null(await ReadAsync(store, s => s.Tenants.GetByUidAsync("0000")));
        Assert.Empty(await ReadAsync(store, s => s.Tenants.ListAsync()));
    }

    [Fact]
    public async Task Tenants_Insert_RoundTripsEveryField()
    {
        var store = await NewStoreAsync();
        var tenant = new Tenant("uid-1", "acme", null, TenantState.Locked, T0, T0.AddMinutes(1));

        Assert.True(await WriteAsync(store, s => s.Tenants.TryInsertAsync(tenant)));

        Assert.Equal(tenant, await ReadAsync(store, s => s.Tenants.GetByIdAsync("acme")));
        Assert.Equal(tenant, await ReadAsync(store, s => s.Tenants.GetByUidAsync("uid-1")));
    }

    [Theory]
    [InlineData(TenantState.Active)]
    [InlineData(TenantState.Locked)]
    [InlineData(TenantState.Deleting)]
    [InlineData(TenantState.Retired)]
    public async Task Tenants_TryInsert_IdTakenInAnyState_IsFalse(TenantState state)
    {
        var store = await NewStoreAsync();
        var first = await AddTenantAsync(store, "acme", state);

        var inserted = await WriteAsync(store, s => s.Tenants.TryInsertAsync(NewTenant("acme")));

        Assert.False(inserted);
        Assert.Equal(first.Uid, (await ReadAsync(store, s => s.Tenants.GetByIdAsync("acme")))!.Uid);
        Assert.Single(await ReadAsync(store, s => s.Tenants.ListAsync()));
    }

    [Fact]
    public async Task Tenants_TryInsert_IdRetiredByUpdate_StaysTaken()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        await WriteAsync(store, s => s.Tenants.UpdateStateAsync(tenant.Uid, TenantState.Retired, T0.AddHours(1)));

        Assert.False(await WriteAsync(store, s => s.Tenants.TryInsertAsync(NewTenant("acme"))));
    }

    [Fact]
    public async Task Tenants_TryInsert_UidTaken_IsFalse()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");

        Assert.False(await WriteAsync(store, s => s.Tenants.TryInsertAsync(tenant with { Id = "other" })));
        Assert.Null(await ReadAsync(store, s => s.Tenants.GetByIdAsync("other")));
    }

    [Fact]
    public async Task Tenants_UpdateState_ChangesStateAndUpdatedAtOnly()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var other = await AddTenantAsync(store, "other");

        await WriteAsync(store, s => s.Tenants.UpdateStateAsync(tenant.Uid, TenantState.Locked, T0.AddHours(2)));

        Assert.Equal(tenant with { State = TenantState.Locked, UpdatedAt = T0.AddHours(2) }, await ReadAsync(store, s => s.Tenants.GetByUidAsync(tenant.Uid)));
        Assert.Equal(other, await ReadAsync(store, s => s.Tenants.GetByUidAsync(other.Uid)));
    }

    [Fact]
    public async Task Tenants_List_HoldsEveryTenantIncludingRetired()
    {
        var store = await NewStoreAsync();
        var a = await AddTenantAsync(store, "b-tenant");
        var b = await AddTenantAsync(store, "a-tenant", TenantState.Retired);
        var c = await AddTenantAsync(store, "c-tenant", TenantState.Locked);

        var list = await ReadAsync(store, s => s.Tenants.ListAsync());

        Assert.Equal(new[] { a, b, c }.OrderBy(t => t.Id, StringComparer.Ordinal), list.OrderBy(t => t.Id, StringComparer.Ordinal));
    }

    [Fact]
    public async Task TenantKeys_InsertAndList_PerTenant()
    {
        var store = await NewStoreAsync();
        var a = await AddTenantAsync(store, "a");
        var b = await AddTenantAsync(store, "b");
        var a1 = new TenantKey(a.Uid, 1, [1, 1, 1], T0);
        var a2 = new TenantKey(a.Uid, 2, [2, 2, 2], T0.AddDays(1));
        var b1 = new TenantKey(b.Uid, 1, [9, 9, 9], T0);

        await WriteAsync(store, async s =>
        {
            await s.TenantKeys.InsertAsync(a2);
            await s.TenantKeys.InsertAsync(a1);
            await s.TenantKeys.InsertAsync(b1);
        });

        var listA = await ReadAsync(store, s => s.TenantKeys.ListAsync(a.Uid));
        Assert.Equal([1, 2], listA.Select(k => k.Version).Order());
        var stored1 = listA.Single(k => k.Version == 1);
        Assert.Equal((a.Uid, T0), (stored1.TenantUid, stored1.CreatedAt));
        Assert.Equal(a1.WrappedKey, stored1.WrappedKey);
        Assert.Equal(a2.WrappedKey, listA.Single(k => k.Version == 2).WrappedKey);
        Assert.Equal(b1.WrappedKey, Assert.Single(await ReadAsync(store, s => s.TenantKeys.ListAsync(b.Uid))).WrappedKey);
        Assert.Empty(await ReadAsync(store, s => s.TenantKeys.ListAsync("unknown")));
    }

    [Fact]
    public async Task TenantKeys_InsertExistingVersion_NeverOverwritesIt()
    {
        var store = await NewStoreAsync();
        var a = await AddTenantAsync(store, "a");
        await WriteAsync(store, s => s.TenantKeys.InsertAsync(new TenantKey(a.Uid, 1, [1, 2, 3], T0)));

        var refused = await IsRefusedAsync(store, s => s.TenantKeys.InsertAsync(new TenantKey(a.Uid, 1, [6, 6, 6], T0)));

        Assert.True(refused, "a second key under an existing version was accepted");
        Assert.Equal(new byte[] { 1, 2, 3 }, Assert.Single(await ReadAsync(store, s => s.TenantKeys.ListAsync(a.Uid))).WrappedKey);
    }

    [Fact]
    public async Task TenantKeys_DeleteAll_RemovesOnlyThatTenantsKeys()
    {
        var store = await NewStoreAsync();
        var a = await AddTenantAsync(store, "a");
        var b = await AddTenantAsync(store, "b");
        await WriteAsync(store, async s =>
        {
            await s.TenantKeys.InsertAsync(new TenantKey(a.Uid, 1, [1], T0));
            await s.TenantKeys.InsertAsync(new TenantKey(a.Uid, 2, [2], T0));
            await s.TenantKeys.InsertAsync(new TenantKey(b.Uid, 1, [3], T0));
        });

        Assert.Equal(2, await WriteAsync(store, s => s.TenantKeys.DeleteAllAsync(a.Uid)));
        Assert.Equal(0, await WriteAsync(store, s => s.TenantKeys.DeleteAllAsync(a.Uid)));

        Assert.Empty(await ReadAsync(store, s => s.TenantKeys.ListAsync(a.Uid)));
        Assert.Single(await ReadAsync(store, s => s.TenantKeys.ListAsync(b.Uid)));
    }
}
