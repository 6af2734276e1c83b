using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Keyward.Core.Leases;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Xunit.Abstractions;

namespace Keyward.Server.FunctionalTests.Agents;

/// <summary>
/// The kill switch cannot be outrun: lockdown (and offboarding) raced, round after round, against every path that
/// creates something for the tenant — bootstrap exchange, spawn, bootstrap minting, JWT login, dynamic PostgreSQL
/// credentials, wrapped responses and secret writes. Whatever a racing request obtained is dead once the kill switch
/// has answered: its tokens answer 401, its bootstrap tokens do not exchange, its wraps do not unwrap, its database
/// logins are dropped; and no creating operation of the tenant is recorded as successful after the kill switch in
/// the audit chain. Run on SQLite and on two nodes of one PostgreSQL database.
/// </summary>
public abstract class KillSwitchRaceTests : IAsyncLifetime
{
    private const int Rounds = 50;
    private const string Audience = "keyward";
    private const string Issuer = "https://ci.race.example";

    /// <summary>Operations whose success creates something that must not outlive the kill switch.</summary>
    private static readonly HashSet<string> CreatingOperations = new(StringComparer.Ordinal)
    {
        "auth.exchange", "agent.spawn", "agent.bootstrap", "auth.jwt.login", "creds.postgres.issue", "secret.read", "secret.write",
    };

    private readonly ITestOutputHelper _output;
    private readonly RSA _jwtKey = RSA.Create(2048);
    private PostgresCluster _cluster = null!;
    private PostgresTarget _target = null!;
    private KeywardTestHost[] _nodes = null!;

    protected KillSwitchRaceTests(ITestOutputHelper output) => _output = output;

    /// <summary>The nodes requests are spread over; the kill switch goes to the first.</summary>
    protected abstract Task<KeywardTestHost[]> StartNodesAsync();

    protected abstract Task StopNodesAsync(KeywardTestHost[] nodes);

    public async Task InitializeAsync()
    {
        // A cluster of its own: a server on PostgreSQL refuses an engine connection to its own store's host.
        _cluster = await PostgresCluster.StartPrivateAsync();
        _target = await PostgresTarget.CreateAsync(_cluster);
        _nodes = await StartNodesAsync();
    }

    public async Task DisposeAsync()
    {
        await StopNodesAsync(_nodes);
        await _target.DisposeAsync();
        _cluster.Stop();
        _jwtKey.Dispose();
    }

    [Fact]
    public async Task Lockdown_RacingEveryCreatingPath_LeavesZeroSurvivors()
    {
        var seed = Environment.TickCount;
        _output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        await SetUpTenantAsync("acme");
        var survivors = new List<string>();
        var interleaved = 0;
        for (var round = 0; round < Rounds; round++)
        {
            var admin = await Node(0).MintTokenAsync("acme", "admin");
            var race = await PrepareAsync("acme", admin, round);
            var outcome = await RaceAsync(race, random, async () => await Problems.JsonAsync(await Post(0, KeywardTestHost.RootToken, "/v1/tenants/acme/lockdown", new { reason = "race " + round })));
            using (var unlock = await Post(0, KeywardTestHost.RootToken, "/v1/tenants/acme/unlock"))
            {
                Assert.Equal(HttpStatusCode.NoContent, unlock.StatusCode);
            }

            interleaved += outcome.Interleaved ? 1 : 0;
            survivors.AddRange((await SurvivorsAsync(outcome)).Select(s => $"round {round}: {s}"));
        }

        survivors.AddRange(await LateSuccessesAsync("acme", "tenant.lockdown", "tenant.unlock"));
        survivors.AddRange(await LoginsLeftAsync());
        _output.WriteLine($"{interleaved} of {Rounds} rounds had successes on both sides of the lockdown");
        Assert.True(survivors.Count == 0, $"seed {seed}: {survivors.Count} survivors:\n" + string.Join('\n', survivors.Take(40)));
        Assert.True(interleaved >= Rounds / 5, $"seed {seed}: only {interleaved} of {Rounds} rounds raced the lockdown at all");
        await AssertChainVerifiesAsync();
    }

    [Fact]
    public async Task Offboarding_RacingEveryCreatingPath_LeavesZeroSurvivors()
    {
        var seed = Environment.TickCount;
        _output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        var survivors = new List<string>();
        var interleaved = 0;
        for (var round = 0; round < Rounds; round++)
        {
            var tenant = $"off-{round}";
            var admin = await SetUpTenantAsync(tenant);
            var race = await PrepareAsync(tenant, admin, round) with { CredentialRequests = 2 };
            var outcome = await RaceAsync(race, random, async () =>
            {
                using var response = await Send(0, HttpMethod.Delete, KeywardTestHost.RootToken, "/v1/tenants/" + tenant);
                Assert.True(response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.Accepted, $"offboarding answered {(int)response.StatusCode}");
            });
            interleaved += outcome.Interleaved ? 1 : 0;
            survivors.AddRange((await SurvivorsAsync(outcome)).Select(s => $"round {round}: {s}"));
            survivors.AddRange(await LateSuccessesAsync(tenant, "tenant.delete", null));
        }

        survivors.AddRange(await LoginsLeftAsync());
        _output.WriteLine($"{interleaved} of {Rounds} rounds had successes on both sides of the offboarding");
        Assert.True(survivors.Count == 0, $"seed {seed}: {survivors.Count} survivors:\n" + string.Join('\n', survivors.Take(40)));
        Assert.True(interleaved >= Rounds / 5, $"seed {seed}: only {interleaved} of {Rounds} rounds raced the offboarding at all");
        await AssertChainVerifiesAsync();
    }

    private KeywardTestHost Node(int i) => _nodes[i % _nodes.Length];

    private readonly ConcurrentBag<string> _logins = [];

    /// <summary>A tenant with a role that reads, writes, spawns and gets database logins; a JWT issuer; a connection.</summary>
    private async Task<string> SetUpTenantAsync(string tenant)
    {
        var admin = await Node(0).CreateTenantAsync(tenant);
        await Ok(await Send(0, HttpMethod.Put, admin, "/v1/roles/lead", new
        {
            rules = new object[]
            {
                new { path = "apps/**", capabilities = new[] { "read", "write" } },
                new { path = "creds/postgres/main/*", capabilities = new[] { "read" } },
            },
            max_ttl = "1h",
            may_spawn = new[] { "lead" },
        }));
        await Ok(await Send(0, HttpMethod.Put, admin, "/v1/auth/jwt/issuers/ci", new
        {
            issuer = Issuer,
            public_keys = new[] { _jwtKey.ExportSubjectPublicKeyInfoPem() },
            bound_audiences = new[] { Audience },
            bindings = new[] { new { role = "lead", subject = "*" } },
        }));
        await Ok(await Send(0, HttpMethod.Put, admin, "/v1/engines/postgres/main",
            new { connection_url = _target.Url, username = _target.AdminUser, password = _target.AdminPassword }));
        await Ok(await Send(0, HttpMethod.Put, admin, "/v1/engines/postgres/main/roles/reader",
            new { creation_statements = PostgresTarget.ReaderStatements, default_ttl = "1h", max_ttl = "1h" }));
        await Ok(await Send(0, HttpMethod.Put, admin, "/v1/secrets/apps/web/db", new { data = new { password = "race-canary" } }));
        return admin;
    }

    private sealed record Race(string Tenant, string Admin, string Orchestrator, string[] Bootstraps, string[] Parents, string Jwt, int Round)
    {
        /// <summary>How many of the parents ask for a database login (each tenant keeps its own pool to the database).</summary>
        public int CredentialRequests { get; init; } = 6;
    }

    private async Task<Race> PrepareAsync(string tenant, string admin, int round)
    {
        var orchestrator = await Node(0).MintTokenAsync(tenant, "orchestrator");
        var bootstraps = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => BootstrapAsync(i, orchestrator, $"x-{round}-{i}")));
        var parents = await Task.WhenAll(Enumerable.Range(0, 6).Select(async i =>
        {
            var bootstrap = await BootstrapAsync(i, orchestrator, $"p-{round}-{i}");
            return (await Ok(await Post(i, null, "/v1/auth/exchange", new { bootstrap_token = bootstrap }))).GetProperty("token").GetString()!;
        }));
        return new Race(tenant, admin, orchestrator, bootstraps, parents, SignJwt($"ci-{round}"), round);
    }

    private async Task<string> BootstrapAsync(int node, string orchestrator, string agentId) =>
        (await Ok(await Post(node, orchestrator, "/v1/agents/bootstrap", new { agent_id = agentId, run_id = "run", role = "lead", ttl = "30m" })))
            .GetProperty("bootstrap_token").GetString()!;

    private enum Kind
    {
        Session,
        Bootstrap,
        Wrap,
        Login,
        Version,
    }

    private sealed record Obtained(Kind Kind, string What, string Value, string? Extra = null);

    private sealed record Outcome(Race Race, IReadOnlyList<Obtained> Obtained, bool Interleaved);

    /// <summary>
    /// Every creating request at once, spread over the nodes, with the kill switch fired after a random pause; what each
    /// successful request obtained is kept, with whether it succeeded after the kill switch had been sent.
    /// </summary>
    private async Task<Outcome> RaceAsync(Race race, Random random, Func<Task> killSwitch)
    {
        var obtained = new ConcurrentBag<Obtained>();
        var killed = 0;
        var before = 0;
        var after = 0;
        var operations = new List<Func<Task>>();
        for (var i = 0; i < race.Bootstraps.Length; i++)
        {
            var (node, bootstrap) = (i, race.Bootstraps[i]);
            operations.Add(async () =>
            {
                if (await TryAsync(Post(node, null, "/v1/auth/exchange", new { bootstrap_token = bootstrap })) is { } body)
                {
                    obtained.Add(new Obtained(Kind.Session, "exchange", body.GetProperty("token").GetString()!));
                }
            });
        }

        for (var i = 0; i < race.Parents.Length; i++)
        {
            var (node, parent) = (i, race.Parents[i]);
            operations.Add(async () =>
            {
                if (await TryAsync(Post(node, parent, "/v1/agents/spawn", new { agent_id = $"c-{race.Round}-{node}", ttl = "10m" })) is { } body)
                {
                    obtained.Add(new Obtained(Kind.Bootstrap, "spawn", body.GetProperty("bootstrap_token").GetString()!));
                }
            });
            operations.Add(async () =>
            {
                if (node >= race.CredentialRequests)
                {
                    return;
                }

                if (await TryAsync(Post(node + 1, parent, "/v1/creds/postgres/main/reader")) is { } body)
                {
                    var login = body.GetProperty("username").GetString()!;
                    _logins.Add(login);
                    obtained.Add(new Obtained(Kind.Login, "creds", login));
                }
            });
            operations.Add(async () =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/secrets/apps/web/db");
                request.Headers.Add("X-Keyward-Wrap-TTL", "5m");
                using var client = Node(node).Client(parent);
                if (await TryAsync(client.SendAsync(request)) is { } body)
                {
                    obtained.Add(new Obtained(Kind.Wrap, "wrapped read", body.GetProperty("wrap_info").GetProperty("token").GetString()!));
                }
            });
            operations.Add(async () =>
            {
                if (await TryAsync(Post(node + 1, race.Orchestrator, "/v1/agents/bootstrap",
                        new { agent_id = $"b-{race.Round}-{node}", run_id = "run", role = "lead", ttl = "30m" })) is { } body)
                {
                    obtained.Add(new Obtained(Kind.Bootstrap, "bootstrap", body.GetProperty("bootstrap_token").GetString()!));
                }
            });
            operations.Add(async () =>
            {
                if (await TryAsync(Post(node, null, "/v1/auth/jwt/login", new { tenant = race.Tenant, role = "lead", jwt = race.Jwt })) is { } body)
                {
                    obtained.Add(new Obtained(Kind.Session, "jwt login", body.GetProperty("token").GetString()!));
                }
            });
            operations.Add(async () =>
            {
                var path = $"apps/race/{race.Round}-{node}";
                if (await TryAsync(Send(node + 1, HttpMethod.Put, race.Admin, "/v1/secrets/" + path, new { data = new { v = "x" } })) is { } body)
                {
                    obtained.Add(new Obtained(Kind.Version, "write", path, body.GetProperty("version").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture)));
                }
            });
        }

        async Task RunAsync(Func<Task> operation)
        {
            await Task.Yield();
            var sent = Volatile.Read(ref killed);
            var count = obtained.Count;
            await operation();
            if (obtained.Count > count)
            {
                Interlocked.Increment(ref sent == 0 ? ref before : ref after);
            }
        }

        var pause = random.Next(0, 12);
        var all = operations.OrderBy(_ => random.Next()).Select(RunAsync).ToList();
        all.Add(Task.Run(async () =>
        {
            await Task.Delay(pause);
            Interlocked.Exchange(ref killed, 1);
            await killSwitch();
        }));
        await Task.WhenAll(all);
        return new Outcome(race, [.. obtained], before > 0 && (after > 0 || obtained.Count < operations.Count));
    }

    /// <summary>What still works after the kill switch, of what the race obtained.</summary>
    private async Task<IReadOnlyList<string>> SurvivorsAsync(Outcome outcome)
    {
        var survivors = await Task.WhenAll(outcome.Obtained.Select(async item =>
        {
            Task<HttpResponseMessage>? probe = item.Kind switch
            {
                Kind.Session => Node(1).Client(item.Value).GetAsync("/v1/auth/self"),
                Kind.Bootstrap => Post(1, null, "/v1/auth/exchange", new { bootstrap_token = item.Value }),
                Kind.Wrap => Node(1).Client(item.Value).PostAsync("/v1/wrapping/unwrap", null),
                _ => null, // logins are checked on the database once the sweeper ran; versions by the audit chain's order
            };
            if (probe is null)
            {
                return null;
            }

            using var response = await probe;
            return response.StatusCode == HttpStatusCode.OK ? $"a {item.Kind} from {item.What} still works" : null;
        }));
        return [.. survivors.OfType<string>()];
    }

    /// <summary>
    /// Successful creating operations of <paramref name="tenant"/> recorded after the kill switch's record (and before
    /// <paramref name="reopened"/>'s, if any) in the audit chain.
    /// </summary>
    private async Task<IReadOnlyList<string>> LateSuccessesAsync(string tenant, string killSwitch, string? reopened)
    {
        var records = await new AuditLog(Node(0), route: "/v1/sys/audit?tenant=" + tenant).RefreshAsync();
        var late = new List<string>();
        var closed = false;
        foreach (var record in records)
        {
            var operation = record.GetProperty("operation").GetString()!;
            if (operation == killSwitch && record.GetProperty("outcome").GetString() == "ok")
            {
                closed = true;
            }
            else if (operation == reopened)
            {
                closed = false;
            }
            else if (closed && CreatingOperations.Contains(operation) && record.GetProperty("outcome").GetString() == "ok")
            {
                late.Add($"{operation} ok at seq {record.GetProperty("seq").GetInt64()}, after {killSwitch}");
            }
        }

        return late;
    }

    /// <summary>Database logins the races obtained that still exist once the sweeper has run its clean-ups.</summary>
    private async Task<IReadOnlyList<string>> LoginsLeftAsync()
    {
        IReadOnlyList<string> left = [];
        for (var attempt = 0; attempt < 40; attempt++)
        {
            foreach (var node in _nodes)
            {
                await node.Services.GetRequiredService<Sweeper>().SweepOnceAsync();
            }

            left = await _target.ExistingAsync(_logins);
            if (left.Count == 0)
            {
                return [];
            }

            await Task.Delay(250);
        }

        return [.. left.Select(l => $"database login {l} still exists after the sweeper's clean-ups")];
    }

    private async Task AssertChainVerifiesAsync()
    {
        var verify = await Ok(await Node(0).Client().GetAsync("/v1/sys/audit/verify"));
        Assert.True(verify.GetProperty("ok").GetBoolean(), verify.ToString());
    }

    private string SignJwt(string subject) => new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
    {
        Issuer = Issuer,
        Audience = Audience,
        IssuedAt = DateTime.UtcNow,
        Expires = DateTime.UtcNow.AddHours(1),
        Claims = new Dictionary<string, object> { ["sub"] = subject },
        SigningCredentials = new SigningCredentials(new RsaSecurityKey(_jwtKey), SecurityAlgorithms.RsaSha256),
    });

    private static async Task<JsonElement?> TryAsync(Task<HttpResponseMessage> send)
    {
        using var response = await send;
        if (!response.IsSuccessStatusCode)
        {
            Assert.True((int)response.StatusCode is 401 or 403 or 404 or 409 or 423,
                $"a request racing the kill switch answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            return null;
        }

        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    private static async Task<JsonElement> Ok(HttpResponseMessage response)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
            if (text.Length == 0)
            {
                return default;
            }

            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
    }

    private Task<HttpResponseMessage> Post(int node, string? token, string route, object? body = null) => Send(node, HttpMethod.Post, token, route, body ?? new { });

    private async Task<HttpResponseMessage> Send(int node, HttpMethod method, string? token, string route, object? body = null)
    {
        using var client = Node(node).Client(token);
        using var request = new HttpRequestMessage(method, route) { Content = body is null ? null : JsonContent.Create(body) };
        return await client.SendAsync(request);
    }
}

/// <summary>The races on the embedded store: one node, one writer.</summary>
public sealed class SqliteKillSwitchRaceTests(ITestOutputHelper output) : KillSwitchRaceTests(output)
{
    protected override async Task<KeywardTestHost[]> StartNodesAsync() => [await KeywardTestHost.StartAsync()];

    protected override async Task StopNodesAsync(KeywardTestHost[] nodes)
    {
        foreach (var node in nodes)
        {
            await node.DisposeAsync();
        }
    }
}

/// <summary>The races on two nodes of one PostgreSQL database: requests go to both, the kill switch to the first.</summary>
public sealed class PostgresKillSwitchRaceTests(ITestOutputHelper output) : KillSwitchRaceTests(output)
{
    private readonly TempDirectory _data = new();
    private string _database = null!;

    protected override async Task<KeywardTestHost[]> StartNodesAsync()
    {
        var cluster = await PostgresCluster.GetAsync();
        _database = await cluster.CreateDatabaseAsync();
        var options = new KeywardServerOptions
        {
            Dev = true,
            DevRootToken = KeywardTestHost.RootToken,
            DataDirectory = _data.Path,
            Storage = KeywardServerOptions.PostgresStorage,
            PostgresConnectionString = cluster.ConnectionString(_database),
        };
        return [await KeywardTestHost.StartAsync(options), await KeywardTestHost.StartAsync(options)];
    }

    protected override async Task StopNodesAsync(KeywardTestHost[] nodes)
    {
        foreach (var node in nodes.Reverse())
        {
            await node.DisposeAsync();
        }

        await (await PostgresCluster.GetAsync()).DropDatabaseAsync(_database);
        _data.Dispose();
    }
}
