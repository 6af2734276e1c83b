using System.Collections.Concurrent;
using Keyward.Core.Diagnostics;
using Keyward.Core.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Keyward.Storage.Sqlite;

/// <summary>
/// The embedded store: one SQLite file in WAL mode. A single writer connection carries every transaction
/// (the group committer batches many operations into each), committed with <c>synchronous=FULL</c> so that an
/// acknowledged write survives kill -9 and power loss; <c>secure_delete</c> is on so deleted rows (destroyed
/// ciphertexts, shredded tenant keys) are overwritten, not left in free pages. Readers use their own pooled
/// connections (<c>query_only</c>) and never block the writer.
/// </summary>
public sealed class SqliteStore : IKeywardStore
{
    public const string FileName = "keyward.db";

    /// <summary>Held (an exclusive OS file lock) by the one process using the data directory.</summary>
    public const string LockFileName = "keyward.lock";

    /// <summary>How often the background checkpointer copies committed WAL frames into the database file.</summary>
    private static readonly TimeSpan CheckpointInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// How long a checkpoint may wait for readers to move to the newest snapshot. While it waits, commits wait too,
    /// so it gives up quickly and tries again on the next tick.
    /// </summary>
    private const int CheckpointBusyMilliseconds = 50;

    private readonly string _databasePath;
    private FileStream? _lock;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _writerGate = new(1, 1);
    private readonly ConcurrentBag<SqliteConnectionLease> _readers = [];
    private readonly CancellationTokenSource _stopping = new();
    private SqliteConnectionLease? _writer;
    private Task? _checkpointer;
    private bool _disposed;

    public SqliteStore(string databasePath, ILogger<SqliteStore>? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(databasePath);
        _databasePath = Path.GetFullPath(databasePath);
        _logger = logger ?? NullLogger<SqliteStore>.Instance;
    }

    /// <summary>The store of a data directory: <c>DIR/keyward.db</c>.</summary>
    public static SqliteStore InDirectory(string dataDirectory, ILogger<SqliteStore>? logger = null) =>
        new(Path.Combine(dataDirectory, FileName), logger);

    public string Engine => "sqlite";

    public string DatabasePath => _databasePath;

    public Task OpenAsync(CancellationToken cancellationToken = default)
    {
        var directory = Path.GetDirectoryName(_databasePath)!;
        if (!Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        _lock = LockDirectory(directory);
        SqliteConnectionLease writer;
        try
        {
            writer = Open(writer: true);
        }
        catch
        {
            ReleaseLock();
            throw;
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_databasePath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        int version;
        try
        {
            version = Migrate(writer);
            Checkpoint(writer);
        }
        catch
        {
            writer.Dispose();
            ReleaseLock();
            throw;
        }

        _writer = writer;
        _checkpointer = Task.Run(CheckpointLoopAsync);
        KeywardLog.StoreOpened(_logger, Engine, version);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Takes the data directory's lock file (<see cref="LockFileName"/>, an exclusive lock the OS releases when the
    /// process ends, even killed): one process per SQLite store. Two servers on one file would each cache tokens and
    /// tenants the other changes — a revocation on one would not hold on the other — so a second one is refused;
    /// several nodes share a PostgreSQL store instead.
    /// </summary>
    /// <exception cref="StoreInUseException">Another process (or store object) holds the directory.</exception>
    public static FileStream LockDirectory(string directory)
    {
        var path = Path.Combine(directory, LockFileName);
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            return new FileStream(path, options);
        }
        catch (IOException)
        {
            throw new StoreInUseException(
                $"Another Keyward process is using the data directory {directory} ({LockFileName} is locked): one server per SQLite store. " +
                "Stop it first, or run several nodes on PostgreSQL (--storage postgres).");
        }
    }

    private void ReleaseLock()
    {
        _lock?.Dispose();
        _lock = null;
    }

    public ValueTask<IStoreSession> ReadAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_readers.TryTake(out var lease))
        {
            lease = Open(writer: false);
        }

        return ValueTask.FromResult<IStoreSession>(new SqliteSession(lease, this, write: false));
    }

    public async ValueTask<IWriteSession> WriteAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var writer = _writer ?? throw new InvalidOperationException("The store is not open.");
        await _writerGate.WaitAsync(cancellationToken);
        try
        {
            return new SqliteSession(writer, this, write: true);
        }
        catch
        {
            _writerGate.Release();
            throw;
        }
    }

    public async Task PurgeDeletedDataAsync(CancellationToken cancellationToken = default)
    {
        var writer = _writer ?? throw new InvalidOperationException("The store is not open.");
        await _writerGate.WaitAsync(cancellationToken);
        try
        {
            // Readers holding an old snapshot can keep a checkpoint from finishing; they are short, so retry briefly.
            for (var attempt = 0; attempt < 100 && !Checkpoint(writer); attempt++)
            {
                await Task.Delay(10, cancellationToken);
            }
        }
        finally
        {
            _writerGate.Release();
        }
    }

    internal void Return(SqliteConnectionLease lease, bool write, bool healthy)
    {
        if (write)
        {
            _writerGate.Release();
            return;
        }

        if (healthy && !_disposed)
        {
            _readers.Add(lease);
        }
        else
        {
            lease.Dispose();
        }
    }

    private SqliteConnectionLease Open(bool writer, bool checkpointer = false)
    {
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = _databasePath,
            Mode = writer ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
            Pooling = false,
            Cache = SqliteCacheMode.Private,
        };
        var connection = new SqliteConnection(builder.ToString());
        connection.Open();
        var lease = new SqliteConnectionLease(connection);
        lease.Execute("PRAGMA busy_timeout = 10000");
        if (writer)
        {
            lease.Scalar("PRAGMA journal_mode = WAL");
            lease.Execute("PRAGMA synchronous = FULL");
            lease.Execute("PRAGMA secure_delete = ON");
            lease.Execute("PRAGMA foreign_keys = ON");

            // Checkpoints run on the background checkpointer, not inside a commit (which would stall the batch).
            lease.Scalar("PRAGMA wal_autocheckpoint = 0");
        }
        else if (!checkpointer)
        {
            lease.Execute("PRAGMA query_only = ON");
        }

        return lease;
    }

    /// <summary>The newest schema version this binary knows: what <see cref="OpenAsync"/> migrates a store to.</summary>
    public static int LatestSchemaVersion => SqliteMigrations.Latest;

    /// <summary>
    /// The schema version recorded in the store, read on a reader connection without migrating anything (0 when none is
    /// recorded). For offline tools that read a store this binary has not opened (<c>keyward operator audit verify</c>).
    /// </summary>
    public int ReadSchemaVersion()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var lease = Open(writer: false);
        if (lease.Scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'") is not long and > 0)
        {
            return 0;
        }

        return lease.Scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") is long v ? (int)v : 0;
    }

    private static int Migrate(SqliteConnectionLease db)
    {
        db.Execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
        var current = db.Scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") is long v ? (int)v : 0;
        if (current > SqliteMigrations.Latest)
        {
            throw new InvalidOperationException(
                $"The store's schema is version {current}, newer than this binary understands ({SqliteMigrations.Latest}). Upgrade Keyward.");
        }

        foreach (var (version, sql) in SqliteMigrations.All.Where(m => m.Version > current))
        {
            db.Execute("BEGIN IMMEDIATE");
            try
            {
                db.Execute(sql);
                db.Execute("INSERT INTO schema_migrations (version, applied_at) VALUES ($v, $at)", ("$v", version), ("$at", DateTimeOffset.UtcNow.UtcTicks));
                db.Execute("COMMIT");
            }
            catch
            {
                db.Execute("ROLLBACK");
                throw;
            }

            current = version;
        }

        return current;
    }

    /// <summary>
    /// Copies committed WAL frames into the database file from a connection of its own, so no commit pays for a
    /// checkpoint. First PASSIVE, which copies without blocking anyone; then RESTART, which has almost nothing left
    /// to copy and only waits briefly for readers to reach the newest snapshot, so that the next commit starts the
    /// log over. PASSIVE alone never rewinds the log while readers always hold a snapshot: under load it grew by
    /// hundreds of MB in seconds. RESTART alone blocks commits for the whole copy and sync.
    /// </summary>
    private async Task CheckpointLoopAsync()
    {
        using var lease = Open(writer: false, checkpointer: true);
        lease.Execute($"PRAGMA busy_timeout = {CheckpointBusyMilliseconds}");
        using var timer = new PeriodicTimer(CheckpointInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token))
            {
                try
                {
                    lease.Scalar("PRAGMA wal_checkpoint(PASSIVE)");
                    lease.Scalar("PRAGMA wal_checkpoint(RESTART)");
                }
                catch (SqliteException error)
                {
                    KeywardLog.CheckpointFailed(_logger, error.SqliteErrorCode);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Copies the WAL into the database file and truncates it; true when it completed.</summary>
    private static bool Checkpoint(SqliteConnectionLease db)
    {
        using var reader = db.Query("PRAGMA wal_checkpoint(TRUNCATE)");
        return reader.Read() && reader.GetInt32(0) == 0;
    }

    public ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return ValueTask.CompletedTask;
        }

        _disposed = true;
        _stopping.Cancel();
        _checkpointer?.Wait(TimeSpan.FromSeconds(5));
        while (_readers.TryTake(out var lease))
        {
            lease.Dispose();
        }

        if (_writer is { } writer)
        {
            // Leave a compact file behind: everything checkpointed, the WAL emptied.
            Checkpoint(writer);
            writer.Dispose();
        }

        _writerGate.Dispose();
        _stopping.Dispose();
        ReleaseLock();
        return ValueTask.CompletedTask;
    }
}
