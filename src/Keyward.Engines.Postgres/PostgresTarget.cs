using System.Collections.Concurrent;
using Keyward.Core.Engines;
using Keyward.Core.Errors;
using Npgsql;

namespace Keyward.Engines.Postgres;

/// <summary>
/// The statements Keyward runs on a tenant's database, on pooled connections per connection version (a new root
/// password or URL is a new pool). Errors never carry the server's message or the statement (either may quote a
/// password): only which step failed and its SQLSTATE.
/// </summary>
internal sealed class PostgresTargets : IAsyncDisposable
{
    public const string ApplicationName = "keyward";

    private readonly EngineHosts _hosts;
    private readonly ConcurrentDictionary<string, (string Key, NpgsqlDataSource Source)> _sources = new(StringComparer.Ordinal);

    public PostgresTargets(EngineHosts hosts) => _hosts = hosts;

    /// <summary>An open connection logged in as the connection's user with <paramref name="password"/>.</summary>
    public async Task<NpgsqlConnection> OpenAsync(
        string tenantUid, string name, long version, PostgresConnectionSpec spec, string username, string password, CancellationToken cancellationToken)
    {
        var address = await _hosts.ResolveAsync(spec.Host, spec.Port, cancellationToken);
        var slot = $"{tenantUid}/{name}";
        var key = $"{version}/{address}/{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(password)), 0, 8)}";
        var source = _sources.AddOrUpdate(
            slot,
            _ => (key, NpgsqlDataSource.Create(spec.ConnectionString(address, username, password, ApplicationName))),
            (slotName, existing) =>
            {
                if (existing.Key == key)
                {
                    return existing;
                }

                _ = existing.Source.DisposeAsync().AsTask();
                return (key, NpgsqlDataSource.Create(spec.ConnectionString(address, username, password, ApplicationName)));
            }).Source;

        try
        {
            return await source.OpenConnectionAsync(cancellationToken);
        }
        catch (PostgresException refused) when (refused.SqlState is PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification)
        {
            throw new LoginRefusedException(name);
        }
        catch (PostgresException other)
        {
            throw KeywardErrors.EngineUnavailable(name, $"the server refused the connection (SQLSTATE {other.SqlState}).");
        }
        catch (NpgsqlException refused) when (IsCleartextRefusal(refused))
        {
            throw KeywardErrors.EngineUnavailable(name,
                "the server asked for the password in cleartext (pg_hba.conf method \"password\"), which Keyward never sends; have it use scram-sha-256 for Keyward's login.");
        }
        catch (Exception error) when (error is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            throw KeywardErrors.EngineUnavailable(name, "it could not be reached.");
        }
    }

    /// <summary>
    /// Npgsql's refusal of an authentication method <see cref="PostgresConnectionSpec.RefuseCleartextPassword"/> rules out
    /// (it has no type or code of its own, only this message; a test pins it: PostgresConnectionChangeTests).
    /// </summary>
    private static bool IsCleartextRefusal(NpgsqlException error) =>
        error.Message.Contains("authentication method is not allowed", StringComparison.Ordinal);

    /// <summary>Drops the pool of a connection that changed or is gone.</summary>
    public void Forget(string tenantUid, string name)
    {
        if (_sources.TryRemove($"{tenantUid}/{name}", out var removed))
        {
            _ = removed.Source.DisposeAsync().AsTask();
        }
    }

    /// <summary>
    /// Runs the creation statements and then sets <c>VALID UNTIL</c> itself, in one transaction: the login exists
    /// with its expiry, or not at all.
    /// </summary>
    public static async Task CreateLoginAsync(NpgsqlConnection connection, string name, IReadOnlyList<string> statements, string username, string password, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        // Nothing of a failed creation is left behind: the transaction rolls back. The password travels as its verifier.
        var verifier = ScramVerifier.Create(password);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await SerializeAsync(connection, name, cancellationToken);
        for (var i = 0; i < statements.Count; i++)
        {
            await RunAsync(connection, name, $"creation statement {i + 1}", PostgresRoleSettings.Render(statements[i], username, verifier, expiresAt), cancellationToken);
        }

        await RunAsync(connection, name, "setting VALID UNTIL on the new login (did the creation statements create {{name}}?)",
            $"ALTER ROLE \"{username}\" VALID UNTIL '{PostgresRoleSettings.Expiration(expiresAt)}'", cancellationToken);
        await CommitAsync(transaction, name, cancellationToken);
    }

    public static Task ExtendAsync(NpgsqlConnection connection, string name, string username, DateTimeOffset expiresAt, CancellationToken cancellationToken) =>
        RunAsync(connection, name, "extending VALID UNTIL", $"ALTER ROLE \"{username}\" VALID UNTIL '{PostgresRoleSettings.Expiration(expiresAt)}'", cancellationToken);

    /// <summary>
    /// Idempotent: a login that is gone is done. Otherwise it can no longer log in, its sessions are terminated, and
    /// the revocation statements run with a final <c>DROP ROLE IF EXISTS</c> in one transaction.
    /// </summary>
    public static async Task DropLoginAsync(NpgsqlConnection connection, string name, string username, IReadOnlyList<string>? revocation, CancellationToken cancellationToken)
    {
        if (!await ExistsAsync(connection, username, cancellationToken))
        {
            return;
        }

        await RunAsync(connection, name, "refusing new logins", $"ALTER ROLE \"{username}\" NOLOGIN", cancellationToken);
        await using (var terminate = new NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = @u AND pid <> pg_backend_pid()", connection))
        {
            terminate.Parameters.AddWithValue("u", username);
            await ExecuteAsync(terminate, name, "terminating the login's sessions", cancellationToken,
                "Keyward's login needs the role pg_signal_backend (GRANT pg_signal_backend TO it) to end another login's sessions.");
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await SerializeAsync(connection, name, cancellationToken);
        var statements = revocation ?? DefaultRevocation;
        for (var i = 0; i < statements.Count; i++)
        {
            await RunAsync(connection, name, $"revocation statement {i + 1}", PostgresRoleSettings.Render(statements[i], username, null, default), cancellationToken);
        }

        await RunAsync(connection, name, "dropping the login", $"DROP ROLE IF EXISTS \"{username}\"", cancellationToken);
        await CommitAsync(transaction, name, cancellationToken);
    }

    /// <summary>
    /// Without revocation statements: take back what a typical role grants in schema <c>public</c> (a grantor may always
    /// revoke its own grants), then the login is dropped. A role that owns objects or holds grants elsewhere needs its
    /// own revocation statements (<c>REASSIGN OWNED</c>, <c>DROP OWNED</c>), or its drop fails and is retried and reported.
    /// </summary>
    public static readonly IReadOnlyList<string> DefaultRevocation =
    [
        "REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM \"{{name}}\"",
        "REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM \"{{name}}\"",
        "REVOKE USAGE ON SCHEMA public FROM \"{{name}}\"",
    ];

    public static async Task<bool> ExistsAsync(NpgsqlConnection connection, string username, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = @u)", connection);
        command.Parameters.AddWithValue("u", username);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Sets a static role's login's password (<paramref name="password"/> is [A-Za-z0-9] only; sent as its SCRAM verifier,
    /// like every password Keyward sets). Keyward's login needs
    /// <c>CREATEROLE</c>, and from PostgreSQL 16 on <c>ADMIN OPTION</c> on that login.
    /// </summary>
    public static async Task SetLoginPasswordAsync(NpgsqlConnection connection, string name, string username, string password, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"ALTER ROLE \"{username.Replace("\"", "\"\"", StringComparison.Ordinal)}\" WITH PASSWORD '{ScramVerifier.Create(password)}'", connection);
        await ExecuteAsync(command, name, "setting the static login's password", cancellationToken,
            "Keyward's login needs CREATEROLE (and from PostgreSQL 16 on ADMIN OPTION on the login: GRANT login TO keyward_login WITH ADMIN OPTION) to set its password.");
    }

    /// <summary>Sets the connected user's own password (rotate-root).</summary>
    public static Task SetOwnPasswordAsync(NpgsqlConnection connection, string name, string password, CancellationToken cancellationToken) =>
        RunAsync(connection, name, "changing Keyward's own password", $"ALTER ROLE CURRENT_USER WITH PASSWORD '{ScramVerifier.Create(password)}'", cancellationToken);

    /// <summary>The advisory lock Keyward's grant-changing transactions take in a tenant's database ("kw_roles" in ASCII).</summary>
    public const long RoleChangesLock = 0x6B775F726F6C6573;

    /// <summary>
    /// Takes <see cref="RoleChangesLock"/> until the transaction ends: GRANT and REVOKE on one table from several
    /// transactions at once fail with <c>tuple concurrently updated</c> instead of waiting, so Keyward's own (from every
    /// node) take turns. What others do to the same tables is covered by <see cref="RetryingAsync"/>.
    /// </summary>
    private static async Task SerializeAsync(NpgsqlConnection connection, string name, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({RoleChangesLock})", connection);
        await ExecuteAsync(command, name, "waiting for Keyward's other grant changes on this database", cancellationToken);
    }

    /// <summary>Attempts of one operation that meets a concurrent change of the same catalog row.</summary>
    private const int ConflictAttempts = 6;

    /// <summary>
    /// Runs <paramref name="operation"/> on a connection of its own, again on a new one (after a short random pause) when
    /// PostgreSQL reports a concurrent update of the same catalog row — two logins granted on one table at once:
    /// <c>tuple concurrently updated</c> — a serialization failure or a deadlock. Each attempt is its own transaction.
    /// </summary>
    public static async Task RetryingAsync(Func<CancellationToken, Task<NpgsqlConnection>> open, Func<NpgsqlConnection, Task> operation, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await open(cancellationToken);
                await operation(connection);
                return;
            }
            catch (ConcurrentUpdateException) when (attempt < ConflictAttempts)
            {
                await Task.Delay(Random.Shared.Next(2, 20) * attempt, cancellationToken);
            }
            catch (ConcurrentUpdateException conflict)
            {
                throw conflict.Refusal;
            }
        }
    }

    private static bool IsConcurrentUpdate(PostgresException error) =>
        error.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected
        || (error.SqlState == PostgresErrorCodes.InternalError && error.MessageText.Contains("concurrently", StringComparison.Ordinal));

    private static async Task RunAsync(NpgsqlConnection connection, string name, string which, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await ExecuteAsync(command, name, which, cancellationToken);
    }

    private static async Task ExecuteAsync(NpgsqlCommand command, string name, string which, CancellationToken cancellationToken, string? permissionHint = null)
    {
        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException ended) when (ended.SqlState.StartsWith("08", StringComparison.Ordinal) || ended.SqlState.StartsWith("57P0", StringComparison.Ordinal))
        {
            // The session was ended (terminated, server shutting down): as for a lost connection, the pool's others likely too.
            if (command.Connection is { } broken)
            {
                NpgsqlConnection.ClearPool(broken);
            }

            throw KeywardErrors.EngineUnavailable(name, $"the session was ended during {which} (SQLSTATE {ended.SqlState}).");
        }
        catch (PostgresException failed)
        {
            var refusal = KeywardErrors.EngineStatementFailed(name, which, failed.SqlState,
                failed.SqlState == PostgresErrorCodes.InsufficientPrivilege ? permissionHint : null);
            throw IsConcurrentUpdate(failed) ? new ConcurrentUpdateException(refusal) : refusal;
        }
        catch (Exception error) when (error is NpgsqlException or TimeoutException or IOException)
        {
            // The database may have restarted: the pool's other idle connections are likely broken too.
            if (command.Connection is { } broken)
            {
                NpgsqlConnection.ClearPool(broken);
            }

            throw KeywardErrors.EngineUnavailable(name, $"the connection was lost during {which}.");
        }
    }

    private static async Task CommitAsync(NpgsqlTransaction transaction, string name, CancellationToken cancellationToken)
    {
        try
        {
            await transaction.CommitAsync(cancellationToken);
        }
        catch (PostgresException failed)
        {
            throw KeywardErrors.EngineStatementFailed(name, "the commit", failed.SqlState);
        }
        catch (Exception error) when (error is NpgsqlException or TimeoutException or IOException)
        {
            throw KeywardErrors.EngineUnavailable(name, "the connection was lost at commit (the outcome is unknown; the lease is cleaned up).");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, (_, source)) in _sources)
        {
            await source.DisposeAsync();
        }

        _sources.Clear();
    }
}

/// <summary>A statement met a concurrent update of the same row; <see cref="Refusal"/> is what the caller gets if retries run out.</summary>
internal sealed class ConcurrentUpdateException(KeywardException refusal) : Exception(refusal.Message)
{
    public KeywardException Refusal { get; } = refusal;
}

/// <summary>The database refused Keyward's own login (wrong password): rotate-root's recovery tries the pending one.</summary>
internal sealed class LoginRefusedException(string name)
    : Exception($"The database of connection '{name}' refused Keyward's login.");
