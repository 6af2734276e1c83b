using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Storage;
using Keyward.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Npgsql;
using NpgsqlTypes;

namespace Keyward.Cli.Migration;

/// <summary>Why a migration cannot start (nothing was written). <see cref="Conflict"/>: the target already holds data.</summary>
internal sealed class MigrationRefusedException : Exception
{
    public MigrationRefusedException(string message, bool conflict = false)
        : base(message)
    {
        Conflict = conflict;
    }

    public MigrationRefusedException()
    {
    }

    public MigrationRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public bool Conflict { get; }
}

/// <summary>One table's verification: row counts and the SHA-256 over its rows (primary-key order) on both sides.</summary>
internal sealed record TableCheck(string Table, long SourceRows, long TargetRows, string SourceHash, string TargetHash)
{
    public bool Ok => SourceRows == TargetRows && string.Equals(SourceHash, TargetHash, StringComparison.Ordinal);
}

/// <summary>One table's column names (SQLite's order) and its primary key, with the PostgreSQL type of each column.</summary>
internal sealed record TableShape(string Table, IReadOnlyList<string> Columns, IReadOnlyList<string> Key, IReadOnlyList<string> TargetTypes);

/// <summary>
/// Copies an embedded SQLite store (a data directory's <c>keyward.db</c>) into an empty PostgreSQL database and
/// verifies the copy. Both stores keep the same tables with the same columns (see the two migration files): every
/// value is copied as it is stored — ticks, ciphertexts, wrapped keys, token hashes, JSON text — so nothing is
/// decrypted and no key is needed; the same unseal key shares unseal the copy. Nothing here ever prints a value.
/// </summary>
/// <remarks>
/// The source is held under SQLite's write lock (<c>BEGIN IMMEDIATE</c>) from the first read to the end of the
/// verification: one consistent snapshot, and no server can write meanwhile. The target is written in ONE transaction
/// (all or nothing) that first locks every Keyward table and checks they are empty.
/// </remarks>
internal static class SqliteToPostgres
{
    /// <summary>The SQLite schema version this copy understands (the PostgreSQL schema's version 1 mirrors its version 5, version 2 its version 6, version 3 its version 7, version 4 its version 8, version 6 its version 9 — the audit head's MAC —, version 7 its version 10, version 8 its version 11; PostgreSQL's 5 has no SQLite counterpart).</summary>
    public const int SourceSchemaVersion = 11;

    /// <summary>Rows per progress step (and per COPY batch).</summary>
    public const int BatchSize = 1000;

    /// <summary>Every Keyward table, in dependency order (a table after those its foreign keys name).</summary>
    public static readonly IReadOnlyList<string> Tables =
    [
        "seal_config", "tenants", "tenant_keys", "tokens", "roles", "secrets", "secret_versions", "audit_log", "audit_head",
        "audit_checkpoints", "leases", "events", "tenant_settings", "jwt_issuers", "engine_configs",
        "wraps", "gateway_budgets", "derived_revocations",
    ];

    /// <summary>PostgreSQL's <c>audit_head</c> starts with a genesis row (seq 0, no hash): that row is not data.</summary>
    private const string GenesisHead = "seq = 0 AND hash IS NULL";

    /// <summary>Takes the data directory's lock (<see cref="SqliteStore.LockDirectory"/>) for the whole migration.</summary>
    public static FileStream LockSource(string dataDirectory)
    {
        if (!File.Exists(Path.Combine(dataDirectory, SqliteStore.FileName)))
        {
            throw new MigrationRefusedException($"No Keyward store in '{dataDirectory}' ({SqliteStore.FileName} not found).");
        }

        try
        {
            return SqliteStore.LockDirectory(dataDirectory);
        }
        catch (StoreInUseException)
        {
            throw new MigrationRefusedException(
                $"The store in '{dataDirectory}' is in use by a running Keyward server ({SqliteStore.LockFileName} is locked): stop it before migrating.",
                conflict: true);
        }
    }

    /// <summary>
    /// Opens <c>DIR/keyward.db</c> (never creating it), checks it is a Keyward store at <see cref="SourceSchemaVersion"/>,
    /// and, with <paramref name="exclusive"/>, takes SQLite's write lock for as long as the connection is open.
    /// </summary>
    public static SqliteConnection OpenSource(string dataDirectory, bool exclusive)
    {
        var path = Path.Combine(dataDirectory, SqliteStore.FileName);
        if (!File.Exists(path))
        {
            throw new MigrationRefusedException($"No Keyward store in '{dataDirectory}' ({SqliteStore.FileName} not found).");
        }

        var builder = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWrite, Pooling = false };
        var connection = new SqliteConnection(builder.ToString());
        try
        {
            connection.Open();
            Execute(connection, "PRAGMA busy_timeout = 5000");
            if (exclusive)
            {
                try
                {
                    Execute(connection, "BEGIN IMMEDIATE");
                }
                catch (SqliteException busy) when (busy.SqliteErrorCode is 5 or 6)
                {
                    throw new MigrationRefusedException(
                        $"The store in '{dataDirectory}' is in use (SQLite's write lock is held): stop the server before migrating.");
                }
            }
            else
            {
                Execute(connection, "BEGIN");
            }

            CheckSourceSchema(connection, dataDirectory);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The column names and primary key of every table, from the SQLite schema, matched against the target's.</summary>
    public static async Task<IReadOnlyList<TableShape>> ShapesAsync(SqliteConnection source, NpgsqlConnection target, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        var shapes = new List<TableShape>();
        foreach (var table in Tables)
        {
            var columns = new List<(string Name, int Pk)>();
            using (var info = source.CreateCommand())
            {
                info.CommandText = $"PRAGMA table_info(\"{table}\")";
                using var reader = info.ExecuteReader();
                while (reader.Read())
                {
                    columns.Add((reader.GetString(1), reader.GetInt32(5)));
                }
            }

            var targetTypes = new Dictionary<string, string>(StringComparer.Ordinal);
            await using (var command = new NpgsqlCommand(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = @t", target, transaction))
            {
                command.Parameters.AddWithValue("t", table);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    targetTypes[reader.GetString(0)] = reader.GetString(1);
                }
            }

            var missing = columns.Select(c => c.Name).Where(c => !targetTypes.ContainsKey(c)).ToList();
            var extra = targetTypes.Keys.Where(c => columns.All(s => s.Name != c)).ToList();
            if (columns.Count == 0 || missing.Count > 0 || extra.Count > 0)
            {
                throw new MigrationRefusedException(
                    $"The table {table} differs between the stores (missing in PostgreSQL: {string.Join(", ", missing)}; only in PostgreSQL: {string.Join(", ", extra)}). " +
                    "This binary cannot copy it.");
            }

            var key = columns.Where(c => c.Pk > 0).OrderBy(c => c.Pk).Select(c => c.Name).ToList();
            shapes.Add(new TableShape(table, columns.Select(c => c.Name).ToList(), key.Count > 0 ? key : columns.Select(c => c.Name).ToList(),
                columns.Select(c => targetTypes[c.Name]).ToList()));
        }

        return shapes;
    }

    /// <summary>
    /// Locks every Keyward table in the target (no writer can slip in), and refuses unless all are empty: any row in
    /// any table (other than the genesis audit head and a zero event counter, which every fresh database has).
    /// </summary>
    public static async Task EnsureEmptyAsync(NpgsqlConnection target, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using (var lockTables = new NpgsqlCommand($"LOCK TABLE {string.Join(", ", Tables)}, event_counter IN EXCLUSIVE MODE", target, transaction))
        {
            await lockTables.ExecuteNonQueryAsync(cancellationToken);
        }

        var holding = new List<string>();
        foreach (var table in Tables)
        {
            var where = table == "audit_head" ? $" WHERE NOT ({GenesisHead})" : "";
            await using var exists = new NpgsqlCommand($"SELECT EXISTS (SELECT 1 FROM {table}{where})", target, transaction);
            if ((bool)(await exists.ExecuteScalarAsync(cancellationToken))!)
            {
                holding.Add(table);
            }
        }

        await using (var counter = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM event_counter WHERE last_id <> 0)", target, transaction))
        {
            if ((bool)(await counter.ExecuteScalarAsync(cancellationToken))!)
            {
                holding.Add("event_counter");
            }
        }

        if (holding.Count > 0)
        {
            throw new MigrationRefusedException(
                $"The target database already holds Keyward data ({string.Join(", ", holding)}): migrate only into an empty database. Nothing was written.",
                conflict: true);
        }
    }

    /// <summary>
    /// Copies every table (binary COPY, columns by name) inside <paramref name="transaction"/>, reporting
    /// <c>(table, copied, total)</c> every <see cref="BatchSize"/> rows and at each table's end; then sets the event
    /// counter. The caller commits.
    /// </summary>
    public static async Task<IReadOnlyList<(string Table, long Rows)>> CopyAsync(
        SqliteConnection source, NpgsqlConnection target, NpgsqlTransaction transaction, IReadOnlyList<TableShape> shapes,
        Action<string, long, long> progress, CancellationToken cancellationToken)
    {
        var copied = new List<(string, long)>();
        foreach (var shape in shapes)
        {
            var total = Count(source, shape.Table);
            if (shape.Table == "audit_head" && total > 0)
            {
                // The source's head replaces the target's genesis row.
                await using var clear = new NpgsqlCommand("DELETE FROM audit_head", target, transaction);
                await clear.ExecuteNonQueryAsync(cancellationToken);
            }

            var types = shape.TargetTypes.Select(DbType).ToArray();
            var columns = string.Join(", ", shape.Columns);
            long rows = 0;
            using (var read = source.CreateCommand())
            {
                read.CommandText = $"SELECT {Quoted(shape.Columns)} FROM \"{shape.Table}\" ORDER BY {Quoted(shape.Key)}";
                using var reader = read.ExecuteReader();
                await using var import = await target.BeginBinaryImportAsync($"COPY {shape.Table} ({columns}) FROM STDIN (FORMAT BINARY)", cancellationToken);
                while (reader.Read())
                {
                    await import.StartRowAsync(cancellationToken);
                    for (var i = 0; i < types.Length; i++)
                    {
                        if (reader.IsDBNull(i))
                        {
                            await import.WriteNullAsync(cancellationToken);
                        }
                        else
                        {
                            await WriteAsync(import, reader.GetValue(i), types[i], shape.Table, shape.Columns[i], cancellationToken);
                        }
                    }

                    rows++;
                    if (rows % BatchSize == 0)
                    {
                        progress(shape.Table, rows, total);
                    }
                }

                await import.CompleteAsync(cancellationToken);
            }

            progress(shape.Table, rows, total);
            copied.Add((shape.Table, rows));
        }

        await using (var counter = new NpgsqlCommand("UPDATE event_counter SET last_id = @last WHERE id = 1", target, transaction))
        {
            counter.Parameters.AddWithValue("last", LastEventId(source));
            await counter.ExecuteNonQueryAsync(cancellationToken);
        }

        return copied;
    }

    /// <summary>
    /// The largest event id ever assigned: SQLite's AUTOINCREMENT remembers it in <c>sqlite_sequence</c> even after
    /// the newest events were pruned, like PostgreSQL's <c>event_counter</c>; never less than the largest id present.
    /// </summary>
    public static long LastEventId(SqliteConnection source)
    {
        using var command = source.CreateCommand();
        command.CommandText =
            "SELECT MAX(COALESCE((SELECT MAX(id) FROM events), 0), COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0))";
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>
    /// Verifies the target against the source, table by table: row count and a SHA-256 over every row in primary-key
    /// order, each value normalized the same way on both sides (integers and booleans as decimal, text as UTF-8, blobs
    /// as hex, NULL distinct from every value). The event counter is checked as a pseudo-table of one row.
    /// </summary>
    public static async Task<IReadOnlyList<TableCheck>> VerifyAsync(SqliteConnection source, NpgsqlConnection target, CancellationToken cancellationToken)
    {
        await using var transaction = await target.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        var checks = await VerifyAsync(source, target, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return checks;
    }

    /// <summary>The same checks inside <paramref name="transaction"/> (the copy's own, before it commits).</summary>
    public static async Task<IReadOnlyList<TableCheck>> VerifyAsync(
        SqliteConnection source, NpgsqlConnection target, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var shapes = await ShapesAsync(source, target, transaction, cancellationToken);
        var checks = new List<TableCheck>();
        foreach (var shape in shapes)
        {
            var (sourceRows, sourceHash) = HashSource(source, shape);
            var where = shape.Table == "audit_head" && sourceRows == 0 ? $" WHERE NOT ({GenesisHead})" : "";
            await using var command = new NpgsqlCommand(
                $"SELECT {string.Join(", ", shape.Columns)} FROM {shape.Table}{where} ORDER BY {string.Join(", ", shape.Key)}", target, transaction);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var hash = new RowHash();
            while (await reader.ReadAsync(cancellationToken))
            {
                hash.Row(reader);
            }

            checks.Add(new TableCheck(shape.Table, sourceRows, hash.Rows, sourceHash, hash.Finish()));
        }

        var expected = LastEventId(source);
        await using (var counter = new NpgsqlCommand("SELECT last_id FROM event_counter WHERE id = 1", target, transaction))
        {
            var actual = await counter.ExecuteScalarAsync(cancellationToken) as long?;
            var text = expected.ToString(CultureInfo.InvariantCulture);
            checks.Add(new TableCheck("event_counter", 1, actual is null ? 0 : 1, text, actual?.ToString(CultureInfo.InvariantCulture) ?? "-"));
        }

        return checks;
    }

    /// <summary>For tests and re-checks: verifies <paramref name="connectionString"/>'s database against a stopped data directory.</summary>
    public static async Task<IReadOnlyList<TableCheck>> VerifyAsync(string dataDirectory, string connectionString, CancellationToken cancellationToken = default)
    {
        using var source = OpenSource(dataDirectory, exclusive: false);
        await using var target = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await target.OpenAsync(cancellationToken);
        return await VerifyAsync(source, target, cancellationToken);
    }

    private static (long Rows, string Hash) HashSource(SqliteConnection source, TableShape shape)
    {
        using var command = source.CreateCommand();
        command.CommandText = $"SELECT {Quoted(shape.Columns)} FROM \"{shape.Table}\" ORDER BY {Quoted(shape.Key)}";
        using var reader = command.ExecuteReader();
        var hash = new RowHash();
        while (reader.Read())
        {
            hash.Row(reader);
        }

        return (hash.Rows, hash.Finish());
    }

    private static void CheckSourceSchema(SqliteConnection connection, string dataDirectory)
    {
        using var tables = connection.CreateCommand();
        tables.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";
        var names = new HashSet<string>(StringComparer.Ordinal);
        using (var reader = tables.ExecuteReader())
        {
            while (reader.Read())
            {
                names.Add(reader.GetString(0));
            }
        }

        if (!names.Contains("schema_migrations"))
        {
            throw new MigrationRefusedException($"'{dataDirectory}' holds no Keyward store (no schema_migrations table).");
        }

        using var version = connection.CreateCommand();
        version.CommandText = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
        var current = (long)version.ExecuteScalar()!;
        if (current < SourceSchemaVersion)
        {
            throw new MigrationRefusedException(
                $"The store in '{dataDirectory}' has schema version {current}; migration needs version {SourceSchemaVersion}: " +
                "start the server once on this data directory to upgrade it, stop it, then migrate.");
        }

        if (current > SourceSchemaVersion)
        {
            throw new MigrationRefusedException(
                $"The store in '{dataDirectory}' has schema version {current}, newer than this binary can migrate ({SourceSchemaVersion}). Upgrade Keyward.");
        }

        var unknown = names.Where(n => n != "schema_migrations" && !Tables.Contains(n)).Order(StringComparer.Ordinal).ToList();
        var absent = Tables.Where(t => !names.Contains(t)).ToList();
        if (unknown.Count > 0 || absent.Count > 0)
        {
            throw new MigrationRefusedException(
                $"The store in '{dataDirectory}' has unexpected tables (unknown: {string.Join(", ", unknown)}; missing: {string.Join(", ", absent)}). This binary cannot copy it.");
        }

        using var seal = connection.CreateCommand();
        seal.CommandText = "SELECT COUNT(*) FROM seal_config";
        if ((long)seal.ExecuteScalar()! == 0)
        {
            throw new MigrationRefusedException($"The store in '{dataDirectory}' was never initialized: there is nothing to migrate.");
        }
    }

    private static long Count(SqliteConnection source, string table)
    {
        using var command = source.CreateCommand();
        command.CommandText = $"SELECT COUNT(*) FROM \"{table}\"";
        return (long)command.ExecuteScalar()!;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static string Quoted(IEnumerable<string> columns) => string.Join(", ", columns.Select(c => $"\"{c}\""));

    private static NpgsqlDbType DbType(string dataType) => dataType switch
    {
        "integer" => NpgsqlDbType.Integer,
        "bigint" => NpgsqlDbType.Bigint,
        "boolean" => NpgsqlDbType.Boolean,
        "text" => NpgsqlDbType.Text,
        "bytea" => NpgsqlDbType.Bytea,
        _ => throw new MigrationRefusedException($"A PostgreSQL column has the type {dataType}, which this binary cannot copy into."),
    };

    /// <summary>Writes one SQLite value as the target column's type; a value of the wrong kind stops the copy (rolled back).</summary>
    private static Task WriteAsync(NpgsqlBinaryImporter import, object value, NpgsqlDbType type, string table, string column, CancellationToken cancellationToken)
    {
        try
        {
            return type switch
            {
                NpgsqlDbType.Integer => import.WriteAsync(checked((int)(long)value), type, cancellationToken),
                NpgsqlDbType.Bigint => import.WriteAsync((long)value, type, cancellationToken),
                NpgsqlDbType.Boolean => import.WriteAsync((long)value != 0, type, cancellationToken),
                NpgsqlDbType.Text => import.WriteAsync((string)value, type, cancellationToken),
                _ => import.WriteAsync((byte[])value, type, cancellationToken),
            };
        }
        catch (Exception error) when (error is InvalidCastException or OverflowException)
        {
            // The value itself is never quoted: it may be secret material.
            throw new InvalidOperationException($"A value in {table}.{column} does not fit PostgreSQL's {type} column ({value.GetType().Name}).", error);
        }
    }

    /// <summary>SHA-256 over rows, each value tagged by kind so that NULL, 0, "" and an empty blob all differ.</summary>
    private sealed class RowHash
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public long Rows { get; private set; }

        public void Row(System.Data.Common.DbDataReader reader)
        {
            for (var i = 0; i < reader.FieldCount; i++)
            {
                Append(reader.IsDBNull(i) ? null : reader.GetValue(i));
            }

            _hash.AppendData("\n"u8);
            Rows++;
        }

        public string Finish()
        {
            var digest = Convert.ToHexStringLower(_hash.GetHashAndReset());
            _hash.Dispose();
            return digest;
        }

        private void Append(object? value)
        {
            var text = value switch
            {
                null => "N;",
                bool flag => flag ? "I1;" : "I0;",
                int number => "I" + number.ToString(CultureInfo.InvariantCulture) + ";",
                long number => "I" + number.ToString(CultureInfo.InvariantCulture) + ";",
                short number => "I" + number.ToString(CultureInfo.InvariantCulture) + ";",
                double real => "R" + real.ToString("R", CultureInfo.InvariantCulture) + ";",
                string s => "T" + Encoding.UTF8.GetByteCount(s).ToString(CultureInfo.InvariantCulture) + ":",
                byte[] bytes => "B" + Convert.ToHexStringLower(bytes) + ";",
                _ => throw new InvalidOperationException($"A stored value has an unexpected type ({value.GetType().Name})."),
            };
            _hash.AppendData(Encoding.UTF8.GetBytes(text));
            if (value is string textValue)
            {
                _hash.AppendData(Encoding.UTF8.GetBytes(textValue));
            }
        }
    }
}
