using Keyward.Core.Storage;
using Keyward.Storage.Conformance;
using Keyward.Tests.Common;

namespace Keyward.Storage.Postgres.Tests;

/// <summary>The shared storage conformance suite, run unchanged on the PostgreSQL store (a fresh database per store).</summary>
public sealed class PostgresStoreConformanceTests : StoreConformanceTests
{
    private readonly List<string> _databases = [];

    protected override async Task<IKeywardStore> CreateStoreAsync()
    {
        var cluster = await PostgresCluster.GetAsync();
        var database = await cluster.CreateDatabaseAsync();
        _databases.Add(database);
        var store = PostgresStore.Create(cluster.ConnectionString(database));
        await store.OpenAsync();
        return store;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_databases.Count > 0)
        {
            var cluster = await PostgresCluster.GetAsync();
            foreach (var database in _databases)
            {
                await cluster.DropDatabaseAsync(database);
            }
        }
    }
}
