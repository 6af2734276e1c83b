using Keyward.Core.Events;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;

namespace Keyward.Storage.Conformance;

/// <summary>The event table (ids only ever increase, per-tenant listing, pruning) and per-tenant settings.</summary>
public abstract partial class StoreConformanceTests
{
    private static EventRecord NewEvent(string tenantUid, string type, int minute, string? path = null, string? subject = null) =>
        new(0, tenantUid, type, path, subject, $$"""{"n":{{minute}}}""", T0.AddMinutes(minute));

    private static Task<long> AppendAsync(IKeywardStore store, EventRecord record) => WriteAsync(store, s => s.Events.AppendAsync(record));

    [Fact]
    public async Task Events_Append_IdsIncreaseAndFieldsRoundTrip()
    {
        var store = await NewStoreAsync();
        var acme = await AddTenantAsync(store, "acme");
        var globex = await AddTenantAsync(store, "globex");

        var ids = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await AppendAsync(store, NewEvent(i % 2 == 0 ? acme.Uid : globex.Uid, EventTypes.TokenRevoked, i)));
        }

        var inOne = await WriteAsync(store, async s =>
            (await s.Events.AppendAsync(NewEvent(acme.Uid, EventTypes.Anomaly, 6)), await s.Events.AppendAsync(NewEvent(acme.Uid, EventTypes.Anomaly, 7))));
        ids.Add(inOne.Item1);
        ids.Add(inOne.Item2);
        var full = await AppendAsync(store, new EventRecord(0, acme.Uid, EventTypes.LeaseRevoked, "creds/db", "acc-1", """{"lease_id":"creds/db/x"}""", T0.AddMinutes(8)));
        ids.Add(full);

        Assert.True(ids.Zip(ids.Skip(1)).All(p => p.Second > p.First), "ids must strictly increase: " + string.Join(",", ids));
        var stored = (await ReadAsync(store, s => s.Events.ListAsync(acme.Uid, full - 1, 10))).Single();
        Assert.Equal(new EventRecord(full, acme.Uid, EventTypes.LeaseRevoked, "creds/db", "acc-1", """{"lease_id":"creds/db/x"}""", T0.AddMinutes(8)), stored);
    }

    [Fact]
    public async Task Events_List_AfterIdPerTenantAscendingLimited()
    {
        var store = await NewStoreAsync();
        var acme = await AddTenantAsync(store, "acme");
        var globex = await AddTenantAsync(store, "globex");
        var acmeIds = new List<long>();
        for (var i = 0; i < 6; i++)
        {
            acmeIds.Add(await AppendAsync(store, NewEvent(acme.Uid, EventTypes.TokenRevoked, i)));
            await AppendAsync(store, NewEvent(globex.Uid, EventTypes.TokenRevoked, i));
        }

        var all = await ReadAsync(store, s => s.Events.ListAsync(acme.Uid, 0, 100));
        var after = await ReadAsync(store, s => s.Events.ListAsync(acme.Uid, acmeIds[2], 100));
        var page = await ReadAsync(store, s => s.Events.ListAsync(acme.Uid, acmeIds[0], 2));

        Assert.Equal(acmeIds, all.Select(e => e.Id));
        Assert.All(all, e => Assert.Equal(acme.Uid, e.TenantUid));
        Assert.Equal(acmeIds.Skip(3), after.Select(e => e.Id));
        Assert.Equal(acmeIds.Skip(1).Take(2), page.Select(e => e.Id));
        Assert.Empty(await ReadAsync(store, s => s.Events.ListAsync(acme.Uid, acmeIds[^1], 100)));
        Assert.Empty(await ReadAsync(store, s => s.Events.ListAsync("unknown", 0, 100)));
    }

    [Fact]
    public async Task Events_Prune_OldestBeforeTheCutoffBoundedAndIdsNeverReused()
    {
        var store = await NewStoreAsync();
        var acme = await AddTenantAsync(store, "acme");
        var ids = new List<long>();
        for (var i = 0; i < 6; i++)
        {
            ids.Add(await AppendAsync(store, NewEvent(acme.Uid, EventTypes.TokenRevoked, i)));
        }

        var cutoff = T0.AddMinutes(4); // events 0..3 are older
        Assert.Equal(3, await WriteAsync(store, s => s.Events.PruneAsync(cutoff, 3)));
        Assert.Equal(ids.Skip(3), (await ReadAsync(store, s => s.Events.ListAsync(acme.Uid, 0, 100))).Select(e => e.Id));
        Assert.Equal(1, await WriteAsync(store, s => s.Events.PruneAsync(cutoff, 3)));
        Assert.Equal(0, await WriteAsync(store, s => s.Events.PruneAsync(cutoff, 3)));
        Assert.Equal(ids.Skip(4), (await ReadAsync(store, s => s.Events.ListAsync(acme.Uid, 0, 100))).Select(e => e.Id));

        // Everything pruned: a new event still gets a larger id (a stream resuming with Last-Event-ID must not miss it).
        Assert.Equal(2, await WriteAsync(store, s => s.Events.PruneAsync(T0.AddDays(1), 100)));
        var next = await AppendAsync(store, NewEvent(acme.Uid, EventTypes.TenantLockdown, 9));
        Assert.True(next > ids[^1], $"id {next} reused after pruning (last was {ids[^1]})");
    }

    [Fact]
    public async Task TenantSettings_RoundTripOverwriteAndPerTenant()
    {
        var store = await NewStoreAsync();
        var acme = await AddTenantAsync(store, "acme");
        var globex = await AddTenantAsync(store, "globex");

        Assert.Null(await ReadAsync(store, s => s.TenantSettings.GetAnomalySettingsAsync(acme.Uid)));

        var first = new AnomalySettings(true, new DenyThreshold(3, TimeSpan.FromSeconds(60)));
        await WriteAsync(store, s => s.TenantSettings.PutAnomalySettingsAsync(acme.Uid, first, T0));
        Assert.Equal(first, await ReadAsync(store, s => s.TenantSettings.GetAnomalySettingsAsync(acme.Uid)));
        Assert.Null(await ReadAsync(store, s => s.TenantSettings.GetAnomalySettingsAsync(globex.Uid)));

        var second = new AnomalySettings(false, new DenyThreshold(DenyThreshold.MaxCount, DenyThreshold.MaxWindow), RotateExposed: true);
        await WriteAsync(store, s => s.TenantSettings.PutAnomalySettingsAsync(acme.Uid, second, T0.AddMinutes(1)));
        Assert.Equal(second, await ReadAsync(store, s => s.TenantSettings.GetAnomalySettingsAsync(acme.Uid)));

        var third = new AnomalySettings(true, null);
        await WriteAsync(store, s => s.TenantSettings.PutAnomalySettingsAsync(acme.Uid, third, T0.AddMinutes(2)));
        Assert.Equal(third, await ReadAsync(store, s => s.TenantSettings.GetAnomalySettingsAsync(acme.Uid)));

        await WriteAsync(store, s => s.TenantSettings.PutAnomalySettingsAsync(globex.Uid, AnomalySettings.Default, T0));
        Assert.Equal(AnomalySettings.Default, await ReadAsync(store, s => s.TenantSettings.GetAnomalySettingsAsync(globex.Uid)));
        Assert.Equal(third, await ReadAsync(store, s => s.TenantSettings.GetAnomalySettingsAsync(acme.Uid)));
    }

    [Fact]
    public async Task TenantSettings_Uncommitted_IsNotStored()
    {
        var store = await NewStoreAsync();
        var acme = await AddTenantAsync(store, "acme");

        await using (var session = await store.WriteAsync())
        {
            await session.TenantSettings.PutAnomalySettingsAsync(acme.Uid, new AnomalySettings(true, null), T0);
        }

        Assert.Null(await ReadAsync(store, s => s.TenantSettings.GetAnomalySettingsAsync(acme.Uid)));
    }
}
