using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Keyward.Client;
using Keyward.Client.Models;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Tests.Common;
using Microsoft.AspNetCore.TestHost;

namespace Keyward.Server.FunctionalTests.Engines;

/// <summary>
/// Dynamic PostgreSQL credentials end to end, against a real cluster: a tenant admin registers a connection and a
/// role, an agent gets a unique login and uses it, and every way its lease ends drops the login.
/// </summary>
public sealed partial class PostgresCredentialTests : IAsyncLifetime
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
        await PutConnectionAsync(_world.Admin, "main");
        await PutRoleAsync(_world.Admin, "main", "reader", PostgresTarget.ReaderStatements);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _target.DisposeAsync();
    }

    private Task<HttpResponseMessage> PutConnectionAsync(string token, string name, object? body = null) =>
        SendAsync(HttpMethod.Put, token, $"/v1/engines/postgres/{name}",
            body ?? new { connection_url = _target.Url, username = _target.AdminUser, password = _target.AdminPassword });

    private async Task PutRoleAsync(string token, string name, string role, string[] creation, string defaultTtl = "1h", string maxTtl = "2h", string[]? revocation = null) =>
        await Problems.JsonAsync(await SendAsync(HttpMethod.Put, token, $"/v1/engines/postgres/{name}/roles/{role}",
            revocation is null
                ? new { creation_statements = creation, default_ttl = defaultTtl, max_ttl = maxTtl }
                : new { creation_statements = creation, revocation_statements = revocation, default_ttl = defaultTtl, max_ttl = maxTtl }));

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string? token, string route, object? body = null)
    {
        using var client = _host.Client(token);
        using var request = new HttpRequestMessage(method, route) { Content = body is null ? null : JsonContent.Create(body) };
        return await client.SendAsync(request);
    }

    private async Task<AgentSessionInfo> AgentAsync(string id = "a1", string run = "r1") => await _world.StartAgentAsync(id, run, role: "db");

    private async Task<(string Username, string Password, string LeaseId, long Duration)> IssueAsync(string token, string name = "main", string role = "reader")
    {
        var body = await Problems.JsonAsync(await SendAsync(HttpMethod.Post, token, $"/v1/creds/postgres/{name}/{role}"));
        return (body.GetProperty("username").GetString()!, body.GetProperty("password").GetString()!, body.GetProperty("lease_id").GetString()!,
            body.GetProperty("lease_duration").GetInt64());
    }

    [Fact]
    public async Task Issue_GivesAUniqueWorkingLogin_WhosePasswordNoReadAuditOrLogEverShows()
    {
        var agent = await AgentAsync();
        var first = await IssueAsync(agent.Token);
        var second = await IssueAsync(agent.Token);

        Assert.NotEqual(first.Username, second.Username);
        foreach (var login in new[] { first, second })
        {
            Assert.Matches(UsernamePattern(), login.Username);
            Assert.True(System.Text.Encoding.UTF8.GetByteCount(login.Username) <= 63);
            Assert.Matches(PasswordPattern(), login.Password);
            Assert.StartsWith("creds/postgres/main/reader/", login.LeaseId, StringComparison.Ordinal);
            Assert.InRange(login.Duration, 1790, 1800); // the role's 1 h, capped by the agent's 30 min session
            Assert.Equal((true, null), await _target.TryReadAsync(login.Username, login.Password));

            // VALID UNTIL is the lease's expiry (to the second).
            var validUntil = await _target.ValidUntilAsync(login.Username);
            Assert.NotNull(validUntil);
            Assert.InRange(validUntil.Value, DateTimeOffset.UtcNow.AddSeconds(1785), DateTimeOffset.UtcNow.AddSeconds(1801));
        }

        // The lease is the agent's, and traceable: the audit record names lease and login, never the password.
        var leases = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/leases?prefix=creds/postgres/main"));
        Assert.Equal(2, leases.GetProperty("leases").GetArrayLength());
        Assert.All(leases.GetProperty("leases").EnumerateArray(), l => Assert.Equal(agent.Accessor, l.GetProperty("owner_accessor").GetString()));

        var engine = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/engines/postgres/main"));
        Assert.False(engine.TryGetProperty("password", out _));
        Assert.Equal(_target.AdminUser, engine.GetProperty("username").GetString());
        var list = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/engines/postgres"));

        var audit = await _world.AuditAsync();
        var issued = audit.Where(r => r.GetProperty("operation").GetString() == "creds.postgres.issue").ToList();
        Assert.Equal(2, issued.Count);
        Assert.Contains(issued, r => r.GetRawText().Contains(first.Username, StringComparison.Ordinal));
        var everything = string.Join('\n', audit.Select(r => r.GetRawText())) + engine.GetRawText() + list.GetRawText() + string.Join('\n', _host.Logs.Lines);
        foreach (var secret in new[] { first.Password, second.Password, _target.AdminPassword })
        {
            Assert.DoesNotContain(secret, everything, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ThePasswordsNeverReachTheDatabase_OnlyTheirScramVerifiers()
    {
        // Everything Keyward's login sends is written to the server's log from now on.
        await _target.Cluster.ExecuteAsync($"ALTER ROLE {_target.AdminUser} SET log_statement = 'all'");
        await Problems.JsonAsync(await SendAsync(HttpMethod.Post, _world.Admin, "/v1/engines/postgres/main/rotate-root"));
        var login = await IssueAsync((await AgentAsync()).Token);
        Assert.Equal((true, null), await _target.TryReadAsync(login.Username, login.Password));

        var log = await File.ReadAllTextAsync(_target.Cluster.LogFile);
        Assert.Contains($"CREATE ROLE \"{login.Username}\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:", log, StringComparison.Ordinal);
        Assert.Contains("ALTER ROLE CURRENT_USER WITH PASSWORD 'SCRAM-SHA-256$4096:", log, StringComparison.Ordinal);
        Assert.DoesNotContain(login.Password, log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_TerminatesTheLoginsSessions_AndDropsIt()
    {
        var agent = await AgentAsync();
        var login = await IssueAsync(agent.Token);
        await using var open = await _target.OpenAsync(login.Username, login.Password);

        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Post, agent.Token, "/v1/leases/revoke", new { lease_id = login.LeaseId })).StatusCode);

        Assert.True(await PostgresTarget.EventuallyAsync(async () => !await _target.RoleExistsAsync(login.Username)), "the login was not dropped");
        Assert.False((await _target.TryReadAsync(login.Username, login.Password)).LoggedIn);
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var command = new Npgsql.NpgsqlCommand("SELECT 1", open);
            await command.ExecuteScalarAsync();
        });
    }

    [Fact]
    public async Task TokenTreeAndRunCompletion_DropTheLoginsOfTheirLeases()
    {
        var byRevocation = await AgentAsync("a1", "r1");
        var byRun = await AgentAsync("a2", "r2");
        var revoked = await IssueAsync(byRevocation.Token);
        var completed = await IssueAsync(byRun.Token);
        var untouched = await IssueAsync((await AgentAsync("a3", "r3")).Token);

        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Post, byRevocation.Token, "/v1/auth/revoke-self")).StatusCode);
        Assert.True((await SendAsync(HttpMethod.Post, _world.Orchestrator, "/v1/runs/r2/complete")).IsSuccessStatusCode);

        Assert.True(await PostgresTarget.EventuallyAsync(async () => (await _target.ExistingAsync([revoked.Username, completed.Username])).Count == 0));
        Assert.Equal((true, null), await _target.TryReadAsync(untouched.Username, untouched.Password));
    }

    [Fact]
    public async Task Lockdown_ReturnsAtOnceWithPendingExternal_ThenEveryLoginIsGone()
    {
        var logins = new List<(string Username, string Password, string LeaseId, long Duration)>();
        for (var i = 0; i < 3; i++)
        {
            logins.Add(await IssueAsync((await AgentAsync($"a{i}", $"r{i}")).Token));
        }

        var lockdown = await Problems.JsonAsync(await SendAsync(HttpMethod.Post, KeywardTestHost.RootToken, "/v1/tenants/acme/lockdown", new { reason = "db creds leaked" }));
        Assert.Equal(3, lockdown.GetProperty("pending_external").GetInt32());

        Assert.True(await PostgresTarget.EventuallyAsync(async () => (await _target.ExistingAsync(logins.Select(l => l.Username))).Count == 0));
        foreach (var login in logins)
        {
            Assert.False((await _target.TryReadAsync(login.Username, login.Password)).LoggedIn);
        }
    }

    [Fact]
    public async Task Offboarding_KeepsTheTenantsKeysUntilItsLoginsAreDropped_ThenDestroysThem()
    {
        var login = await IssueAsync((await AgentAsync()).Token);
        var uid = await ReadAsync(async s => (await s.Tenants.GetByIdAsync("acme"))!.Uid);

        // The drop needs Keyward's login, whose password is sealed under the tenant's key: make the first attempt fail.
        await _target.AsSuperuserAsync(
            $"ALTER ROLE {_target.AdminUser} NOLOGIN; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{_target.AdminUser}'");
        var response = await SendAsync(HttpMethod.Delete, KeywardTestHost.RootToken, "/v1/tenants/acme");
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);

        await Task.Delay(1500);
        Assert.True(await _target.RoleExistsAsync(login.Username));
        Assert.NotEmpty(await ReadAsync(s => s.TenantKeys.ListAsync(uid)));

        await _target.AsSuperuserAsync($"ALTER ROLE {_target.AdminUser} LOGIN");
        Assert.True(await PostgresTarget.EventuallyAsync(async () => !await _target.RoleExistsAsync(login.Username), seconds: 30), "the login was not dropped");
        Assert.True(await PostgresTarget.EventuallyAsync(async () => (await ReadAsync(s => s.TenantKeys.ListAsync(uid))).Count == 0), "the keys were not destroyed");
    }

    private async Task<T> ReadAsync<T>(Func<Keyward.Core.Storage.IStoreSession, Task<T>> read)
    {
        await using var session = await _host.Store.ReadAsync();
        return await read(session);
    }

    [Fact]
    public async Task Expiry_RefusesTheLoginAtValidUntil_ThenTheSweeperDropsIt()
    {
        await PutRoleAsync(_world.Admin, "main", "brief", PostgresTarget.ReaderStatements, defaultTtl: "3s", maxTtl: "3s");
        await _world.PutRoleAsync("db", [AgentWorld.Rule("creds/postgres/main/*", "read")], "1h");
        var login = await IssueAsync((await AgentAsync()).Token, role: "brief");
        Assert.InRange(login.Duration, 1, 3);
        Assert.Equal((true, null), await _target.TryReadAsync(login.Username, login.Password));

        await Task.Delay(TimeSpan.FromSeconds(3.5));
        Assert.False((await _target.TryReadAsync(login.Username, login.Password)).LoggedIn);
        Assert.True(await PostgresTarget.EventuallyAsync(async () => !await _target.RoleExistsAsync(login.Username)), "the expired login was not dropped");
    }

    [Fact]
    public async Task Renew_ExtendsValidUntil_NeverPastMaxTtl()
    {
        await PutRoleAsync(_world.Admin, "main", "short", PostgresTarget.ReaderStatements, defaultTtl: "60s", maxTtl: "10m");
        var agent = await AgentAsync();
        var login = await IssueAsync(agent.Token, role: "short");
        var before = await _target.ValidUntilAsync(login.Username);

        var renewed = await Problems.JsonAsync(await SendAsync(HttpMethod.Post, agent.Token, "/v1/leases/renew", new { lease_id = login.LeaseId, increment = "5m" }));
        var after = await _target.ValidUntilAsync(login.Username);
        Assert.InRange(renewed.GetProperty("lease_duration").GetInt64(), 290, 300);
        Assert.NotNull(after);
        Assert.True(after > before!.Value.AddMinutes(3), $"VALID UNTIL {before} → {after}");

        var capped = await Problems.JsonAsync(await SendAsync(HttpMethod.Post, agent.Token, "/v1/leases/renew", new { lease_id = login.LeaseId, increment = "1h" }));
        Assert.InRange(capped.GetProperty("lease_duration").GetInt64(), 590, 600);
        Assert.InRange((await _target.ValidUntilAsync(login.Username))!.Value, DateTimeOffset.UtcNow.AddSeconds(585), DateTimeOffset.UtcNow.AddSeconds(601));
    }

    [Fact]
    public async Task Issue_IsRefusedWithoutReadOnTheCredsPath_AndAcrossTenants()
    {
        var other = await _world.StartAgentAsync("w1", "r9", role: "worker");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Post, other.Token, "/v1/creds/postgres/main/reader"), HttpStatusCode.Forbidden, "permission_denied");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Post, _world.Orchestrator, "/v1/engines/postgres/main/rotate-root"), HttpStatusCode.Forbidden, "admin_token_required");

        // Another tenant names the same connection: it is not theirs to see, use or delete.
        var globex = await AgentWorld.CreateAsync(_host, "globex");
        await globex.PutRoleAsync("db", [AgentWorld.Rule("creds/postgres/main/*", "read")], "1h");
        var intruder = await globex.StartAgentAsync("x", "rx", role: "db");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Post, intruder.Token, "/v1/creds/postgres/main/reader"), HttpStatusCode.NotFound, "engine_not_found");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Get, globex.Admin, "/v1/engines/postgres/main"), HttpStatusCode.NotFound, "engine_not_found");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Delete, globex.Admin, "/v1/engines/postgres/main"), HttpStatusCode.NotFound, "engine_not_found");
        Assert.Equal(0, (await Problems.JsonAsync(await SendAsync(HttpMethod.Get, globex.Admin, "/v1/engines/postgres"))).GetProperty("connections").GetArrayLength());
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Post, (await AgentAsync()).Token, "/v1/creds/postgres/main/nosuchrole"), HttpStatusCode.NotFound, "engine_role_not_found");
    }

    [Theory]
    [InlineData("postgresql://169.254.169.254:5432/db", 403, "engine_host_not_allowed")]
    [InlineData("postgresql://10.1.2.3:5432/db", 403, "engine_host_not_allowed")]
    [InlineData("Host=metadata.google.internal;Database=db", 403, "engine_host_not_allowed")]
    [InlineData("postgresql://0.0.0.0:5432/db", 403, "engine_host_not_allowed")]
    [InlineData("postgresql://me:secret@127.0.0.1:5432/db", 400, "invalid_connection_url")]
    [InlineData("Host=127.0.0.1;Database=db;Password=secret", 400, "invalid_connection_url")]
    [InlineData("Host=127.0.0.1;Database=db;Include Error Detail=true", 400, "invalid_connection_url")]
    [InlineData("postgresql://127.0.0.1:5432/db?options=-c%20log_statement%3Dnone", 400, "invalid_connection_url")]
    [InlineData("Host=127.0.0.1,10.0.0.1;Database=db", 400, "invalid_connection_url")]
    [InlineData("postgresql://127.0.0.1:5432/", 400, "invalid_connection_url")]
    [InlineData("mysql://127.0.0.1/db", 400, "invalid_connection_url")]
    public async Task Connection_HostsAndUrlsOutsideTheRules_AreRefusedBeforeAnyConnection(string url, int status, string code)
    {
        await Problems.AssertProblemAsync(
            await PutConnectionAsync(_world.Admin, "evil", new { connection_url = url, username = "u", password = "p" }), (HttpStatusCode)status, code);
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/engines/postgres/evil"), HttpStatusCode.NotFound, "engine_not_found");
    }

    [Fact]
    public async Task Connection_WithAWrongPassword_IsRefusedAs502_WithoutEchoingIt()
    {
        const string wrong = "Wr0ngPassw0rdThatMustNeverBeEchoed";
        var refused = await Problems.AssertProblemAsync(
            await PutConnectionAsync(_world.Admin, "typo", new { connection_url = _target.Url, username = _target.AdminUser, password = wrong }),
            HttpStatusCode.BadGateway, "engine_unavailable");
        Assert.DoesNotContain(wrong, refused.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, string.Join('\n', _host.Logs.Lines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Role_WithAMisspeltPlaceholderOrNoLogin_IsRefused()
    {
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Put, _world.Admin, "/v1/engines/postgres/main/roles/bad",
            new { creation_statements = new[] { "CREATE ROLE \"{{name}}\" PASSWORD '{{pasword}}'" } }), HttpStatusCode.BadRequest, "invalid_field");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Put, _world.Admin, "/v1/engines/postgres/main/roles/bad",
            new { creation_statements = new[] { "SELECT 1" } }), HttpStatusCode.BadRequest, "invalid_field");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Put, _world.Admin, "/v1/engines/postgres/main/roles/bad",
            new { creation_statements = PostgresTarget.ReaderStatements, default_ttl = "2h", max_ttl = "1h" }), HttpStatusCode.BadRequest, "invalid_field");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Put, _world.Admin, "/v1/engines/postgres/main/roles/bad",
            new { creation_statements = PostgresTarget.ReaderStatements, unknown = 1 }), HttpStatusCode.BadRequest, "unknown_field");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Put, _world.Admin, "/v1/engines/postgres/nosuch/roles/r",
            new { creation_statements = PostgresTarget.ReaderStatements }), HttpStatusCode.NotFound, "engine_not_found");
    }

    [Fact]
    public async Task AFailingCreationStatement_LeavesNoLoginAndNoLiveLease()
    {
        await PutRoleAsync(_world.Admin, "main", "broken", [.. PostgresTarget.ReaderStatements, "GRANT SELECT ON no_such_table TO \"{{name}}\""]);
        var agent = await AgentAsync();

        var refused = await Problems.AssertProblemAsync(
            await SendAsync(HttpMethod.Post, agent.Token, "/v1/creds/postgres/main/broken"), HttpStatusCode.BadGateway, "engine_statement_failed");
        Assert.Contains("creation statement 3", refused.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("42P01", refused.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var leases = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/leases?prefix=creds/postgres/main/broken"));
        Assert.Equal(0, leases.GetProperty("leases").GetArrayLength());
        Assert.Equal(0, await _target.CountLoginsAsync());
        var failure = (await _world.AuditAsync()).Last(r => r.GetProperty("operation").GetString() == "creds.postgres.issue");
        Assert.Equal("engine_statement_failed", failure.GetProperty("code").GetString());
    }

    [Fact]
    public async Task RotateRoot_ReplacesKeywardsOwnPassword_AndIssuanceGoesOn()
    {
        var rotated = await Problems.JsonAsync(await SendAsync(HttpMethod.Post, _world.Admin, "/v1/engines/postgres/main/rotate-root"));
        Assert.True(rotated.TryGetProperty("root_rotated_at", out var at) && at.ValueKind == JsonValueKind.String);
        Assert.False(rotated.TryGetProperty("password", out _));

        Assert.Equal("28P01", (await _target.TryReadAsync(_target.AdminUser, _target.AdminPassword)).SqlState);
        var login = await IssueAsync((await AgentAsync()).Token);
        Assert.Equal((true, null), await _target.TryReadAsync(login.Username, login.Password));
    }

    [Fact]
    public async Task MaxOpenLeases_Refuses429_AndDeleteWaitsUntilEveryLoginIsGone()
    {
        await Problems.JsonAsync(await PutConnectionAsync(_world.Admin, "main",
            new { connection_url = _target.Url, username = _target.AdminUser, max_open_leases = 2 }));
        var agent = await AgentAsync();
        var first = await IssueAsync(agent.Token);
        await IssueAsync(agent.Token);
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Post, agent.Token, "/v1/creds/postgres/main/reader"), (HttpStatusCode)429, "lease_limit_reached");

        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Delete, _world.Admin, "/v1/engines/postgres/main"), HttpStatusCode.Conflict, "engine_in_use");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Delete, _world.Admin, "/v1/engines/postgres/main/roles/reader"), HttpStatusCode.Conflict, "engine_in_use");

        await Problems.JsonAsync(await SendAsync(HttpMethod.Post, _world.Admin, "/v1/leases/revoke-prefix", new { prefix = "creds/postgres/main" }));
        Assert.True(await PostgresTarget.EventuallyAsync(async () =>
            (await SendAsync(HttpMethod.Delete, _world.Admin, "/v1/engines/postgres/main")).StatusCode == HttpStatusCode.NoContent));
        Assert.False(await _target.RoleExistsAsync(first.Username));
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/engines/postgres/main/roles"), HttpStatusCode.NotFound, "engine_not_found");
    }

    [Fact]
    public async Task TheSdk_ConfiguresAConnectionAndRole_AndAnAgentGetsAndRevokesItsLogin()
    {
        KeywardClient Client(string token) => new(new KeywardClientOptions
        {
            Address = new Uri("http://localhost/"),
            Token = token,
            Handler = _host.Host.App.GetTestServer().CreateHandler(),
        });

        using var admin = Client(_world.Admin);
        var spec = new PostgresConnectionSpec(_target.Url, _target.AdminUser, _target.AdminPassword, MaxOpenLeases: 10);
        Assert.DoesNotContain(_target.AdminPassword, spec.ToString(), StringComparison.Ordinal);
        var connection = await admin.PutPostgresConnectionAsync("sdk", spec);
        Assert.Equal((10, _target.AdminUser), (connection.MaxOpenLeases, connection.Username));
        var role = await admin.PutPostgresRoleAsync("sdk", "reader", PostgresTarget.ReaderStatements, defaultTtl: TimeSpan.FromMinutes(5), maxTtl: TimeSpan.FromMinutes(10));
        Assert.Equal((TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(10)), (role.DefaultTtl, role.MaxTtl));
        Assert.Single(await admin.ListPostgresRolesAsync("sdk"));
        Assert.Contains(await admin.ListPostgresConnectionsAsync(), c => c.Name == "sdk");

        await _world.PutRoleAsync("db", [AgentWorld.Rule("creds/postgres/*/*", "read")], "1h");
        using var agent = Client((await AgentAsync()).Token);
        var login = await agent.CreatePostgresCredentialAsync("sdk", "reader");
        Assert.InRange(login.LeaseDuration, TimeSpan.FromSeconds(295), TimeSpan.FromMinutes(5));
        Assert.DoesNotContain(login.Password, login.ToString(), StringComparison.Ordinal);
        Assert.Equal((true, null), await _target.TryReadAsync(login.Username, login.Password));

        await agent.RevokeLeaseAsync(login.LeaseId);
        Assert.True(await PostgresTarget.EventuallyAsync(async () => !await _target.RoleExistsAsync(login.Username)));
        var failure = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => agent.CreatePostgresCredentialAsync("sdk", "nosuch"));
        Assert.Equal((404, "engine_role_not_found"), (failure.Status, failure.ErrorCode));
    }

    [GeneratedRegex(@"\Akw_[a-z0-9_]+\z")]
    private static partial Regex UsernamePattern();

    [GeneratedRegex(@"\A[A-Za-z0-9]{32,}\z")]
    private static partial Regex PasswordPattern();
}
