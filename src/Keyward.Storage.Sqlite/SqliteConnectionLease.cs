using Microsoft.Data.Sqlite;

namespace Keyward.Storage.Sqlite;

/// <summary>
/// One open connection with its prepared commands cached by SQL text, so the hot path never re-parses SQL.
/// Owned by the store's pool (readers) or by the store itself (the writer); used by one session at a time.
/// </summary>
internal sealed class SqliteConnectionLease : IDisposable
{
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

    public SqliteConnectionLease(SqliteConnection connection)
    {
        Connection = connection;
    }

    public SqliteConnection Connection { get; }

    /// <summary>The cached command for <paramref name="sql"/>, parameters cleared.</summary>
    public SqliteCommand Command(string sql)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = Connection.CreateCommand();
            command.CommandText = sql;
            _commands[sql] = command;
        }

        command.Parameters.Clear();
        return command;
    }

    public int Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        var command = Command(sql);
        Bind(command, parameters);
        return command.ExecuteNonQuery();
    }

    public object? Scalar(string sql, params (string Name, object? Value)[] parameters)
    {
        var command = Command(sql);
        Bind(command, parameters);
        return command.ExecuteScalar();
    }

    public SqliteDataReader Query(string sql, params (string Name, object? Value)[] parameters)
    {
        var command = Command(sql);
        Bind(command, parameters);
        return command.ExecuteReader();
    }

    private static void Bind(SqliteCommand command, (string Name, object? Value)[] parameters)
    {
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
    }

    public void Dispose()
    {
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }

        Connection.Dispose();
    }
}
