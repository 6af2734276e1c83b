using Keyward.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Keyward.Tests.Common;

/// <summary>Direct access to a store's files, the way someone with the disk but not the keys would have it.</summary>
public static class RawDatabase
{
    public static SqliteConnection Open(string dataDirectory)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(dataDirectory, SqliteStore.FileName),
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
        }.ToString());
        connection.Open();
        using var busy = connection.CreateCommand();
        busy.CommandText = "PRAGMA busy_timeout = 10000";
        busy.ExecuteNonQuery();
        return connection;
    }

    public static int Execute(string dataDirectory, string sql, params (string Name, object? Value)[] parameters)
    {
        using var connection = Open(dataDirectory);
        using var command = Command(connection, sql, parameters);
        return command.ExecuteNonQuery();
    }

    public static object? Scalar(string dataDirectory, string sql, params (string Name, object? Value)[] parameters)
    {
        using var connection = Open(dataDirectory);
        using var command = Command(connection, sql, parameters);
        return command.ExecuteScalar();
    }

    public static List<object?[]> Rows(string dataDirectory, string sql, params (string Name, object? Value)[] parameters)
    {
        using var connection = Open(dataDirectory);
        using var command = Command(connection, sql, parameters);
        using var reader = command.ExecuteReader();
        var rows = new List<object?[]>();
        while (reader.Read())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }

    /// <summary>Every file of the data directory (database, WAL, shared memory) that contains <paramref name="needle"/>.</summary>
    public static IReadOnlyList<string> FilesContaining(string dataDirectory, ReadOnlySpan<byte> needle)
    {
        var hits = new List<string>();
        foreach (var file in Directory.GetFiles(dataDirectory))
        {
            if (IsEmptyLockFile(file))
            {
                // The directory lock holds no data (and cannot be opened while the store holds it).
                continue;
            }

            byte[] bytes;
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                bytes = new byte[stream.Length];
                stream.ReadExactly(bytes);
            }

            if (bytes.AsSpan().IndexOf(needle) >= 0)
            {
                hits.Add(Path.GetFileName(file));
            }
        }

        return hits;
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql, (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    /// <summary>The store's directory lock, checked to be empty without opening it (the store holds it exclusively).</summary>
    public static bool IsEmptyLockFile(string file) =>
        Path.GetFileName(file) == SqliteStore.LockFileName && new FileInfo(file).Length == 0;
}
