using System.Reflection;
using System.Security.Cryptography;
using Keyward.Core;
using Keyward.Core.Secrets;
using Keyward.Core.Tenants;
using Keyward.Tests.Common;
using Microsoft.Data.Sqlite;

namespace Keyward.Storage.Sqlite.Tests;

public sealed class SqliteStoreTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Open_FreshDirectory_FileIsInWalMode()
    {
        await using (var store = await OpenAsync())
        {
            Assert.Equal("sqlite", store.Engine);
            Assert.Equal(Path.Combine(_directory.Path, "keyward.db"), store.DatabasePath);
        }

        // journal_mode=WAL is a property of the file: a new connection sees it.
        Assert.Equal("wal", RawDatabase.Scalar(_directory.Path, "PRAGMA journal_mode") as string);
    }

    [Fact]
    public async Task Writer_Pragmas_AreFullSyncSecureDeleteAndForeignKeys()
    {
        // White-box: these pragmas live on the writer connection only, so read them there.
        await using var store = await OpenAsync();
        var lease = typeof(SqliteStore).GetField("_writer", BindingFlags.NonPublic | BindingFlags.Instance)?.GetValue(store)
            ?? throw new InvalidOperationException("SqliteStore no longer has a _writer field; update this test.");
        var connection = (SqliteConnection)lease.GetType().GetProperty("Connection")!.GetValue(lease)!;

        long Pragma(string name)
        {
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA " + name;
            return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }

        Assert.Equal(2, Pragma("synchronous")); // FULL
        Assert.Equal(1, Pragma("secure_delete"));
        Assert.Equal(1, Pragma("foreign_keys"));
        using var mode = connection.CreateCommand();
        mode.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", mode.ExecuteScalar() as string);
    }

    [Fact]
    public async Task Writer_ForeignKeys_AreEnforced()
    {
        await using var store = await OpenAsync();

        await using var session = await store.WriteAsync();
        var error = await Assert.ThrowsAsync<SqliteException>(() => session.TenantKeys.InsertAsync(new TenantKey("no-such-tenant", 1, [1], T0)));

        Assert.Equal(19, error.SqliteErrorCode); // SQLITE_CONSTRAINT
    }

    [Fact]
    public async Task Purge_AfterTenantKeysDeleted_WrappedKeyBytesAreInNoFile()
    {
        // Arrange: a tenant key with recognisable bytes, committed (so it is in the WAL or the database).
        await using var store = await OpenAsync();
        var tenant = new Tenant(Ids.NewTenantUid(), "acme", null, TenantState.Active, T0, T0);
        var wrapped = RandomNumberGenerator.GetBytes(60);
        await using (var session = await store.WriteAsync())
        {
            await session.Tenants.TryInsertAsync(tenant);
            await session.TenantKeys.InsertAsync(new TenantKey(tenant.Uid, 1, wrapped, T0));
            await session.CommitAsync();
        }

        await store.PurgeDeletedDataAsync(); // into the database file as well
        await using (var session = await store.WriteAsync())
        {
            await session.Secrets.UpsertMetadataAsync(new SecretMetadata(tenant.Uid, "x", 0, 10, new Dictionary<string, string>(), T0, T0));
            await session.CommitAsync();
        }

        Assert.NotEmpty(RawDatabase.FilesContaining(_directory.Path, wrapped)); // the scan finds live bytes

        // Act
        await using (var session = await store.WriteAsync())
        {
            Assert.Equal(1, await session.TenantKeys.DeleteAllAsync(tenant.Uid));
            await session.CommitAsync();
        }

        await store.PurgeDeletedDataAsync();

        // Assert
        Assert.Empty(RawDatabase.FilesContaining(_directory.Path, wrapped));
        Assert.Equal(0L, new FileInfo(Path.Combine(_directory.Path, "keyward.db-wal")).Length);
    }

    [Fact]
    public async Task Purge_AfterCiphertextDestroyed_CiphertextBytesAreInNoFile()
    {
        await using var store = await OpenAsync();
        var tenant = new Tenant(Ids.NewTenantUid(), "acme", null, TenantState.Active, T0, T0);
        var ciphertext = RandomNumberGenerator.GetBytes(300);
        await using (var session = await store.WriteAsync())
        {
            await session.Tenants.TryInsertAsync(tenant);
            await session.Secrets.UpsertMetadataAsync(new SecretMetadata(tenant.Uid, "app/db", 1, 10, new Dictionary<string, string>(), T0, T0));
            await session.Secrets.InsertVersionAsync(new SecretVersion(tenant.Uid, "app/db", 1, 1, ciphertext, T0, null, null));
            await session.CommitAsync();
        }

        await store.PurgeDeletedDataAsync();
        Assert.NotEmpty(RawDatabase.FilesContaining(_directory.Path, ciphertext));

        await using (var session = await store.WriteAsync())
        {
            Assert.Equal(1, await session.Secrets.DestroyAsync(tenant.Uid, "app/db", [1], T0));
            await session.CommitAsync();
        }

        await store.PurgeDeletedDataAsync();

        Assert.Empty(RawDatabase.FilesContaining(_directory.Path, ciphertext));
    }

    [Fact]
    public async Task Open_Reopened_KeepsDataAndAppliesNoMigrationTwice()
    {
        await using (var store = await OpenAsync())
        {
            await using var session = await store.WriteAsync();
            await session.Tenants.TryInsertAsync(new Tenant("uid-1", "acme", "Acme", TenantState.Active, T0, T0));
            await session.CommitAsync();
        }

        for (var reopen = 0; reopen < 2; reopen++)
        {
            await using var store = await OpenAsync();
            await using var session = await store.ReadAsync();
            Assert.Equal("Acme", (await session.Tenants.GetByIdAsync("acme"))?.Name);
        }

        var migrations = RawDatabase.Rows(_directory.Path, "SELECT version FROM schema_migrations ORDER BY version");
        // Every migration once (their number grows with the schema; a reopen adds none).
        var versions = migrations.Select(r => (long)r[0]!).ToList();
        Assert.Equal(1L, versions[0]);
        Assert.Equal(versions.Count, versions.Distinct().Count());
    }

    [Fact]
    public async Task Open_SchemaNewerThanBinary_IsRefusedWithClearMessage()
    {
        await (await OpenAsync()).DisposeAsync();
        var applied = (long)RawDatabase.Scalar(_directory.Path, "SELECT COUNT(*) FROM schema_migrations")!;
        RawDatabase.Execute(_directory.Path, "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)");

        await using var store = SqliteStore.InDirectory(_directory.Path);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.OpenAsync());

        Assert.Contains("99", error.Message, StringComparison.Ordinal);
        Assert.Contains("newer", error.Message, StringComparison.Ordinal);
        Assert.Contains("Upgrade", error.Message, StringComparison.Ordinal);
        Assert.Equal(applied + 1, RawDatabase.Scalar(_directory.Path, "SELECT COUNT(*) FROM schema_migrations"));
    }

    [Fact]
    public async Task Open_SchemaNewerThanBinary_LeavesNoFileOpen()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        await (await OpenAsync()).DisposeAsync();
        var applied = (long)RawDatabase.Scalar(_directory.Path, "SELECT COUNT(*) FROM schema_migrations")!;
        RawDatabase.Execute(_directory.Path, "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)");
        Assert.Equal(0, OpenFilesUnder(_directory.Path));

        var store = SqliteStore.InDirectory(_directory.Path);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.OpenAsync());
        await store.DisposeAsync();

        Assert.Equal(0, OpenFilesUnder(_directory.Path));
    }

    [Fact]
    public async Task ReadSession_Write_IsRefusedAndTheReaderStaysUsable()
    {
        await using var store = await OpenAsync();

        await using (var read = await store.ReadAsync())
        {
            var error = await Assert.ThrowsAsync<SqliteException>(() => read.Tenants.TryInsertAsync(new Tenant("u", "acme", null, TenantState.Active, T0, T0)));
            Assert.Equal(8, error.SqliteErrorCode); // SQLITE_READONLY
        }

        await using (var read = await store.ReadAsync())
        {
            Assert.Null(await read.Tenants.GetByIdAsync("acme"));
            await Assert.ThrowsAsync<SqliteException>(() => read.Audit.SetHeadAsync(new Core.Audit.AuditHead(1, new byte[32])));
        }

        Assert.Equal(0L, RawDatabase.Scalar(_directory.Path, "SELECT COUNT(*) FROM tenants"));
    }

    [Fact]
    public async Task WriteSessions_AreSerialized()
    {
        await using var store = await OpenAsync();
        var first = await store.WriteAsync();

        var second = store.WriteAsync().AsTask();
        await Task.Delay(200);
        Assert.False(second.IsCompleted, "a second write session opened while the first was active");

        await first.DisposeAsync();
        await using var session = await second.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(await session.Tenants.TryInsertAsync(new Tenant("u", "acme", null, TenantState.Active, T0, T0)));
    }

    [Fact]
    public async Task Open_CreatesOwnerOnlyDirectoryAndFiles()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var data = Path.Combine(_directory.Path, "nested", "data");
        await using (var store = SqliteStore.InDirectory(data))
        {
            await store.OpenAsync();
            await using var session = await store.WriteAsync();
            await session.Tenants.TryInsertAsync(new Tenant("u", "acme", null, TenantState.Active, T0, T0));
            await session.CommitAsync();

            const UnixFileMode Others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(data) & Others);
            foreach (var file in Directory.GetFiles(data))
            {
                Assert.True((File.GetUnixFileMode(file) & Others) == UnixFileMode.None, $"{Path.GetFileName(file)} is {File.GetUnixFileMode(file)}");
            }
        }
    }

    [Fact]
    public async Task Sessions_NotOpenOrDisposed_AreRefused()
    {
        var notOpen = SqliteStore.InDirectory(_directory.Path);
        await Assert.ThrowsAsync<InvalidOperationException>(() => notOpen.WriteAsync().AsTask());
        await notOpen.DisposeAsync();

        var store = await OpenAsync();
        await store.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.ReadAsync().AsTask());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.WriteAsync().AsTask());
    }

    /// <summary>File descriptors of this process open on files in <paramref name="directory"/> (Linux /proc).</summary>
    private static int OpenFilesUnder(string directory) =>
        Directory.GetFiles("/proc/self/fd").Count(fd =>
        {
            try
            {
                return (new FileInfo(fd).LinkTarget ?? "").StartsWith(directory + "/", StringComparison.Ordinal);
            }
            catch (IOException)
            {
                return false; // the descriptor closed while we looked
            }
        });

    private async Task<SqliteStore> OpenAsync()
    {
        var store = SqliteStore.InDirectory(_directory.Path);
        await store.OpenAsync();
        return store;
    }
}
