using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Keyward.Storage.Sqlite;

/// <summary>
/// One open connection with its prepared commands cached by SQL text, so the hot path never re-parses SQL.
/// Owned by the store's pool (readers) or by the store itself (the writer); used by one session at a time.
/// </summary>
internal sealed class SqliteConnectionLease : IDisposable
{
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);
    private readonly Dictionary<string, sqlite3_stmt> _statements = new(StringComparer.Ordinal);

    public SqliteConnectionLease(SqliteConnection connection)
    {
        Connection = connection;
    }

    public SqliteConnection Connection { get; }

    /// <summary>What the statements run since the last reset change for node caches (the writer's lease: reset per write session).</summary>
    public Keyward.Core.Storage.StoreChanges Changes { get; set; }

    /// <summary>The cached command for <paramref name="sql"/>, parameters cleared.</summary>
    public SqliteCommand Command(string sql)
    {
        Changes |= Keyward.Core.Storage.StoreStatements.Changes(sql);
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = Connection.CreateCommand();
            command.CommandText = sql;
            _commands[sql] = command;
        }

        command.Parameters.Clear();
        return command;
    }

    /// <summary>
    /// A statement prepared once on this connection for positional binding through SQLitePCLRaw, for the few
    /// statements hot enough that Microsoft.Data.Sqlite's per-execution parameter objects and by-name lookups show
    /// (the audit insert). Reset and cleared before it is handed out.
    /// </summary>
    public sqlite3_stmt Statement(string sql)
    {
        if (!_statements.TryGetValue(sql, out var statement))
        {
            Check(raw.sqlite3_prepare_v3(Connection.Handle, sql, raw.SQLITE_PREPARE_PERSISTENT, out statement, out _));
            _statements[sql] = statement;
        }

        raw.sqlite3_reset(statement);
        raw.sqlite3_clear_bindings(statement);
        return statement;
    }

    /// <summary>Turns a SQLite result code into the same exception Microsoft.Data.Sqlite would throw.</summary>
    public void Check(int resultCode)
    {
        if (resultCode is not (raw.SQLITE_OK or raw.SQLITE_DONE or raw.SQLITE_ROW))
        {
            SqliteException.ThrowExceptionForRC(resultCode, Connection.Handle);
        }
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

        foreach (var statement in _statements.Values)
        {
            statement.Dispose();
        }

        Connection.Dispose();
    }
}
