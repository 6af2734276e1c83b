using Npgsql;

namespace Keyward.Storage.Postgres;

/// <summary>
/// One session's connection and transaction, with the few ways the stores talk to it. Every value travels as a
/// parameter (<c>@name</c> in the SQL); nothing is ever spliced into SQL text. Used by one session at a time.
/// </summary>
/// <remarks>
/// A session without a transaction (<paramref name="transaction"/> null) is a single-statement read: its one statement
/// runs in PostgreSQL's implicit transaction, which is one consistent snapshot by itself. A second statement in it
/// would see a different snapshot, so it is refused (<see cref="InvalidOperationException"/>): a caller whose reads
/// must agree opens a snapshot session instead.
/// </remarks>
internal sealed class PostgresDb(NpgsqlConnection connection, NpgsqlTransaction? transaction, bool write)
{
    public NpgsqlConnection Connection { get; } = connection;

    /// <summary>The session's transaction; null for a single-statement read.</summary>
    public NpgsqlTransaction? Transaction { get; } = transaction;

    private int _unannounced;
    private bool _statementRan;

    /// <summary>A write session: reads that precede a change lock their rows (<c>FOR UPDATE</c>).</summary>
    public bool Write { get; } = write;

    /// <summary>
    /// Whether this write session ran a statement that changes what other nodes cache or stream (anything but a
    /// <c>SELECT</c>, outside <see cref="UnannouncedAsync"/>): the session then notifies them as it commits.
    /// </summary>
    public bool Changed { get; private set; }

    /// <summary>
    /// Runs statements other nodes need not hear of: the audit trail, which no node caches (every request appends to
    /// it; announcing those would make every other node drop its caches on every request).
    /// </summary>
    public async Task UnannouncedAsync(Func<Task> work)
    {
        _unannounced++;
        try
        {
            await work();
        }
        finally
        {
            _unannounced--;
        }
    }

    /// <summary>What this session's statements change for node caches.</summary>
    public Keyward.Core.Storage.StoreChanges Changes { get; private set; }

    public NpgsqlCommand Command(string sql, (string Name, object? Value)[] parameters)
    {
        StartingStatement();
        if (Write)
        {
            Changes |= Keyward.Core.Storage.StoreStatements.Changes(sql);
        }

        if (Write && _unannounced == 0 && !sql.AsSpan().TrimStart().StartsWith("SELECT", StringComparison.OrdinalIgnoreCase))
        {
            Changed = true;
        }

        var command = new NpgsqlCommand(sql, Connection, Transaction);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter(name, value ?? DBNull.Value));
        }

        return command;
    }

    /// <summary>Notes a statement about to run; refuses a second one in a single-statement session.</summary>
    public void StartingStatement()
    {
        if (Transaction is null && _statementRan)
        {
            throw new InvalidOperationException(
                "A single-statement read session ran a second statement; reads that must agree need a snapshot session (IKeywardStore.ReadAsync).");
        }

        _statementRan = true;
    }

    public async Task<int> ExecuteAsync(string sql, (string Name, object? Value)[] parameters, CancellationToken cancellationToken)
    {
        await using var command = Command(sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<object?> ScalarAsync(string sql, (string Name, object? Value)[] parameters, CancellationToken cancellationToken)
    {
        await using var command = Command(sql, parameters);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is DBNull ? null : value;
    }

    /// <summary>Runs a query and maps every row; the reader is closed before this returns.</summary>
    public async Task<List<T>> ListAsync<T>(
        string sql, (string Name, object? Value)[] parameters, Func<NpgsqlDataReader, T> map, CancellationToken cancellationToken)
    {
        await using var command = Command(sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var list = new List<T>();
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(map(reader));
        }

        return list;
    }

    /// <summary>The first row mapped, or the default when there is none.</summary>
    public async Task<T?> FirstOrDefaultAsync<T>(
        string sql, (string Name, object? Value)[] parameters, Func<NpgsqlDataReader, T> map, CancellationToken cancellationToken)
    {
        await using var command = Command(sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? map(reader) : default;
    }
}
