using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Keyward.Client;
using Keyward.Client.Models;
using Npgsql;

namespace Keyward.Benchmarks.DynamicCredentials;

/// <summary>The cluster <c>bench/run dyncreds</c> started: a database with the table <c>items</c>, Keyward's login, a trusted superuser.</summary>
internal sealed record TargetDatabase(int Port, string Database, string Superuser, string Login, string LoginPassword)
{
    public string Url => $"postgresql://127.0.0.1:{Port}/{Database}?sslmode=disable";

    /// <summary>As <paramref name="user"/> (password authentication), or as the trusted superuser when none is given.</summary>
    public string ConnectionString(string? database = null, string? user = null, string? password = null, bool pooling = false) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Database = database ?? Database,
            Username = user ?? Superuser,
            Password = password,
            Pooling = pooling,
            Timeout = 10,
            CommandTimeout = 30,
            MaxPoolSize = 200,
        }.ConnectionString;
}

/// <summary>Figures of one issuing phase; <see cref="Usernames"/> and <see cref="Passwords"/> by request index.</summary>
internal sealed record IssueResult(string[] Usernames, string[] Passwords, double Seconds, double[] SortedMs)
{
    public double PerSecond => Usernames.Length / Seconds;

    public double P50 => Percentiles.Of(SortedMs, 0.50);

    public double P99 => Percentiles.Of(SortedMs, 0.99);

    public double Max => SortedMs[^1];
}

/// <summary>
/// A revocation: the revoke call's own time, then (from the same start) the first and the last login gone from
/// pg_roles, and when none of them could log in any more (the clean-up's first step, <c>NOLOGIN</c>, commits on its own).
/// </summary>
internal sealed record RevokeResult(long Revoked, double CallMs, double FirstGoneMs, double LastGoneMs, double NoLoginMs);

/// <summary>
/// <c>bench/run dyncreds</c>: a tenant with two connections to the same database (one for an unmeasured warm-up, one
/// measured) and a role <c>reader</c> (<c>SELECT</c> on <c>items</c>); credentials issued over HTTP with a fixed number
/// of requests in flight, revoked with one <c>revoke-prefix</c>, and the same logins created directly with Npgsql as the
/// baseline. Every request must succeed; any failure ends the run.
/// </summary>
internal sealed class DynamicCredentialsBenchmark : IAsyncDisposable
{
    public const string WarmupConnection = "warm";
    public const string MeasuredConnection = "bench";
    public const string Role = "reader";
    private const string Tenant = "dyncreds";
    private const string NameAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    private const string PasswordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>The group role <c>bench/run dyncreds</c> creates with <c>SELECT</c> on <c>items</c> (Keyward's login holds it WITH ADMIN OPTION).</summary>
    public const string GroupRole = "bench_reader";

    /// <summary>
    /// <c>--grant table</c>: the role as the engine's tests define a reader, <c>GRANT SELECT ON items</c> to each login.
    /// PostgreSQL updates the table's one pg_class row for each such GRANT, and two at once fail with
    /// <c>XX000 tuple concurrently updated</c>: Keyward serializes its grant-changing transactions with an advisory lock
    /// in the database (PostgresTargets.RoleChangesLock), and the baseline takes the same lock in this mode.
    /// </summary>
    private static readonly string[] TableGrant =
    [
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
        "GRANT SELECT ON items TO \"{{name}}\"",
    ];

    /// <summary><c>--grant role</c> (the default): membership in a group role that holds the grant (a new pg_auth_members row each; no shared row).</summary>
    private static readonly string[] RoleGrant =
    [
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
        $"GRANT {GroupRole} TO \"{{{{name}}}}\"",
    ];

    private readonly HttpClient _http;
    private readonly KeywardClient _root;
    private readonly TargetDatabase _database;
    private readonly int _concurrency;
    private readonly string[] _creationStatements;
    private KeywardClient? _admin;
    private string _adminToken = "";

    public DynamicCredentialsBenchmark(Uri address, string rootToken, TargetDatabase database, int concurrency, string grant)
    {
        _creationStatements = grant switch
        {
            "table" => TableGrant,
            "role" => RoleGrant,
            _ => throw new ArgumentException("--grant must be table or role"),
        };
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency + 4, UseProxy = false })
        {
            BaseAddress = address,
            Timeout = TimeSpan.FromSeconds(30),
        };
        _root = new KeywardClient(new KeywardClientOptions { Address = address, Token = rootToken, HttpClient = _http });
        _database = database;
        _concurrency = concurrency;
    }

    private KeywardClient Admin => _admin ?? throw new InvalidOperationException("SetUpAsync first.");

    /// <summary>The tenant, its admin token (whose capabilities include read on every creds path), both connections and their role.</summary>
    public async Task SetUpAsync()
    {
        await _root.CreateTenantAsync(Tenant);
        _adminToken = (await _root.CreateTenantTokenAsync(Tenant, TenantTokenKind.Admin, TimeSpan.FromHours(4))).Token;
        _admin = new KeywardClient(new KeywardClientOptions { Address = _http.BaseAddress, Token = _adminToken, HttpClient = _http });
        foreach (var connection in new[] { WarmupConnection, MeasuredConnection })
        {
            (await SendAsync(HttpMethod.Put, $"v1/engines/postgres/{connection}",
                new { connection_url = _database.Url, username = _database.Login, password = _database.LoginPassword }, CancellationToken.None)).Dispose();
            (await SendAsync(HttpMethod.Put, $"v1/engines/postgres/{connection}/roles/{Role}",
                new { creation_statements = _creationStatements, default_ttl = "1h", max_ttl = "2h" }, CancellationToken.None)).Dispose();
        }

        DynamicCredentialsCommand.Log($"tenant {Tenant}: connections {WarmupConnection} and {MeasuredConnection} to {_database.Url} as {_database.Login}, role {Role}");
    }

    /// <summary><paramref name="count"/> credentials from <paramref name="connection"/>, <c>_concurrency</c> requests in flight; timed as a whole and each.</summary>
    public async Task<IssueResult> IssueAsync(string connection, int count)
    {
        var usernames = new string[count];
        var passwords = new string[count];
        var samples = new double[count];
        var seconds = await RunConcurrentlyAsync(count, async (i, cancellationToken) =>
        {
            var started = Stopwatch.GetTimestamp();
            using var body = await SendAsync(HttpMethod.Post, $"v1/creds/postgres/{connection}/{Role}", null, cancellationToken);
            samples[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            usernames[i] = body.RootElement.GetProperty("username").GetString()!;
            passwords[i] = body.RootElement.GetProperty("password").GetString()!;
        });

        Array.Sort(samples);
        var existing = await CountExistingAsync(usernames);
        if (existing != count || usernames.Distinct(StringComparer.Ordinal).Count() != count)
        {
            throw new InvalidOperationException($"{count} credentials issued, but {existing} of their logins exist ({usernames.Distinct(StringComparer.Ordinal).Count()} distinct names)");
        }

        return new IssueResult(usernames, passwords, seconds, samples);
    }

    /// <summary>
    /// Logs in with <paramref name="sample"/> of the issued logins, evenly spread, by password, and reads the table; and
    /// checks that a wrong password is refused (so the logins above really were password-authenticated).
    /// </summary>
    public async Task CheckLoginsAsync(IssueResult issued, int sample)
    {
        sample = Math.Min(sample, issued.Usernames.Length);
        for (var k = 0; k < sample; k++)
        {
            var i = (int)((long)k * issued.Usernames.Length / sample);
            await using var connection = new NpgsqlConnection(_database.ConnectionString(user: issued.Usernames[i], password: issued.Passwords[i]));
            await connection.OpenAsync();
            await using var read = new NpgsqlCommand("SELECT count(*) FROM items", connection);
            var rows = (long)(await read.ExecuteScalarAsync())!;
            if (rows != 2)
            {
                throw new InvalidOperationException($"login {issued.Usernames[i]} read {rows} rows of items, not 2");
            }
        }

        try
        {
            await using var wrong = new NpgsqlConnection(_database.ConnectionString(user: issued.Usernames[0], password: "not-" + issued.Passwords[0]));
            await wrong.OpenAsync();
            throw new InvalidOperationException("a wrong password was accepted: the cluster does not authenticate by password, the login check proves nothing");
        }
        catch (PostgresException refused) when (refused.SqlState == PostgresErrorCodes.InvalidPassword)
        {
        }

        DynamicCredentialsCommand.Log($"{sample} sampled logins logged in by password and read the table; a wrong password was refused (28P01)");
    }

    /// <summary>
    /// One <c>revoke-prefix</c> over the connection's credentials, then pg_roles polled (as the superuser) every 20 ms
    /// until none of <paramref name="usernames"/> exists; bounded.
    /// </summary>
    public async Task<RevokeResult> RevokeAsync(string connection, string[] usernames)
    {
        // Failed clean-ups are retried after 2^attempts s (at most 5 min): the bound leaves room for a long backoff.
        var limit = TimeSpan.FromSeconds(600 + usernames.Length / 5);
        await using var superuser = new NpgsqlConnection(_database.ConnectionString(database: "postgres"));
        await superuser.OpenAsync();
        await using var poll = new NpgsqlCommand("SELECT count(*), count(*) FILTER (WHERE rolcanlogin) FROM pg_roles WHERE rolname = ANY(@names)", superuser);
        poll.Parameters.AddWithValue("names", usernames);
        await poll.PrepareAsync();

        var started = Stopwatch.GetTimestamp();
        var revoked = await Admin.RevokeLeasesByPrefixAsync($"creds/postgres/{connection}");
        var callMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (revoked != usernames.Length)
        {
            throw new InvalidOperationException($"revoke-prefix creds/postgres/{connection} revoked {revoked} leases, not {usernames.Length}");
        }

        double? firstGone = null;
        double? noLogin = null;
        var lastReport = started;
        while (true)
        {
            long remaining, canLogIn;
            await using (var reader = await poll.ExecuteReaderAsync())
            {
                await reader.ReadAsync();
                (remaining, canLogIn) = (reader.GetInt64(0), reader.GetInt64(1));
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            if (remaining < usernames.Length)
            {
                firstGone ??= elapsed.TotalMilliseconds;
            }

            if (canLogIn == 0)
            {
                noLogin ??= elapsed.TotalMilliseconds;
            }

            if (remaining == 0)
            {
                return new RevokeResult(revoked, callMs, firstGone!.Value, elapsed.TotalMilliseconds, noLogin!.Value);
            }

            if (elapsed > limit)
            {
                throw new InvalidOperationException($"{remaining} of {usernames.Length} logins still exist {limit.TotalSeconds:F0} s after revoke-prefix (see the server log)");
            }

            if (Stopwatch.GetElapsedTime(lastReport) > TimeSpan.FromSeconds(remaining == usernames.Length || elapsed < TimeSpan.FromSeconds(10) ? 1 : 5))
            {
                lastReport = Stopwatch.GetTimestamp();
                DynamicCredentialsCommand.Log($"  {elapsed.TotalSeconds:F1} s after the revoke call: {remaining} of {usernames.Length} logins remain ({canLogIn} of them can still log in)");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>
    /// The baseline: <paramref name="count"/> logins made directly, as Keyward's own login on a pooled Npgsql data source,
    /// each one transaction of the role's two statements (after <paramref name="warmup"/> unmeasured), the same number in
    /// flight; then every one of them dropped again.
    /// </summary>
    public async Task<IssueResult> BaselineAsync(int count, int warmup)
    {
        await using var source = NpgsqlDataSource.Create(_database.ConnectionString(user: _database.Login, password: _database.LoginPassword, pooling: true));
        var made = new List<string>();
        try
        {
            if (warmup > 0)
            {
                made.AddRange((await CreateDirectlyAsync(source, warmup)).Usernames);
            }

            var measured = await CreateDirectlyAsync(source, count);
            made.AddRange(measured.Usernames);
            var existing = await CountExistingAsync(measured.Usernames);
            if (existing != count)
            {
                throw new InvalidOperationException($"the baseline created {count} logins, but {existing} exist");
            }

            return measured;
        }
        finally
        {
            await DropDirectlyAsync(made);
        }
    }

    private async Task<IssueResult> CreateDirectlyAsync(NpgsqlDataSource source, int count)
    {
        var usernames = new string[count];
        var passwords = new string[count];
        var samples = new double[count];
        var seconds = await RunConcurrentlyAsync(count, async (i, cancellationToken) =>
        {
            var username = "kwb_reader_" + RandomNumberGenerator.GetString(NameAlphabet, 16);
            var password = RandomNumberGenerator.GetString(PasswordAlphabet, 40);
            var expiration = DateTimeOffset.UtcNow.AddHours(1).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) + "+00";
            var started = Stopwatch.GetTimestamp();
            await using (var connection = await source.OpenConnectionAsync(cancellationToken))
            await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
            {
                if (ReferenceEquals(_creationStatements, TableGrant))
                {
                    // Concurrent GRANTs on one table fail (XX000) unless serialized: take the lock Keyward takes.
                    await using var serialize = new NpgsqlCommand("SELECT pg_advisory_xact_lock(" + 0x6B775F726F6C6573 + ")", connection, transaction);
                    await serialize.ExecuteNonQueryAsync(cancellationToken);
                }

                foreach (var statement in _creationStatements)
                {
                    var sql = statement.Replace("{{name}}", username, StringComparison.Ordinal)
                        .Replace("{{password}}", password, StringComparison.Ordinal)
                        .Replace("{{expiration}}", expiration, StringComparison.Ordinal);
                    await using var command = new NpgsqlCommand(sql, connection, transaction);
                    await command.ExecuteNonQueryAsync(cancellationToken);
                }

                await transaction.CommitAsync(cancellationToken);
            }

            samples[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            usernames[i] = username;
            passwords[i] = password;
        });

        Array.Sort(samples);
        return new IssueResult(usernames, passwords, seconds, samples);
    }

    private async Task DropDirectlyAsync(List<string> usernames)
    {
        await using var connection = new NpgsqlConnection(_database.ConnectionString());
        await connection.OpenAsync();
        foreach (var chunk in usernames.Chunk(100))
        {
            var names = string.Join(", ", chunk.Select(u => $"\"{u}\""));
            await using var command = new NpgsqlCommand($"REVOKE ALL ON items FROM {names}; DROP ROLE {names}", connection);
            await command.ExecuteNonQueryAsync();
        }

        await using var left = new NpgsqlCommand("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'kwb\\_%'", connection);
        var remaining = (long)(await left.ExecuteScalarAsync())!;
        if (remaining != 0)
        {
            throw new InvalidOperationException($"{remaining} baseline logins are left after dropping them");
        }
    }

    private async Task<long> CountExistingAsync(string[] usernames)
    {
        await using var connection = new NpgsqlConnection(_database.ConnectionString(database: "postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_roles WHERE rolname = ANY(@names)", connection);
        command.Parameters.AddWithValue("names", usernames);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// Runs <paramref name="work"/> for indices 0..count-1 with <c>_concurrency</c> in flight and returns the seconds
    /// taken. A failure does not stop the others (so that the run shows how many fail, and how); any failure fails the
    /// phase afterwards, with the distinct errors and their counts.
    /// </summary>
    private async Task<double> RunConcurrentlyAsync(int count, Func<int, CancellationToken, Task> work)
    {
        var failures = new ConcurrentQueue<string>();
        var next = -1;
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Math.Min(_concurrency, count)).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                try
                {
                    await work(i, CancellationToken.None);
                }
                catch (Exception error) when (error is InvalidOperationException or HttpRequestException or NpgsqlException or TaskCanceledException)
                {
                    failures.Enqueue(error is PostgresException refused ? $"SQLSTATE {refused.SqlState}: {refused.MessageText}" : error.Message);
                }
            }
        }));

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (!failures.IsEmpty)
        {
            var distinct = failures.GroupBy(f => f, StringComparer.Ordinal).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} x {g.Key}");
            throw new InvalidOperationException($"{failures.Count} of {count} failed; the figures are void:\n  {string.Join("\n  ", distinct)}");
        }

        return seconds;
    }

    private async Task<JsonDocument> SendAsync(HttpMethod method, string route, object? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, route) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _adminToken);
        using var response = await _http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{method} /{route} -> HTTP {(int)response.StatusCode}: {text}");
        }

        return JsonDocument.Parse(text);
    }

    public ValueTask DisposeAsync()
    {
        _admin?.Dispose();
        _root.Dispose();
        _http.Dispose();
        NpgsqlConnection.ClearAllPools();
        return ValueTask.CompletedTask;
    }
}
