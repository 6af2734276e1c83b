using Keyward.Core.Storage;
using Keyward.Storage.Conformance;
using Keyward.Tests.Common;

namespace Keyward.Storage.Sqlite.Tests;

/// <summary>The shared storage conformance suite, run on the embedded SQLite store.</summary>
public sealed class SqliteStoreConformanceTests : StoreConformanceTests
{
    private readonly List<TempDirectory> _directories = [];

    protected override async Task<IKeywardStore> CreateStoreAsync()
    {
        var directory = new TempDirectory();
        _directories.Add(directory);
        var store = SqliteStore.InDirectory(directory.Path);
        await store.OpenAsync();
        return store;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var directory in _directories)
        {
            directory.Dispose();
        }
    }
}
