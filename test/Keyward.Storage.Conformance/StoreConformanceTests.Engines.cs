using Keyward.Core.Engines;

namespace Keyward.Storage.Conformance;

public abstract partial class StoreConformanceTests
{
    private static EngineConfig NewEngineConfig(string tenantUid, string name, string item, byte[]? sealedFields = null, long version = 1) =>
        new(tenantUid, "postgres", name, item, $$"""{"name":"{{name}}","item":"{{item}}"}""", 3, sealedFields, version, T0, T0.AddSeconds(1));

    [Fact]
    public async Task EngineConfigs_Upsert_RoundTripsEveryFieldIncludingTheSealedBytes()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var config = NewEngineConfig(tenant.Uid, "main", "", [0, 1, 2, 255]);

        await WriteAsync(store, s => s.Engines.UpsertAsync(config));

        var stored = await ReadAsync(store, s => s.Engines.GetAsync(tenant.Uid, "postgres", "main", ""));
        Assert.NotNull(stored);
        Assert.Equal(config with { Sealed = null }, stored with { Sealed = null });
        Assert.Equal(config.Sealed, stored.Sealed);
    }

    [Fact]
    public async Task EngineConfigs_UpsertReplacesAllButCreatedAt_AndANullSealedFieldStaysNull()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        await WriteAsync(store, s => s.Engines.UpsertAsync(NewEngineConfig(tenant.Uid, "main", "role/ro", [9])));

        var replacement = NewEngineConfig(tenant.Uid, "main", "role/ro", null, version: 2) with
        {
            Settings = """{"changed":true}""", KeyVersion = 4, CreatedAt = T0.AddDays(5), UpdatedAt = T0.AddDays(6),
        };
        await WriteAsync(store, s => s.Engines.UpsertAsync(replacement));

        var stored = await ReadAsync(store, s => s.Engines.GetAsync(tenant.Uid, "postgres", "main", "role/ro"));
        Assert.Equal(replacement with { CreatedAt = T0 }, stored);
    }

    [Fact]
    public async Task EngineConfigs_ListSeparatesConnectionsFromTheirItems_AndIsScopedToTenantAndEngine()
    {
        var store = await NewStoreAsync();
        var acme = await AddTenantAsync(store, "acme");
        var globex = await AddTenantAsync(store, "globex");
        await WriteAsync(store, async s =>
        {
            await s.Engines.UpsertAsync(NewEngineConfig(acme.Uid, "main", ""));
            await s.Engines.UpsertAsync(NewEngineConfig(acme.Uid, "main", "role/rw"));
            await s.Engines.UpsertAsync(NewEngineConfig(acme.Uid, "main", "role/ro"));
            await s.Engines.UpsertAsync(NewEngineConfig(acme.Uid, "analytics", ""));
            await s.Engines.UpsertAsync(NewEngineConfig(acme.Uid, "analytics", "role/x"));
            await s.Engines.UpsertAsync(NewEngineConfig(globex.Uid, "main", "") with { Engine = "other" });
        });

        var connections = await ReadAsync(store, s => s.Engines.ListAsync(acme.Uid, "postgres", null));
        Assert.Equal(["analytics", "main"], connections.Select(c => c.Name));
        Assert.All(connections, c => Assert.Equal("", c.Item));

        var roles = await ReadAsync(store, s => s.Engines.ListAsync(acme.Uid, "postgres", "main"));
        Assert.Equal(["role/ro", "role/rw"], roles.Select(c => c.Item));

        Assert.Empty(await ReadAsync(store, s => s.Engines.ListAsync(globex.Uid, "postgres", null)));
        Assert.Null(await ReadAsync(store, s => s.Engines.GetAsync(globex.Uid, "postgres", "main", "")));
        Assert.Single(await ReadAsync(store, s => s.Engines.ListAsync(globex.Uid, "other", null)));
    }

    [Fact]
    public async Task EngineConfigs_DeleteOneItem_OrAConnectionWithEverythingUnderIt_AndNothingOfAnother()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        await WriteAsync(store, async s =>
        {
            await s.Engines.UpsertAsync(NewEngineConfig(tenant.Uid, "main", ""));
            await s.Engines.UpsertAsync(NewEngineConfig(tenant.Uid, "main", "role/a"));
            await s.Engines.UpsertAsync(NewEngineConfig(tenant.Uid, "main", "role/b"));
            await s.Engines.UpsertAsync(NewEngineConfig(tenant.Uid, "main2", ""));
        });

        Assert.Equal(1, await WriteAsync(store, s => s.Engines.DeleteAsync(tenant.Uid, "postgres", "main", "role/a")));
        Assert.Equal(0, await WriteAsync(store, s => s.Engines.DeleteAsync(tenant.Uid, "postgres", "main", "role/a")));
        Assert.Equal(["role/b"], (await ReadAsync(store, s => s.Engines.ListAsync(tenant.Uid, "postgres", "main"))).Select(c => c.Item));

        Assert.Equal(2, await WriteAsync(store, s => s.Engines.DeleteAsync(tenant.Uid, "postgres", "main", null)));
        Assert.Equal(["main2"], (await ReadAsync(store, s => s.Engines.ListAsync(tenant.Uid, "postgres", null))).Select(c => c.Name));
        Assert.Empty(await ReadAsync(store, s => s.Engines.ListAsync(tenant.Uid, "postgres", "main")));
    }

    [Fact]
    public async Task EngineConfigs_RefuseATenantThatDoesNotExist()
    {
        var store = await NewStoreAsync();
        Assert.True(await IsRefusedAsync(store, s => s.Engines.UpsertAsync(NewEngineConfig("t_missing", "main", ""))));
    }

    [Fact]
    public async Task TenantKeys_RetiredHolders_AreRetiredTenantsWhoseKeysStillExist()
    {
        var store = await NewStoreAsync();
        var live = await AddTenantAsync(store, "live");
        var kept = await AddTenantAsync(store, "kept", Core.Tenants.TenantState.Retired);
        var gone = await AddTenantAsync(store, "gone", Core.Tenants.TenantState.Retired);
        await WriteAsync(store, async s =>
        {
            await s.TenantKeys.InsertAsync(new Core.Tenants.TenantKey(live.Uid, 1, [1], T0));
            await s.TenantKeys.InsertAsync(new Core.Tenants.TenantKey(kept.Uid, 1, [2], T0));
            await s.TenantKeys.InsertAsync(new Core.Tenants.TenantKey(kept.Uid, 2, [3], T0));
        });

        Assert.Equal([kept.Uid], await ReadAsync(store, s => s.TenantKeys.ListRetiredHoldersAsync()));
        Assert.Equal(2, await WriteAsync(store, s => s.TenantKeys.DeleteAllAsync(kept.Uid)));
        Assert.Empty(await ReadAsync(store, s => s.TenantKeys.ListRetiredHoldersAsync()));
        _ = gone;
    }
}
