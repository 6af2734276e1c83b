using System.Security.Cryptography;
using Npgsql;

namespace Keyward.Tests.Common;

/// <summary>
/// A tenant's database for the PostgreSQL engine's tests, on a real cluster: a fresh database with a table, and the
/// login Keyward is given (<c>LOGIN CREATEROLE</c>, member of <c>pg_signal_backend</c>, password-authenticated, owner of the table), as a platform
/// would set it up. The cluster's own superuser inspects what Keyward did.
/// </summary>
public sealed class PostgresTarget : IAsyncDisposable
{
    private PostgresTarget(PostgresCluster cluster, string database, string adminUser, string adminPassword)
    {
        Cluster = cluster;
        Database = database;
        AdminUser = adminUser;
        AdminPassword = adminPassword;
    }

    public PostgresCluster Cluster { get; }

    public string Database { get; }

    /// <summary>The login Keyward is given.</summary>
    public string AdminUser { get; }

    public string AdminPassword { get; }

    /// <summary>The <c>connection_url</c> for the engine.</summary>
    public string Url => $"postgresql://127.0.0.1:{Cluster.Port}/{Database}?sslmode=disable";

    /// <summary>A role whose logins may read the table and nothing else.</summary>
    public static readonly string[] ReaderStatements =
    [
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
        "GRANT SELECT ON items TO \"{{name}}\"",
    ];

    public static async Task<PostgresTarget> CreateAsync(PostgresCluster? cluster = null)
    {
        cluster ??= await PostgresCluster.GetAsync();
        var database = await cluster.CreateDatabaseAsync();
        var admin = "kwe_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        await cluster.ExecuteAsync($"CREATE ROLE {admin} WITH LOGIN CREATEROLE PASSWORD '{password}' IN ROLE pg_signal_backend");
        var target = new PostgresTarget(cluster, database, admin, password);
        await target.AsSuperuserAsync($"CREATE TABLE items (id int PRIMARY KEY, label text); INSERT INTO items VALUES (1, 'one'), (2, 'two'); ALTER TABLE items OWNER TO {admin}");
        return target;
    }

    /// <summary>Logs in as <paramref name="user"/> and reads the table: the row count, or the SQLSTATE of the refusal.</summary>
    public async Task<(bool LoggedIn, string? SqlState)> TryReadAsync(string user, string password)
    {
        try
        {
            await using var connection = new NpgsqlConnection(Cluster.ConnectionString(Database, user, password) + ";Pooling=false;Timeout=10");
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT count(*) FROM items", connection);
            return ((long)(await command.ExecuteScalarAsync())! == 2, null);
        }
        catch (PostgresException refused)
        {
            return (false, refused.SqlState);
        }
    }

    public async Task<NpgsqlConnection> OpenAsync(string user, string password)
    {
        var connection = new NpgsqlConnection(Cluster.ConnectionString(Database, user, password) + ";Pooling=false;Timeout=10");
        await connection.OpenAsync();
        return connection;
    }

    public async Task<bool> RoleExistsAsync(string role) => await ScalarAsync<bool>($"SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}')");

    public async Task<DateTimeOffset?> ValidUntilAsync(string role)
    {
        var value = await ScalarAsync<object>($"SELECT rolvaliduntil FROM pg_roles WHERE rolname = '{role}'");
        return value is DateTime at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : null;
    }

    /// <summary>Logins that can reach this database's table: those granted on it (every login a role here created).</summary>
    public async Task<long> CountLoginsAsync()
    {
        await using var connection = new NpgsqlConnection(Cluster.ConnectionString(Database) + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FROM information_schema.role_table_grants WHERE table_name = 'items' AND grantee LIKE 'kw\\_%'", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Logins named <c>kw_…</c> that exist now, of those given.</summary>
    public async Task<IReadOnlyList<string>> ExistingAsync(IEnumerable<string> names)
    {
        var wanted = names.ToHashSet(StringComparer.Ordinal);
        await using var connection = new NpgsqlConnection(Cluster.ConnectionString("postgres") + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT rolname FROM pg_roles WHERE rolname LIKE 'kw\\_%'", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var found = new List<string>();
        while (await reader.ReadAsync())
        {
            if (wanted.Contains(reader.GetString(0)))
            {
                found.Add(reader.GetString(0));
            }
        }

        return found;
    }

    /// <summary>Polls until <paramref name="condition"/> holds, at most <paramref name="seconds"/>; returns whether it did.</summary>
    public static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(100);
        }

        return await condition();
    }

    public async Task AsSuperuserAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(Cluster.ConnectionString(Database) + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<T> ScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(Cluster.ConnectionString("postgres") + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await Cluster.DropDatabaseAsync(Database);
        await Cluster.ExecuteAsync($"DROP ROLE IF EXISTS {AdminUser}");
    }
}
