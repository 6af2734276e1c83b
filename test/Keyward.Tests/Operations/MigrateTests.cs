using System.Text.Json;
using Keyward.Cli.Migration;
using Keyward.Client;
using Keyward.Client.Models;
using Keyward.Storage.Postgres;
using Keyward.Tests.Cli;
using Keyward.Tests.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Keyward.Tests.Operations;

/// <summary>
/// A real data directory written by a real dev server (tenants, tokens, a role, an agent, secrets with versions, a
/// deleted and a destroyed version, enough audit records to span several copy batches), then stopped. Shared by the
/// class: the migration only reads it (under SQLite's write lock), and the tests run one after another.
/// </summary>
public sealed class MigrateSourceFixture : IAsyncLifetime
{
    /// <summary>Written as a secret value: must never appear in the migration's output.</summary>
    public const string Canary = "canary-value-7f3d9a1c-never-print";

    private readonly TempDirectory _directory = new("keyward-migrate-");

    public string DataDirectory => _directory.Path;

    public string Admin { get; private set; } = null!;

    public string Session { get; private set; } = null!;

    /// <summary>A wrapping token still to be unwrapped (of app/db version 1), and one already used.</summary>
    public (string Outstanding, string Used) Wraps { get; private set; }

    /// <summary>Every readable (path, version) and its "value" field.</summary>
    public List<(string Path, long Version, string Value)> Readable { get; } = [];

    public async Task InitializeAsync()
    {
        await using var server = await KeywardProcess.StartDevAsync(DataDirectory);
        using var root = new KeywardClient(server.Address, KeywardTestHost.RootToken);
        await root.CreateTenantAsync("mig-a", "Migration A");
        await root.CreateTenantAsync("mig-b");
        Admin = (await root.CreateTenantTokenAsync("mig-a", TenantTokenKind.Admin, TimeSpan.FromHours(2))).Token;
        var orchestrator = (await root.CreateTenantTokenAsync("mig-a", TenantTokenKind.Orchestrator)).Token;
        var adminB = (await root.CreateTenantTokenAsync("mig-b", TenantTokenKind.Admin)).Token;

        using var admin = new KeywardClient(server.Address, Admin);
        await admin.PutRoleAsync("worker", [new RoleRule("app/**", ["read", "list"])], TimeSpan.FromHours(1));
        for (var version = 1; version <= 3; version++)
        {
            var value = version == 3 ? Canary : $"db-v{version}";
            await admin.PutSecretAsync("app/db", new Dictionary<string, string> { ["value"] = value, ["user"] = "app" });
            Readable.Add(("app/db", version, value));
        }

        // Enough writes that secrets, secret_versions and audit_log span more than one copy batch (1,000 rows).
        for (var i = 0; i < 1050; i++)
        {
            var path = $"app/many/{i:D4}";
            await admin.PutSecretAsync(path, new Dictionary<string, string> { ["value"] = $"m{i}" });
            Readable.Add((path, 1, $"m{i}"));
        }

        await admin.PutSecretAsync("app/gone", new Dictionary<string, string> { ["value"] = "v1" });
        await admin.PutSecretAsync("app/gone", new Dictionary<string, string> { ["value"] = "v2" });
        await admin.DestroySecretAsync("app/gone", [1]);

        Readable.Add(("app/gone", 2, "v2"));
        using (var adminBClient = new KeywardClient(server.Address, adminB))
        {
            await adminBClient.PutSecretAsync("ops/pager", new Dictionary<string, string> { ["value"] = "b-only" });
        }

        using (var orchestratorClient = new KeywardClient(server.Address, orchestrator))
        {
            var bootstrap = await orchestratorClient.BootstrapAgentAsync("planner", "run-1", "worker", TimeSpan.FromMinutes(30));
            using var anonymous = new KeywardClient(server.Address);
            Session = (await anonymous.ExchangeBootstrapTokenAsync(bootstrap.BootstrapToken)).Token;
        }

        using (var agent = new KeywardClient(server.Address, Session))
        {
            Assert.Equal("m7", (await agent.GetSecretAsync("app/many/0007")).Data.GetProperty("value").GetString());
        }

        // Wrapped responses travel as stored: an outstanding one unwraps on the copy, a used one stays used.
        var outstanding = await admin.GetSecretWrappedAsync("app/db", KeywardClient.MaxWrapTtl, version: 1);
        var used = await admin.GetSecretWrappedAsync("app/db", KeywardClient.MaxWrapTtl, version: 2);
        await admin.UnwrapAsync(used.Token);
        Wraps = (outstanding.Token, used.Token);

        await server.StopAsync();
    }

    public Task DisposeAsync()
    {
        _directory.Dispose();
        return Task.CompletedTask;
    }
}

public sealed class MigrateTests : IClassFixture<MigrateSourceFixture>
{
    private static readonly string[] EarlyTables = ["seal_config", "tenants", "tenant_keys", "tokens", "roles", "secrets", "secret_versions"];

    private readonly MigrateSourceFixture _source;

    public MigrateTests(MigrateSourceFixture source) => _source = source;

    [Fact]
    public async Task Migrate_IntoEmptyDatabase_VerifiesAndAPostgresServerServesEverySecretTokenAndAuditChain()
    {
        var cluster = await PostgresCluster.GetAsync();
        var database = await cluster.CreateDatabaseAsync();
        var connection = cluster.ConnectionString(database);
        try
        {
            var result = CliAssert.Ok(await MigrateAsync(["--to-pg", connection]));

            Assert.DoesNotContain("MISMATCH", result.Stdout, StringComparison.Ordinal);
            Assert.Matches("(?m)^secret_versions\\s+\\d+\\s+\\d+\\s+OK$", result.Stdout);
            Assert.Matches("(?m)^event_counter\\s+1\\s+1\\s+OK$", result.Stdout);
            Assert.Contains("SAME unseal key shares", result.Stdout, StringComparison.Ordinal);
            Assert.Matches("(?m)^tenants 2/2$", result.Stderr);
            Assert.Matches("(?m)^secret_versions 1000/\\d+$", result.Stderr);
            Assert.Matches("(?m)^audit_log 1000/\\d+$", result.Stderr);
            Assert.All(await SqliteToPostgres.VerifyAsync(_source.DataDirectory, connection), c => Assert.True(c.Ok, c.Table));

            // The audit head is carried with its MAC (the head of a chain written by this version has one).
            var sourceMac = Assert.IsType<byte[]>(RawDatabase.Scalar(_source.DataDirectory, "SELECT mac FROM audit_head WHERE id = 1"));
            Assert.Equal(1, await ScalarAsync(connection, $"SELECT count(*) FROM audit_head WHERE mac = '\\x{Convert.ToHexStringLower(sourceMac)}'::bytea"));

            await using var server = await KeywardProcess.StartAsync(
                _source.DataDirectory, KeywardProcess.FreePort(),
                ["--dev", "--dev-root-token", KeywardTestHost.RootToken, "--storage", "postgres", "--pg", connection]);
            Assert.Contains("postgres", server.Output, StringComparison.OrdinalIgnoreCase);
            using var admin = new KeywardClient(server.Address, Admin);
            foreach (var (path, version, value) in _source.Readable)
            {
                var secret = await admin.GetSecretAsync(path, version);
                Assert.Equal(value, secret.Data.GetProperty("value").GetString());
            }

            Assert.Equal(3, (await admin.GetSecretAsync("app/db")).Version);
            Assert.Equal(3, (await admin.GetSecretMetadataAsync("app/db")).CurrentVersion);
            var destroyed = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => admin.GetSecretAsync("app/gone", 1));
            Assert.Equal(404, destroyed.Status);
            using (var agent = new KeywardClient(server.Address, _source.Session))
            {
                Assert.Equal("m9", (await agent.GetSecretAsync("app/many/0009")).Data.GetProperty("value").GetString());
            }

            Assert.Matches("(?m)^wraps\\s+2\\s+2\\s+OK$", result.Stdout);
            Assert.Equal("db-v1", (await admin.UnwrapSecretAsync(_source.Wraps.Outstanding)).Data.GetProperty("value").GetString());
            var reused = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => admin.UnwrapAsync(_source.Wraps.Used));
            Assert.Equal("wrap_token_used", reused.ErrorCode);

            await admin.PutSecretAsync("app/db", new Dictionary<string, string> { ["value"] = "after-migration" });
            Assert.Equal(4, (await admin.GetSecretAsync("app/db")).Version);
            using var http = server.Client();
            using var verify = JsonDocument.Parse(await http.GetStringAsync(new Uri("/v1/sys/audit/verify", UriKind.Relative)));
            Assert.True(verify.RootElement.GetProperty("ok").GetBoolean(), verify.RootElement.GetRawText());
            Assert.Equal("ok", verify.RootElement.GetProperty("head_mac").GetString());
        }
        finally
        {
            await cluster.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public async Task Migrate_TargetAlreadyHoldsData_RefusedAndTargetUnchanged()
    {
        var cluster = await PostgresCluster.GetAsync();
        var database = await cluster.CreateDatabaseAsync();
        var connection = cluster.ConnectionString(database);
        try
        {
            CliAssert.Ok(await MigrateAsync(["--to-pg", connection]));
            var before = await CountsAsync(connection);
            var again = CliAssert.Exit(1, await MigrateAsync(["--to-pg", connection]));

            Assert.Contains("already holds Keyward data", again.Stderr, StringComparison.Ordinal);
            Assert.Equal("", again.Stdout);
            Assert.Equal(before, await CountsAsync(connection));
            Assert.All(await SqliteToPostgres.VerifyAsync(_source.DataDirectory, connection), c => Assert.True(c.Ok, c.Table));

            // The audit head is carried with its MAC (the head of a chain written by this version has one).
            var sourceMac = Assert.IsType<byte[]>(RawDatabase.Scalar(_source.DataDirectory, "SELECT mac FROM audit_head WHERE id = 1"));
            Assert.Equal(1, await ScalarAsync(connection, $"SELECT count(*) FROM audit_head WHERE mac = '\\x{Convert.ToHexStringLower(sourceMac)}'::bytea"));

            // One row anywhere is enough: a database with a single tenant in it is refused too.
            var other = await cluster.CreateDatabaseAsync();
            try
            {
                var otherConnection = cluster.ConnectionString(other);
                await using (var store = PostgresStore.Create(otherConnection))
                {
                    await store.OpenAsync();
                }

                await ExecuteAsync(otherConnection, "INSERT INTO tenants (uid, id, state, created_at, updated_at) VALUES ('u1', 'someone', 'active', 1, 1)");
                var refused = CliAssert.Exit(1, await MigrateAsync(["--to-pg", otherConnection]));
                Assert.Contains("(tenants)", refused.Stderr, StringComparison.Ordinal);
                var counts = await CountsAsync(otherConnection);
                Assert.Equal(1, counts["tenants"]);
                Assert.All(counts.Where(c => c.Key is not ("tenants" or "audit_head")), c => Assert.Equal(0, c.Value));
            }
            finally
            {
                await cluster.DropDatabaseAsync(other);
            }
        }
        finally
        {
            await cluster.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public async Task Migrate_FailureInALateTable_LeavesTheTargetWithoutKeywardRows_ThenARetrySucceeds()
    {
        var cluster = await PostgresCluster.GetAsync();
        var database = await cluster.CreateDatabaseAsync();
        var connection = cluster.ConnectionString(database);
        try
        {
            await using (var store = PostgresStore.Create(connection))
            {
                await store.OpenAsync();
            }

            await ExecuteAsync(connection, """
                CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'test: audit_log is read-only'; END $$;
                CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_insert();
                """);

            var failed = await MigrateAsync(["--to-pg", connection]);

            Assert.NotEqual(0, failed.ExitCode);
            Assert.Contains("nothing was committed", failed.Stderr, StringComparison.Ordinal);
            Assert.Matches("(?m)^secret_versions \\d+/\\d+$", failed.Stderr);
            var counts = await CountsAsync(connection);
            Assert.All(EarlyTables, table => Assert.Equal(0, counts[table]));
            Assert.All(counts.Where(c => c.Key != "audit_head"), c => Assert.Equal(0, c.Value));
            Assert.Equal(1, await ScalarAsync(connection, "SELECT count(*) FROM audit_head WHERE seq = 0 AND hash IS NULL"));
            Assert.Equal(0, await ScalarAsync(connection, "SELECT last_id FROM event_counter"));

            await ExecuteAsync(connection, "DROP TRIGGER refuse_audit ON audit_log");
            CliAssert.Ok(await MigrateAsync(["--to-pg", connection]));
            Assert.True(await ScalarAsync(connection, "SELECT last_id FROM event_counter") > 0);
        }
        finally
        {
            await cluster.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public async Task Verify_OneByteChangedInTheTarget_ReportsMismatchOnThatTableOnly()
    {
        var cluster = await PostgresCluster.GetAsync();
        var database = await cluster.CreateDatabaseAsync();
        var connection = cluster.ConnectionString(database);
        try
        {
            CliAssert.Ok(await MigrateAsync(["--to-pg", connection]));
            Assert.All(await SqliteToPostgres.VerifyAsync(_source.DataDirectory, connection), c => Assert.True(c.Ok, c.Table));

            // The audit head is carried with its MAC (the head of a chain written by this version has one).
            var sourceMac = Assert.IsType<byte[]>(RawDatabase.Scalar(_source.DataDirectory, "SELECT mac FROM audit_head WHERE id = 1"));
            Assert.Equal(1, await ScalarAsync(connection, $"SELECT count(*) FROM audit_head WHERE mac = '\\x{Convert.ToHexStringLower(sourceMac)}'::bytea"));

            await ExecuteAsync(connection, """
                UPDATE secret_versions SET ciphertext = set_byte(ciphertext, 5, (get_byte(ciphertext, 5) + 1) % 256)
                WHERE ctid = (SELECT ctid FROM secret_versions WHERE ciphertext IS NOT NULL ORDER BY path LIMIT 1)
                """);
            var checks = await SqliteToPostgres.VerifyAsync(_source.DataDirectory, connection);

            var bad = Assert.Single(checks, c => !c.Ok);
            Assert.Equal("secret_versions", bad.Table);
            Assert.Equal(bad.SourceRows, bad.TargetRows);
            Assert.NotEqual(bad.SourceHash, bad.TargetHash);

            // A NULL where a value was, and a missing row, are caught too.
            await ExecuteAsync(connection, "UPDATE tenants SET name = NULL WHERE id = 'mig-a'");
            await ExecuteAsync(connection, "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)");
            var more = await SqliteToPostgres.VerifyAsync(_source.DataDirectory, connection);
            Assert.False(more.Single(c => c.Table == "tenants").Ok);
            var audit = more.Single(c => c.Table == "audit_log");
            Assert.False(audit.Ok);
            Assert.Equal(audit.SourceRows - 1, audit.TargetRows);
        }
        finally
        {
            await cluster.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public async Task Migrate_WithAPasswordInKeywardPg_NeverPrintsThePasswordOrASecretValue()
    {
        var cluster = await PostgresCluster.GetAsync();
        var database = await cluster.CreateDatabaseAsync();
        var role = "kw_mig_" + Guid.NewGuid().ToString("N")[..8];
        var password = "pw-" + Guid.NewGuid().ToString("N");
        await cluster.ExecuteAsync($"CREATE ROLE {role} LOGIN PASSWORD '{password}'");
        await cluster.ExecuteAsync($"ALTER DATABASE {database} OWNER TO {role}");
        var connection = cluster.ConnectionString(database, role, password);
        try
        {
            var environment = new Dictionary<string, string?> { ["KEYWARD_PG"] = connection };
            var ok = CliAssert.Ok(await MigrateAsync([], environment));
            var json = CliAssert.Exit(1, await MigrateAsync(["--format", "json"], environment));
            var wrong = await MigrateAsync(["--to-pg", cluster.ConnectionString(database, role, password + "x")]);

            Assert.Contains(role, ok.Stdout, StringComparison.Ordinal);
            Assert.NotEqual(0, wrong.ExitCode);
            foreach (var result in new[] { ok, json, wrong })
            {
                var all = result.Stdout + result.Stderr;
                Assert.DoesNotContain(password, all, StringComparison.Ordinal);
                Assert.DoesNotContain(MigrateSourceFixture.Canary, all, StringComparison.Ordinal);
                Assert.DoesNotContain(_source.Admin, all, StringComparison.Ordinal);
                Assert.DoesNotContain("kwa_", all, StringComparison.Ordinal);
                Assert.DoesNotContain("\\x", all, StringComparison.Ordinal);
            }
        }
        finally
        {
            await cluster.DropDatabaseAsync(database);
            await cluster.ExecuteAsync($"DROP ROLE IF EXISTS {role}");
        }
    }

    [Fact]
    public async Task Migrate_NoTargetMissingStoreOrOldSchema_Exits2WithoutTouchingAnything()
    {
        using var empty = new TempDirectory();
        using var old = new TempDirectory();
        File.Copy(Path.Combine(_source.DataDirectory, "keyward.db"), old.File("keyward.db"));
        var builder = new SqliteConnectionStringBuilder { DataSource = old.File("keyward.db"), Pooling = false };
        await using (var sqlite = new SqliteConnection(builder.ToString()))
        {
            await sqlite.OpenAsync();
            await using var downgrade = sqlite.CreateCommand();
            downgrade.CommandText = "DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)";
            await downgrade.ExecuteNonQueryAsync();
        }

        var noTarget = CliAssert.Exit(2, await MigrateAsync([], new Dictionary<string, string?> { ["KEYWARD_PG"] = null }));
        var missing = CliAssert.Exit(2, await KeywardCli.RunAsync(["operator", "migrate", "--from-data", empty.Path, "--to-pg", "Host=127.0.0.1;Port=1;Database=x"]));
        var outdated = CliAssert.Exit(2, await KeywardCli.RunAsync(["operator", "migrate", "--from-data", old.Path, "--to-pg", "Host=127.0.0.1;Port=1;Database=x"]));

        Assert.Contains("--to-pg", noTarget.Stderr, StringComparison.Ordinal);
        Assert.Contains("keyward.db not found", missing.Stderr, StringComparison.Ordinal);
        Assert.Contains("start the server once on this data directory to upgrade it", outdated.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.EnumerateFiles(empty.Path).Any());
    }

    [Fact]
    public async Task Migrate_WhileAnotherConnectionHoldsTheWriteLock_RefusedAsInUse()
    {
        var builder = new SqliteConnectionStringBuilder { DataSource = Path.Combine(_source.DataDirectory, "keyward.db"), Pooling = false };
        await using var writer = new SqliteConnection(builder.ToString());
        await writer.OpenAsync();
        await using (var begin = writer.CreateCommand())
        {
            begin.CommandText = "BEGIN IMMEDIATE";
            await begin.ExecuteNonQueryAsync();
        }

        try
        {
            var refused = CliAssert.Exit(2, await MigrateAsync(["--to-pg", "Host=127.0.0.1;Port=1;Database=x"]));

            Assert.Contains("stop the server before migrating", refused.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            await using var rollback = writer.CreateCommand();
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task Migrate_WhileAServerRunsIdleOnTheDirectory_RefusedAsInUse()
    {
        // An idle server holds no SQLite lock between transactions; the data directory's lock file catches it.
        using var data = new TempDirectory();
        await using var server = await KeywardProcess.StartDevAsync(data.Path);

        var refused = CliAssert.Exit(1, await KeywardCli.RunAsync(["operator", "migrate", "--from-data", data.Path, "--to-pg", "Host=127.0.0.1;Port=1;Database=x"]));

        Assert.Contains("in use by a running Keyward server", refused.Stderr, StringComparison.Ordinal);
        Assert.False(server.HasExited);
    }

    private string Admin => _source.Admin;

    private Task<CliResult> MigrateAsync(string[] args, IReadOnlyDictionary<string, string?>? environment = null) =>
        KeywardCli.RunAsync(["operator", "migrate", "--from-data", _source.DataDirectory, .. args], environment);

    private static async Task<Dictionary<string, long>> CountsAsync(string connection)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var table in SqliteToPostgres.Tables)
        {
            counts[table] = await ScalarAsync(connection, $"SELECT count(*) FROM {table}");
        }

        return counts;
    }

    private static async Task<long> ScalarAsync(string connection, string sql)
    {
        await using var db = new NpgsqlConnection(connection + ";Pooling=false");
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(sql, db);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task ExecuteAsync(string connection, string sql)
    {
        await using var db = new NpgsqlConnection(connection + ";Pooling=false");
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(sql, db);
        await command.ExecuteNonQueryAsync();
    }
}
