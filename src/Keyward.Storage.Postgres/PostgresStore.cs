using Keyward.Core.Diagnostics;
using Keyward.Core.Secrets;
using Keyward.Core.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Keyward.Storage.Postgres;

/// <summary>
/// The shared store: one PostgreSQL database that several Keyward nodes may use at once. Sessions take pooled
/// connections from one <see cref="NpgsqlDataSource"/>. A write session is one <c>READ COMMITTED</c> transaction whose
/// stores take the row locks that keep writers from different nodes correct (the audit chain head <c>FOR UPDATE</c>,
/// event ids from a locked counter row, rotation claims <c>FOR UPDATE SKIP LOCKED</c>, conditional updates for every
/// check-and-set); a read session is a <c>READ ONLY</c> <c>REPEATABLE READ</c> transaction (one consistent snapshot).
/// Commits are durable when they return: <c>synchronous_commit</c> is left on (the server default). Migrations run at
/// <see cref="OpenAsync"/>, each in its own transaction under an advisory lock. See docs/designs/0007-postgres-store.md.
/// </summary>
public sealed class PostgresStore : ISharedStore
{
    /// <summary>The notification channel: each commit that changed what nodes cache or stream names its node here.</summary>
    public const string Channel = "keyward_changes";

    private static readonly TimeSpan MinimumReconnectDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaximumReconnectDelay = TimeSpan.FromSeconds(5);

    /// <summary>The tables that held key material (wrapped tenant keys, secret ciphertexts): vacuumed after a purge.</summary>
    private const string PurgeVacuum = "VACUUM tenant_keys, secret_versions";

    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlDataSource _readSource;
    private readonly PostgresSecretReads _secretReads;
    private readonly ILogger _logger;
    private readonly string _target;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _listener;
    private bool _disposed;

    private PostgresStore(NpgsqlDataSource dataSource, NpgsqlDataSource readSource, string target, ILogger logger)
    {
        _dataSource = dataSource;
        _readSource = readSource;
        _secretReads = new PostgresSecretReads(readSource);
        _target = target;
        _logger = logger;
        NodeId = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
    }

    /// <inheritdoc/>
    public event Action? ChangedElsewhere;

    /// <summary>This store object's name in notifications: random per process (a restarted node is a new node).</summary>
    public string NodeId { get; }

    /// <summary>Whether the listener is connected and listening (notifications from other nodes arrive).</summary>
    public bool Listening { get; private set; }

    /// <summary>
    /// A store on the database <paramref name="connectionString"/> names (an Npgsql connection string, e.g.
    /// <c>Host=db;Port=5432;Database=keyward;Username=keyward;Password=…</c>). Nothing connects until
    /// <see cref="OpenAsync"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string is malformed or names no database. The message never
    /// repeats the connection string (it may hold a password).</exception>
    public static PostgresStore Create(string connectionString, ILogger? logger = null)
    {
        var builder = Validate(connectionString);

        // A password is only needed to open connections; nothing may read it back from an open connection.
        builder.PersistSecurityInfo = false;

        // The request path runs a handful of statement shapes thousands of times a second: prepare them once per
        // connection (unless the operator chose otherwise). Sessions leave no session state behind (every setting is
        // transaction-scoped, the listener keeps its own connection), so a returned connection needs no DISCARD ALL —
        // which would also throw those prepared statements away.
        var given = GivenKeys(connectionString);
        if (!given.Contains("maxautoprepare") && !given.Contains("autoprepareminusages"))
        {
            builder.MaxAutoPrepare = 64;
            builder.AutoPrepareMinUsages = 2;
        }

        if (!given.Contains("noresetonclose"))
        {
            builder.NoResetOnClose = true;
        }

        var target = new NpgsqlConnectionStringBuilder(builder.ConnectionString) { Password = null, Passfile = null };
        var dataSource = NpgsqlDataSource.Create(builder);

        // Read sessions come from their own pool whose connections start every transaction read-only: the guard costs
        // no extra round trip per session (a read is then BEGIN + query, and COMMIT).
        var reader = new NpgsqlConnectionStringBuilder(builder.ConnectionString)
        {
            Options = ((builder.Options ?? "") + " -c default_transaction_read_only=on").Trim(),
        };
        var readSource = NpgsqlDataSource.Create(reader);
        return new PostgresStore(dataSource, readSource, target.ConnectionString, logger ?? NullLogger.Instance);
    }

    /// <summary>Parses and checks <paramref name="connectionString"/> without connecting or creating anything.</summary>
    /// <exception cref="ArgumentException">Malformed, or names no database; the message never repeats the string.</exception>
    public static NpgsqlConnectionStringBuilder Validate(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception error) when (error is ArgumentException or FormatException or InvalidCastException or OverflowException)
        {
            // The parser's own message may quote a value, the password included: only its type is kept.
            throw new ArgumentException($"The PostgreSQL connection string is malformed ({error.GetType().Name}).", nameof(connectionString));
        }

        if (string.IsNullOrWhiteSpace(builder.Database))
        {
            throw new ArgumentException(
                "The PostgreSQL connection string names no database: add Database=<name> (Keyward never uses the server's default database).",
                nameof(connectionString));
        }

        return builder;
    }

    /// <summary>The keys the operator wrote, lower-case without spaces (Npgsql accepts "Max Auto Prepare" and "MaxAutoPrepare").</summary>
    private static HashSet<string> GivenKeys(string connectionString) =>
        new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys
            .Cast<string>()
            .Select(k => k.Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant())
            .ToHashSet(StringComparer.Ordinal);

    /// <inheritdoc/>
    public string Engine => "postgres";

    /// <summary>The connection string without its password (for logs and errors).</summary>
    public string Target => _target;

    /// <summary>Connects and applies pending migrations (see <see cref="PostgresMigrations"/>); logs the target without its password.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        KeywardLog.StoreTarget(_logger, Engine, _target);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var version = await MigrateAsync(connection, cancellationToken);
        KeywardLog.StoreOpened(_logger, Engine, version);
        _listener ??= Task.Run(ListenAsync);
    }

    /// <summary>A <c>READ ONLY</c>, <c>REPEATABLE READ</c> transaction on a pooled connection: one snapshot for the whole session.</summary>
    public async ValueTask<IStoreSession> ReadAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return await PostgresSession.BeginAsync(_readSource, PostgresSessionKind.Snapshot, NodeId, cancellationToken);
    }

    /// <summary>
    /// One read-only statement outside any explicit transaction, on a connection of the read pool: a single statement sees
    /// one snapshot by itself, and the session saves the <c>BEGIN</c> and the <c>ROLLBACK</c> round trip a snapshot
    /// session costs. A second statement in it is refused.
    /// </summary>
    public async ValueTask<IStoreSession> ReadOneStatementAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return await PostgresSession.BeginAsync(_readSource, PostgresSessionKind.Statement, NodeId, cancellationToken);
    }

    /// <summary>
    /// Secret reads of concurrent requests go out together, one statement for all the reads waiting when a reader is
    /// free (<see cref="PostgresSecretReads"/>); each read's statement starts after the read was asked for.
    /// </summary>
    public async Task<(SecretMetadata Metadata, SecretVersion? Version)?> ReadSecretAsync(
        string tenantUid, string path, long? version, SecretStage stage, CancellationToken cancellationToken = default) =>
        (await ReadSecretWithGenerationAsync(tenantUid, path, version, stage, cancellationToken)).Row;

    public Task<((SecretMetadata Metadata, SecretVersion? Version)? Row, long Generation)> ReadSecretWithGenerationAsync(
        string tenantUid, string path, long? version, SecretStage stage, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _secretReads.ReadAsync(tenantUid, path, version, stage, cancellationToken);
    }

    /// <summary>A <c>READ COMMITTED</c> transaction on a pooled connection; rolled back unless committed.</summary>
    public async ValueTask<IWriteSession> WriteAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return await PostgresSession.BeginAsync(_dataSource, PostgresSessionKind.Write, NodeId, cancellationToken);
    }

    /// <summary>
    /// PostgreSQL has no <c>secure_delete</c>: a deleted row stays in its page until the space is reused. This runs
    /// <c>VACUUM</c> on the tables that held key material (wrapped tenant keys, secret ciphertexts), outside any
    /// transaction, so the dead tuples are pruned and their space freed for reuse now rather than whenever autovacuum
    /// comes by. It cannot reach every copy: the WAL (until its segments are recycled), WAL archives, replicas and base
    /// backups keep the old pages for as long as they are kept. What lingers there is only ever ciphertext — secret
    /// versions sealed under tenant keys, tenant keys wrapped under the root key — and a shredded tenant's key is
    /// destroyed, so its ciphertexts cannot be opened again from any copy.
    /// </summary>
    public async Task PurgeDeletedDataAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var vacuum = new NpgsqlCommand(PurgeVacuum, connection);
        await vacuum.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Applies pending migrations, each in its own transaction that first takes <c>pg_advisory_xact_lock</c>: when two
    /// nodes start at once on an empty database one migrates while the other waits, then finds the version recorded
    /// and skips it. The lock is released with each transaction, never held across them.
    /// </summary>
    private static async Task<int> MigrateAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var current = 0;
        foreach (var (version, sql) in PostgresMigrations.All)
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            current = await LockAndReadVersionAsync(connection, transaction, cancellationToken);
            if (current > PostgresMigrations.Latest)
            {
                throw new InvalidOperationException(
                    $"The store's schema is version {current}, newer than this binary understands ({PostgresMigrations.Latest}). Upgrade Keyward.");
            }

            if (version <= current)
            {
                await transaction.RollbackAsync(cancellationToken);
                continue;
            }

            await using (var migrate = new NpgsqlCommand(sql, connection, transaction))
            {
                await migrate.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var record = new NpgsqlCommand("INSERT INTO schema_migrations (version, applied_at) VALUES (@v, @at)", connection, transaction))
            {
                record.Parameters.AddWithValue("v", version);
                record.Parameters.AddWithValue("at", DateTimeOffset.UtcNow.UtcTicks);
                await record.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            current = version;
        }

        if (PostgresMigrations.All.Count == 0)
        {
            return current;
        }

        // Nothing was pending (or the last one was applied): report what the database holds now.
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            current = await LockAndReadVersionAsync(connection, transaction, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        if (current > PostgresMigrations.Latest)
        {
            throw new InvalidOperationException(
                $"The store's schema is version {current}, newer than this binary understands ({PostgresMigrations.Latest}). Upgrade Keyward.");
        }

        return current;
    }

    private static async Task<int> LockAndReadVersionAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key)", connection, transaction))
        {
            lockCommand.Parameters.AddWithValue("key", PostgresMigrations.LockKey);
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var create = new NpgsqlCommand(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)", connection, transaction))
        {
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var read = new NpgsqlCommand("SELECT COALESCE(max(version), 0) FROM schema_migrations", connection, transaction);
        return (int)(await read.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// A session-level advisory lock named after <paramref name="role"/>, taken with <c>pg_try_advisory_lock</c> on a
    /// connection of its own that keeps it: PostgreSQL releases it when that connection closes (disposal, or the node's
    /// death), and another node's next attempt then wins.
    /// </summary>
    public async Task<IStoreLeadership?> TryLeadAsync(string role, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(role);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var take = new NpgsqlCommand("SELECT pg_try_advisory_lock(@key)", connection);
            take.Parameters.AddWithValue("key", LeadershipKey(role));
            if (await take.ExecuteScalarAsync(cancellationToken) is true)
            {
                return new Leadership(connection);
            }
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }

        await connection.DisposeAsync();
        return null;
    }

    /// <summary>A stable 64-bit advisory-lock key per role (FNV-1a of "keyward:" + role).</summary>
    private static long LeadershipKey(string role)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes("keyward:" + role))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return unchecked((long)hash);
    }

    private sealed class Leadership(NpgsqlConnection connection) : IStoreLeadership
    {
        public async Task<bool> StillHeldAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                await using var ping = new NpgsqlCommand("SELECT 1", connection);
                await ping.ExecuteScalarAsync(cancellationToken);
                return true;
            }
            catch (Exception error) when (error is NpgsqlException or InvalidOperationException)
            {
                // The connection is gone, and the lock with it.
                return false;
            }
        }

        /// <summary>Closes the connection for good (not back to the pool), which releases the lock.</summary>
        public async ValueTask DisposeAsync()
        {
            try
            {
                await using var release = new NpgsqlCommand("SELECT pg_advisory_unlock_all()", connection);
                await release.ExecuteNonQueryAsync();
            }
            catch (Exception error) when (error is NpgsqlException or InvalidOperationException)
            {
                // Already closed: the lock went with it.
            }

            await connection.DisposeAsync();
        }
    }

    /// <summary>
    /// Follows <see cref="Channel"/> on a connection of its own for as long as the store is open: a notification from
    /// another node raises <see cref="ChangedElsewhere"/>. When the connection breaks, it raises the event too (what was
    /// committed meanwhile is unknown), reconnects with backoff, and raises it again once listening: no change can hide
    /// in the gap. (The caches also expire on their own; see NodeCoherence.)
    /// </summary>
    private async Task ListenAsync()
    {
        var delay = MinimumReconnectDelay;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(_stopping.Token);
                connection.Notification += (_, e) =>
                {
                    if (e.Payload != NodeId)
                    {
                        ChangedElsewhere?.Invoke();
                    }
                };
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(_stopping.Token);
                }

                Listening = true;
                ChangedElsewhere?.Invoke();
                delay = MinimumReconnectDelay;
                while (true)
                {
                    await connection.WaitAsync(_stopping.Token);
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                break;
            }
#pragma warning disable CA1031 // Any failure of the listening connection is retried; none may end the loop.
            catch (Exception error)
#pragma warning restore CA1031
            {
                if (Listening)
                {
                    KeywardLog.StoreNotificationsLost(_logger, error.GetType().Name);
                }

                Listening = false;
                ChangedElsewhere?.Invoke();
            }

            try
            {
                await Task.Delay(delay, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaximumReconnectDelay.Ticks));
        }

        Listening = false;
    }

    /// <summary>Closes the pool's connections. Sessions still open keep theirs until they are disposed.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _stopping.CancelAsync();
        if (_listener is not null)
        {
            await _listener;
        }

        _stopping.Dispose();
        await _secretReads.DisposeAsync();
        await _readSource.DisposeAsync();
        await _dataSource.DisposeAsync();
    }
}
