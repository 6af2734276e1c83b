using Keyward.Core.Budgets;

namespace Keyward.Storage.Conformance;

public abstract partial class StoreConformanceTests
{
    private static readonly string[] RunAndSlice = [BudgetCounter.RunHolder, "bootstrap-a"];

    [Fact]
    public async Task Budgets_Grant_KeepsTheFirstSlice_AndLockCreatesTheRunCounter()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");

        await WriteAsync(store, s => s.Budgets.GrantAsync(tenant.Uid, "openai", "r1", "bootstrap-a", 5));
        await WriteAsync(store, s => s.Budgets.GrantAsync(tenant.Uid, "openai", "r1", "bootstrap-a", 500));
        var before = await ReadAsync(store, s => s.Budgets.GetAsync(tenant.Uid, "openai", "r1", RunAndSlice));
        var locked = await WriteAsync(store, s => s.Budgets.LockAsync(tenant.Uid, "openai", "r1", RunAndSlice));

        Assert.Equal(new BudgetCounter("bootstrap-a", 5, 0), Assert.Single(before));
        Assert.Equal([new BudgetCounter(BudgetCounter.RunHolder, null, 0), new BudgetCounter("bootstrap-a", 5, 0)], locked.OrderBy(c => c.Holder, StringComparer.Ordinal));
        Assert.Empty(await ReadAsync(store, s => s.Budgets.GetAsync(tenant.Uid, "openai", "r2", RunAndSlice)));
        Assert.Empty(await ReadAsync(store, s => s.Budgets.GetAsync(tenant.Uid, "other", "r1", RunAndSlice)));
        Assert.True(await IsRefusedAsync(store, s => s.Budgets.GrantAsync("t_missing", "openai", "r1", "x", 1)));
    }

    [Fact]
    public async Task Budgets_Count_AddsOneToEachNamedCounter_OnlyThose_AndRollsBackWithItsTransaction()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        await WriteAsync(store, async s =>
        {
            await s.Budgets.GrantAsync(tenant.Uid, "openai", "r1", "bootstrap-a", 5);
            await s.Budgets.GrantAsync(tenant.Uid, "openai", "r1", "bootstrap-b", 5);
        });

        await WriteAsync(store, async s =>
        {
            await s.Budgets.LockAsync(tenant.Uid, "openai", "r1", RunAndSlice);
            await s.Budgets.CountAsync(tenant.Uid, "openai", "r1", RunAndSlice);
            await s.Budgets.CountAsync(tenant.Uid, "openai", "r1", RunAndSlice);
        });
        Assert.True(await IsRefusedAsync(store, async s =>
        {
            await s.Budgets.CountAsync(tenant.Uid, "openai", "r1", RunAndSlice);
            throw new InvalidOperationException("rolled back");
        }));

        var counters = await ReadAsync(store, s => s.Budgets.GetAsync(tenant.Uid, "openai", "r1", [BudgetCounter.RunHolder, "bootstrap-a", "bootstrap-b"]));
        Assert.Equal(2, counters.Single(c => c.Holder == BudgetCounter.RunHolder).Used);
        Assert.Equal(2, counters.Single(c => c.Holder == "bootstrap-a").Used);
        Assert.Equal(0, counters.Single(c => c.Holder == "bootstrap-b").Used);
    }

    [Fact]
    public async Task Budgets_ConcurrentCountsInSeparateTransactions_NeverPassALimit()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        await WriteAsync(store, s => s.Budgets.GrantAsync(tenant.Uid, "openai", "r1", "bootstrap-a", 3));
        using var start = new ManualResetEventSlim();

        // Each transaction counts only if the slice has room when it looks, as the gateway does.
        var counted = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(async () =>
        {
            start.Wait();
            return await WriteAsync(store, async s =>
            {
                var counters = await s.Budgets.LockAsync(tenant.Uid, "openai", "r1", RunAndSlice);
                var slice = counters.Single(c => c.Holder == "bootstrap-a");
                if (slice.Used >= slice.Limit)
                {
                    return false;
                }

                await s.Budgets.CountAsync(tenant.Uid, "openai", "r1", RunAndSlice);
                return true;
            });
        })).Append(Task.Run(() =>
        {
            start.Set();
            return false;
        })));

        Assert.Equal(3, counted.Count(c => c));
        var final = await ReadAsync(store, s => s.Budgets.GetAsync(tenant.Uid, "openai", "r1", RunAndSlice));
        Assert.All(final, c => Assert.Equal(3, c.Used));
    }
}
