using Keyward.Core;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;

namespace Keyward.Storage.Conformance;

/// <summary>
/// The behaviour every storage engine owes the core, written once against <see cref="IKeywardStore"/> and its
/// ports. Each engine's test project inherits it once and supplies <see cref="CreateStoreAsync"/>; nothing here
/// may depend on an engine. Each test gets fresh stores; they are disposed after the test.
/// </summary>
public abstract partial class StoreConformanceTests : IAsyncLifetime
{
    /// <summary>A whole-microsecond instant, so engines with microsecond timestamps round-trip it exactly.</summary>
    protected static readonly DateTimeOffset T0 = new(2026, 3, 4, 5, 6, 7, 890, 123, TimeSpan.Zero);

    private readonly List<IKeywardStore> _stores = [];

    /// <summary>A fresh, empty store, opened (migrations applied).</summary>
    protected abstract Task<IKeywardStore> CreateStoreAsync();

    public Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }
    }

    protected async Task<IKeywardStore> NewStoreAsync()
    {
        var store = await CreateStoreAsync();
        _stores.Add(store);
        return store;
    }

    protected static async Task WriteAsync(IKeywardStore store, Func<IWriteSession, Task> work)
    {
        await using var session = await store.WriteAsync();
        await work(session);
        await session.CommitAsync();
    }

    protected static async Task<T> WriteAsync<T>(IKeywardStore store, Func<IWriteSession, Task<T>> work)
    {
        await using var session = await store.WriteAsync();
        var result = await work(session);
        await session.CommitAsync();
        return result;
    }

    protected static async Task<T> ReadAsync<T>(IKeywardStore store, Func<IStoreSession, Task<T>> work)
    {
        await using var session = await store.ReadAsync();
        return await work(session);
    }

    /// <summary>Runs <paramref name="work"/> in its own write session and reports whether the engine refused it.</summary>
    protected static async Task<bool> IsRefusedAsync(IKeywardStore store, Func<IWriteSession, Task> work)
    {
        try
        {
            await WriteAsync(store, work);
            return false;
        }
        catch (Exception error) when (error is not Xunit.Sdk.XunitException)
        {
            return true;
        }
    }

    protected static Tenant NewTenant(string id, TenantState state = TenantState.Active) =>
        new(Ids.NewTenantUid(), id, "Tenant " + id, state, T0, T0);

    protected static async Task<Tenant> AddTenantAsync(IKeywardStore store, string id, TenantState state = TenantState.Active)
    {
        var tenant = NewTenant(id, state);
        Assert.True(await WriteAsync(store, s => s.Tenants.TryInsertAsync(tenant)));
        return tenant;
    }

    [Fact]
    public async Task Engine_IsNamed()
    {
        var store = await NewStoreAsync();

        Assert.Contains(store.Engine, new[] { "sqlite", "postgres" });
    }

    [Fact]
    public async Task WriteSession_DisposedWithoutCommit_IsRolledBack()
    {
        var store = await NewStoreAsync();
        var tenant = NewTenant("acme");

        await using (var session = await store.WriteAsync())
        {
            Assert.True(await session.Tenants.TryInsertAsync(tenant));
            Assert.NotNull(await session.Tenants.GetByIdAsync("acme")); // visible inside its own transaction
        }

        Assert.Null(await ReadAsync(store, s => s.Tenants.GetByIdAsync("acme")));
        Assert.True(await WriteAsync(store, s => s.Tenants.TryInsertAsync(tenant)), "the rolled-back insert still holds the id");
    }

    [Fact]
    public async Task Savepoint_RolledBack_UndoesOnlyItsOwnPart()
    {
        var store = await NewStoreAsync();

        await WriteAsync(store, async s =>
        {
            await s.SavepointAsync();
            await s.Tenants.TryInsertAsync(NewTenant("kept-1"));
            await s.ReleaseSavepointAsync();

            await s.SavepointAsync();
            await s.Tenants.TryInsertAsync(NewTenant("undone"));
            await s.Audit.SetHeadAsync(new Core.Audit.AuditHead(99, new byte[32]));
            await s.RollbackToSavepointAsync();
            await s.ReleaseSavepointAsync();
            Assert.Null(await s.Tenants.GetByIdAsync("undone"));

            await s.SavepointAsync();
            await s.Tenants.TryInsertAsync(NewTenant("kept-2"));
            await s.ReleaseSavepointAsync();
        });

        var ids = await ReadAsync(store, async s => (await s.Tenants.ListAsync()).Select(t => t.Id).Order(StringComparer.Ordinal).ToList());
        Assert.Equal(["kept-1", "kept-2"], ids);
        Assert.Equal(0, (await ReadAsync(store, s => s.Audit.GetHeadAsync())).Seq);
    }

    [Fact]
    public async Task Savepoint_ManyInOneTransaction_EachRollsBackAlone()
    {
        var store = await NewStoreAsync();

        await WriteAsync(store, async s =>
        {
            for (var i = 0; i < 20; i++)
            {
                await s.SavepointAsync();
                await s.Tenants.TryInsertAsync(NewTenant($"t{i}"));
                if (i % 3 == 0)
                {
                    await s.RollbackToSavepointAsync();
                }

                await s.ReleaseSavepointAsync();
            }
        });

        var ids = await ReadAsync(store, async s => (await s.Tenants.ListAsync()).Select(t => t.Id).ToHashSet());
        Assert.Equal(Enumerable.Range(0, 20).Where(i => i % 3 != 0).Select(i => $"t{i}").ToHashSet(), ids);
    }

    [Fact]
    public async Task ReadSession_DoesNotSeeUncommittedWrites()
    {
        var store = await NewStoreAsync();

        await using var write = await store.WriteAsync();
        await write.Tenants.TryInsertAsync(NewTenant("pending"));

        Assert.Null(await ReadAsync(store, s => s.Tenants.GetByIdAsync("pending")));
        Assert.Empty(await ReadAsync(store, s => s.Tenants.ListAsync()));

        await write.CommitAsync();
        Assert.NotNull(await ReadAsync(store, s => s.Tenants.GetByIdAsync("pending")));
    }

    [Fact]
    public async Task ReadSession_KeepsItsSnapshotWhileOthersCommit()
    {
        var store = await NewStoreAsync();
        await AddTenantAsync(store, "before");

        await using var read = await store.ReadAsync();
        Assert.NotNull(await read.Tenants.GetByIdAsync("before"));

        await AddTenantAsync(store, "after");

        Assert.Null(await read.Tenants.GetByIdAsync("after"));
        Assert.Single(await read.Tenants.ListAsync());
        Assert.NotNull(await ReadAsync(store, s => s.Tenants.GetByIdAsync("after")));
    }

    [Fact]
    public async Task CommittedWrites_AreVisibleToNewReaders()
    {
        var store = await NewStoreAsync();

        var tenant = await AddTenantAsync(store, "acme");

        Assert.Equal(tenant, await ReadAsync(store, s => s.Tenants.GetByIdAsync("acme")));
        Assert.Equal(tenant, await ReadAsync(store, s => s.Tenants.GetByUidAsync(tenant.Uid)));
    }

    [Fact]
    public async Task ReadSessions_ManyConcurrent_AllSucceed()
    {
        var store = await NewStoreAsync();
        await AddTenantAsync(store, "acme");

        var found = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(() => ReadAsync(store, s => s.Tenants.GetByIdAsync("acme")))));

        Assert.All(found, Assert.NotNull);
    }

    [Fact]
    public async Task PurgeDeletedData_KeepsLiveData()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        await WriteAsync(store, s => s.TenantKeys.InsertAsync(new TenantKey(tenant.Uid, 1, [1, 2, 3], T0)));

        await WriteAsync(store, s => s.TenantKeys.DeleteAllAsync(tenant.Uid));
        await store.PurgeDeletedDataAsync();

        Assert.NotNull(await ReadAsync(store, s => s.Tenants.GetByIdAsync("acme")));
        Assert.Empty(await ReadAsync(store, s => s.TenantKeys.ListAsync(tenant.Uid)));
    }
}
