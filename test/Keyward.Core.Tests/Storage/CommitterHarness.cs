using Keyward.Core.Audit;
using Keyward.Core.Seal;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Crypto.Keys;
using Keyward.Storage.Sqlite;
using Keyward.Tests.Common;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Keyward.Core.Tests.Storage;

/// <summary>A real SQLite store in a temp directory, an unsealed key hierarchy and a group committer over them.</summary>
internal sealed class CommitterHarness : IAsyncDisposable
{
    private readonly TempDirectory _directory;

    private readonly ILogger<GroupCommitter> _logger;
    private readonly IStoreCache[] _caches;

    private CommitterHarness(
        TempDirectory directory, SqliteStore sqlite, IKeywardStore store, KeyHierarchy keys, RootKey root, TimeProvider time, ILogger<GroupCommitter> logger,
        IStoreCache[] caches)
    {
        _directory = directory;
        _logger = logger;
        _caches = caches;
        Sqlite = sqlite;
        Store = store;
        Keys = keys;
        Root = root;
        Time = time;
        Committer = new GroupCommitter(store, keys, time, logger, caches);
    }

    /// <summary>The store's data directory (for raw edits, as someone with the disk but not the keys).</summary>
    public string DataDirectory => _directory.Path;

    public SqliteStore Sqlite { get; }

    public IKeywardStore Store { get; }

    public KeyHierarchy Keys { get; }

    public RootKey Root { get; }

    public TimeProvider Time { get; }

    public GroupCommitter Committer { get; private set; }

    public static async Task<CommitterHarness> StartAsync(
        TimeProvider? time = null, bool unsealed = true, Func<IKeywardStore, IKeywardStore>? wrap = null, ILogger<GroupCommitter>? logger = null,
        IStoreCache[]? caches = null)
    {
        var directory = new TempDirectory();
        var sqlite = SqliteStore.InDirectory(directory.Path);
        await sqlite.OpenAsync();
        var root = RootKey.Generate();
        var keys = new KeyHierarchy();
        var config = new SealConfig(1, 1, 7, root.ComputeCheck(), DateTimeOffset.UnixEpoch);
        if (unsealed)
        {
            keys.Install(config, root);
        }
        else
        {
            keys.SetConfig(config);
        }

        return new CommitterHarness(
            directory, sqlite, wrap?.Invoke(sqlite) ?? sqlite, keys, root, time ?? TimeProvider.System, logger ?? NullLogger<GroupCommitter>.Instance, caches ?? []);
    }

    /// <summary>Stops the committer and starts a new one on the same store (a server restart).</summary>
    public async Task RestartCommitterAsync()
    {
        await Committer.DisposeAsync();
        Committer = new GroupCommitter(Store, Keys, Time, _logger, _caches);
    }

    public static Tenant NewTenant(string id) =>
        new(Ids.NewTenantUid(), id, null, TenantState.Active, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);

    public static AuditDraft Draft(string operation, string? tenant = null) =>
        new(Ids.NewRequestId(), operation) { TenantId = tenant, Actor = new AuditActor("test") };

    public async Task<IReadOnlyList<AuditEntry>> AuditLogAsync()
    {
        await using var session = await Store.ReadAsync();
        return await session.Audit.QueryAsync(new AuditQuery(null, 0, int.MaxValue, null, null));
    }

    public async Task<Tenant?> TenantAsync(string id)
    {
        await using var session = await Store.ReadAsync();
        return await session.Tenants.GetByIdAsync(id);
    }

    public async ValueTask DisposeAsync()
    {
        await Committer.DisposeAsync();
        await Sqlite.DisposeAsync();
        Root.Dispose();
        _directory.Dispose();
    }
}
