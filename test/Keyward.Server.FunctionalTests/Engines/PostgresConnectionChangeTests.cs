using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Keyward.Engines.Postgres;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Engines;

/// <summary>
/// Changing where a PostgreSQL connection points: the sealed admin password never goes to a host the request did not
/// also give it for, never in cleartext, and never while logins issued on the old target are still open.
/// </summary>
public sealed class PostgresConnectionChangeTests : IAsyncLifetime
{
    private KeywardTestHost _host = null!;
    private PostgresTarget _target = null!;
    private AgentWorld _world = null!;

    public async Task InitializeAsync()
    {
        _target = await PostgresTarget.CreateAsync();
        _host = await KeywardTestHost.StartAsync();
        _world = await AgentWorld.CreateAsync(_host, "acme");
        await _world.PutRoleAsync("db", [AgentWorld.Rule("creds/postgres/main/*", "read")], "1h");
        await Problems.JsonAsync(await PutConnectionAsync("main", new { connection_url = _target.Url, username = _target.AdminUser, password = _target.AdminPassword }));
        await Problems.JsonAsync(await SendAsync(HttpMethod.Put, _world.Admin, "/v1/engines/postgres/main/roles/reader",
            new { creation_statements = PostgresTarget.ReaderStatements, default_ttl = "1h", max_ttl = "2h" }));
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _target.DisposeAsync();
    }

    private Task<HttpResponseMessage> PutConnectionAsync(string name, object body) => SendAsync(HttpMethod.Put, _world.Admin, $"/v1/engines/postgres/{name}", body);

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string? token, string route, object? body = null)
    {
        using var client = _host.Client(token);
        using var request = new HttpRequestMessage(method, route) { Content = body is null ? null : JsonContent.Create(body) };
        return await client.SendAsync(request);
    }

    private static string Url(int port, string database) => $"postgresql://127.0.0.1:{port}/{database}?sslmode=disable&connect_timeout=2";

    [Fact]
    public async Task Put_RepointedWithoutThePassword_400PasswordRequired_AndNothingConnectsToTheNewTarget()
    {
        // A listener standing in for somebody else's server: any connection attempt reaches its backlog.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var before = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/engines/postgres/main"));

            // Act: another host (here: port), another database, another login — each without the password.
            var otherHost = await PutConnectionAsync("main", new { connection_url = Url(port, _target.Database), username = _target.AdminUser });
            var otherDatabase = await PutConnectionAsync("main", new { connection_url = Url(_target.Cluster.Port, "postgres"), username = _target.AdminUser });
            var otherUser = await PutConnectionAsync("main", new { connection_url = _target.Url, username = "postgres" });

            // Assert: refused before any connection, and the connection is as it was.
            foreach (var response in new[] { otherHost, otherDatabase, otherUser })
            {
                var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "password_required");
                Assert.DoesNotContain(_target.AdminPassword, problem.GetRawText(), StringComparison.Ordinal);
            }

            Assert.False(listener.Pending(), "Keyward connected to the new target with the stored password");
            var after = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/engines/postgres/main"));
            Assert.Equal(before.GetRawText(), after.GetRawText());

            // The same target without the password (another lease limit) still keeps the stored password.
            await Problems.JsonAsync(await PutConnectionAsync("main", new { connection_url = _target.Url, username = _target.AdminUser, max_open_leases = 5 }));
        }
        finally
        {
            listener.Stop();
        }
    }

    [Fact]
    public async Task Put_ServerAsksForTheCleartextPassword_IsRefusedAndThePasswordIsNeverSent()
    {
        // A cluster whose pg_hba.conf asks every login but the superuser for its password in cleartext.
        var cluster = await PostgresCluster.StartPrivateAsync(passwordMethod: "password", logConnections: true);
        try
        {
            var target = await PostgresTarget.CreateAsync(cluster);

            var refused = await Problems.AssertProblemAsync(
                await PutConnectionAsync("plain", new { connection_url = target.Url, username = target.AdminUser, password = target.AdminPassword }),
                HttpStatusCode.BadGateway, "engine_unavailable");
            Assert.Contains("cleartext", refused.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.DoesNotContain(target.AdminPassword, refused.GetRawText(), StringComparison.Ordinal);
            await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/engines/postgres/plain"), HttpStatusCode.NotFound, "engine_not_found");

            // The server would have taken the password: a client that sends it in cleartext logs in. That login is the
            // only successful authentication of Keyward's login the server saw, and no attempt failed: Keyward never sent it.
            Assert.Equal((true, null), await target.TryReadAsync(target.AdminUser, target.AdminPassword));
            var log = await File.ReadAllTextAsync(cluster.LogFile);
            Assert.Single(Regex.Matches(log, $"connection authorized: user={target.AdminUser} "));
            Assert.DoesNotContain("password authentication failed", log, StringComparison.Ordinal);
            await target.DisposeAsync();
        }
        finally
        {
            cluster.Stop();
        }
    }

    [Fact]
    public async Task Put_RepointedWhileALeaseIsOpen_409EngineInUse_ThenTheLoginIsDroppedWhereItWasMade()
    {
        var agent = await _world.StartAgentAsync("a1", "r1", role: "db");
        var login = await Problems.JsonAsync(await SendAsync(HttpMethod.Post, agent.Token, "/v1/creds/postgres/main/reader"));
        var username = login.GetProperty("username").GetString()!;
        await using var other = await PostgresTarget.CreateAsync();
        var repoint = new { connection_url = other.Url, username = other.AdminUser, password = other.AdminPassword };

        // Act: re-point while the login's lease is open.
        await Problems.AssertProblemAsync(await PutConnectionAsync("main", repoint), HttpStatusCode.Conflict, "engine_in_use");

        // Assert: the connection still points where the login is, so ending the lease drops it there.
        var connection = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/engines/postgres/main"));
        Assert.Equal(_target.Url + "&connect_timeout=5", connection.GetProperty("connection_url").GetString());
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Post, agent.Token, "/v1/leases/revoke", new { lease_id = login.GetProperty("lease_id").GetString() })).StatusCode);
        Assert.True(await PostgresTarget.EventuallyAsync(async () => !await _target.RoleExistsAsync(username)), "the login was not dropped");

        // Once its clean-up is done, the connection may move.
        Assert.True(await PostgresTarget.EventuallyAsync(async () => (await PutConnectionAsync("main", repoint)).StatusCode == HttpStatusCode.OK));
        var moved = await Problems.JsonAsync(await SendAsync(HttpMethod.Post, agent.Token, "/v1/creds/postgres/main/reader"));
        var movedUser = moved.GetProperty("username").GetString()!;
        Assert.Equal((true, null), await other.TryReadAsync(movedUser, moved.GetProperty("password").GetString()!));
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Post, agent.Token, "/v1/leases/revoke", new { lease_id = moved.GetProperty("lease_id").GetString() })).StatusCode);
        Assert.True(await PostgresTarget.EventuallyAsync(async () => !await other.RoleExistsAsync(movedUser)), "the login on the new target was not dropped");
    }

    [Fact]
    public async Task Put_RepointingWhileLoginsAreIssued_NeverStrandsALogin()
    {
        // Two databases; each round re-points the connection to the other while six logins are being issued, then ends
        // every lease. Whatever the interleaving, every login must be dropped: none made on a target the connection left.
        var agent = await _world.StartAgentAsync("a1", "r1", role: "db");
        await using var other = await PostgresTarget.CreateAsync();
        PostgresTarget[] targets = [_target, other];
        var at = 0;
        var moved = 0;
        for (var round = 0; round < 12; round++)
        {
            var next = targets[1 - at];
            var put = PutConnectionAsync("main", new { connection_url = next.Url, username = next.AdminUser, password = next.AdminPassword });

            // The issuances start later each round (0 to 220 ms after the PUT), so that over the rounds they meet the PUT
            // before, during and after its commit. Not a timed assertion: whatever the timing, no login may survive.
            await Task.Delay(TimeSpan.FromMilliseconds(round * 20));
            var issued = Enumerable.Range(0, 6).Select(_ => SendAsync(HttpMethod.Post, agent.Token, "/v1/creds/postgres/main/reader")).ToList();
            using var answer = await put;
            var responses = await Task.WhenAll(issued);
            if (answer.StatusCode == HttpStatusCode.OK)
            {
                at = 1 - at;
                moved++;
            }
            else
            {
                await Problems.AssertProblemAsync(answer, HttpStatusCode.Conflict, "engine_in_use");
            }

            foreach (var response in responses)
            {
                Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict, $"round {round}: issuance answered {(int)response.StatusCode}");
                response.Dispose();
            }

            await Problems.JsonAsync(await SendAsync(HttpMethod.Post, _world.Admin, "/v1/leases/revoke-prefix", new { prefix = "creds/postgres/main" }));
            Assert.True(await PostgresTarget.EventuallyAsync(async () => await _target.CountLoginsAsync() + await other.CountLoginsAsync() == 0, seconds: 30),
                $"round {round}: a login survived the end of its lease (stranded on a target the connection left)");
        }

        Assert.True(moved > 0, "the connection never moved: the race was not exercised");
    }

    [Fact]
    public async Task Issue_ConnectionRepointedAfterItWasLoaded_409EngineChangedAndNoLoginAnywhere()
    {
        var agent = await _world.StartAgentAsync("a1", "r1", role: "db");
        await using var other = await PostgresTarget.CreateAsync();
        var engine = _host.Services.GetRequiredService<PostgresEngine>();

        // The issuance has loaded the connection (pointing at _target) when the connection moves to the other database.
        engine.AfterIssueLoad = async () =>
        {
            engine.AfterIssueLoad = null;
            await Problems.JsonAsync(await PutConnectionAsync("main", new { connection_url = other.Url, username = other.AdminUser, password = other.AdminPassword }));
        };
        using var issued = await SendAsync(HttpMethod.Post, agent.Token, "/v1/creds/postgres/main/reader");

        // Its lease would be cleaned up on the other database, so it is refused before anything is made.
        await Problems.AssertProblemAsync(issued, HttpStatusCode.Conflict, "engine_changed");
        Assert.Equal((0L, 0L), (await _target.CountLoginsAsync(), await other.CountLoginsAsync()));
        var leases = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/leases?prefix=creds/postgres/main"));
        Assert.Equal(0, leases.GetProperty("leases").GetArrayLength());
    }
}
