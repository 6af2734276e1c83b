using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Keyward.Core.Rotation;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Engines;

/// <summary>
/// Static roles end to end, against a real cluster: Keyward takes over an existing login's password, keeps it in a
/// secret, and every change of that secret's current version — the take-over, rotate + promote, the scheduler — sets
/// the password on the database first; every other way of changing it is refused.
/// </summary>
public sealed partial class PostgresStaticRoleTests : IAsyncLifetime
{
    private const string SecretPath = "apps/web/pg";
    private const string InitialPassword = "InitialPassw0rdSetByTheDatabaseOwner";
    private readonly ManualTimeProvider _clock = new();
    private KeywardTestHost _host = null!;
    private PostgresTarget _target = null!;
    private AgentWorld _world = null!;
    private string _login = null!;

    public async Task InitializeAsync()
    {
        _target = await PostgresTarget.CreateAsync();
        _login = "app_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        await _target.Cluster.ExecuteAsync($"CREATE ROLE {_login} WITH LOGIN PASSWORD '{InitialPassword}'");
        await _target.AsSuperuserAsync($"GRANT SELECT ON items TO {_login}");

        // The scheduler's and the sweeper's own loops never fire (a month of fake time): the tests drive the scheduler.
        _host = await KeywardTestHost.StartAsync(
            new KeywardServerOptions
            {
                Dev = true,
                DevRootToken = KeywardTestHost.RootToken,
                SweepInterval = TimeSpan.FromDays(30),
                RotationInterval = TimeSpan.FromDays(30),
            },
            s => s.AddSingleton<TimeProvider>(_clock));
        _world = await AgentWorld.CreateAsync(_host, "acme");
        await Problems.JsonAsync(await SendAsync(HttpMethod.Put, _world.Admin, "/v1/engines/postgres/main",
            new { connection_url = _target.Url, username = _target.AdminUser, password = _target.AdminPassword }));
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _target.DisposeAsync();
        await _target.Cluster.ExecuteAsync($"DROP ROLE IF EXISTS {_login}");
    }

    private RotationScheduler Scheduler => _host.Services.GetRequiredService<RotationScheduler>();

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string? token, string route, object? body = null)
    {
        using var client = _host.Client(token);
        using var request = new HttpRequestMessage(method, route) { Content = body is null ? null : JsonContent.Create(body) };
        return await client.SendAsync(request);
    }

    private Task<HttpResponseMessage> PutStaticRoleAsync(string? username = null, string path = SecretPath, string role = "app", string? token = null) =>
        SendAsync(HttpMethod.Put, token ?? _world.Admin, $"/v1/engines/postgres/main/static-roles/{role}",
            new { username = username ?? _login, secret_path = path, rotation_period = "5m", grace = "30m" });

    private async Task<JsonElement> ReadAsync(string query = "", string? token = null) =>
        await Problems.JsonAsync(await SendAsync(HttpMethod.Get, token ?? _world.Admin, $"/v1/secrets/{SecretPath}{query}"));

    private static string Password(JsonElement read) => read.GetProperty("data").GetProperty("password").GetString()!;

    private async Task<JsonElement> RotateAsync() =>
        await Problems.JsonAsync(await SendAsync(HttpMethod.Post, _world.Admin, $"/v1/secrets/{SecretPath}/rotate", new { }), HttpStatusCode.Created);

    [Fact]
    public async Task Put_TakesTheLoginOver_TheSecretHoldsAWorkingPassword_AndTheOldOneIsRefused()
    {
        // Arrange
        Assert.Equal((true, null), await _target.TryReadAsync(_login, InitialPassword));

        // Act
        var view = await Problems.JsonAsync(await PutStaticRoleAsync());

        // Assert: the view, the secret's value and lifecycle, the database
        Assert.Equal((_login, SecretPath, 300L, 1800L), (view.GetProperty("username").GetString(), view.GetProperty("secret_path").GetString(),
            view.GetProperty("rotation_period").GetInt64(), view.GetProperty("grace").GetInt64()));
        var current = await ReadAsync();
        Assert.Equal((_login, 1L, "current"), (current.GetProperty("data").GetProperty("username").GetString(), current.GetProperty("version").GetInt64(),
            current.GetProperty("stage").GetString()));
        Assert.Matches(PasswordPattern(), Password(current));
        Assert.Equal((true, null), await _target.TryReadAsync(_login, Password(current)));
        Assert.Equal("28P01", (await _target.TryReadAsync(_login, InitialPassword)).SqlState);

        var metadata = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, $"/v1/secret-metadata/{SecretPath}"));
        var rotation = metadata.GetProperty("rotation");
        Assert.Equal(("postgres/main/app", 300L, 1800L), (rotation.GetProperty("managed_by").GetString(), rotation.GetProperty("period").GetInt64(),
            rotation.GetProperty("grace").GetInt64()));
        Assert.Equal(_clock.GetUtcNow().AddMinutes(5), rotation.GetProperty("next_rotation_at").GetDateTimeOffset());

        var listed = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/engines/postgres/main/static-roles"));
        Assert.Equal("app", Assert.Single(listed.GetProperty("static_roles").EnumerateArray()).GetProperty("name").GetString());
        Assert.Equal(_login, (await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/engines/postgres/main/static-roles/app")))
            .GetProperty("username").GetString());

        // The password is in the secret only: never in a view, the audit log or the server's log.
        var audit = await _world.AuditAsync();
        Assert.Contains(audit, r => r.GetProperty("operation").GetString() == "engine.postgres.static_role.write");
        var everything = string.Join('\n', audit.Select(r => r.GetRawText())) + view.GetRawText() + listed.GetRawText() + string.Join('\n', _host.Logs.Lines);
        Assert.DoesNotContain(Password(current), everything, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RotateThenPromote_SetsTheNewPasswordOnTheDatabase_AndThePreviousOneIsRefused()
    {
        // Arrange
        await Problems.JsonAsync(await PutStaticRoleAsync());
        var before = Password(await ReadAsync());

        // Act: stage — the database still has the current password
        var staged = await RotateAsync();
        var pending = Password(await ReadAsync("?stage=pending"));
        Assert.Equal((true, null), await _target.TryReadAsync(_login, before));
        Assert.Equal("28P01", (await _target.TryReadAsync(_login, pending)).SqlState);

        // Act: promote
        var promoted = await Problems.JsonAsync(await SendAsync(HttpMethod.Post, _world.Admin, $"/v1/secrets/{SecretPath}/promote",
            new { version = staged.GetProperty("version").GetInt64() }));

        // Assert
        Assert.Equal(2L, promoted.GetProperty("version").GetInt64());
        var current = await ReadAsync();
        Assert.Equal((pending, _login), (Password(current), current.GetProperty("data").GetProperty("username").GetString()));
        Assert.Equal((true, null), await _target.TryReadAsync(_login, pending));
        Assert.Equal(before, Password(await ReadAsync("?stage=previous"))); // readable in the grace window, but no longer works:
        Assert.Equal("28P01", (await _target.TryReadAsync(_login, before)).SqlState);
    }

    [Fact]
    public async Task Scheduler_RotatesTheDatabasePasswordToo()
    {
        // Arrange
        await Problems.JsonAsync(await PutStaticRoleAsync());
        var before = Password(await ReadAsync());
        Assert.Equal(0, await Scheduler.RunOnceAsync());

        // Act
        _clock.Advance(TimeSpan.FromMinutes(6));
        var promoted = await Scheduler.RunOnceAsync();

        // Assert
        Assert.Equal(1, promoted);
        var current = await ReadAsync();
        Assert.Equal((2L, _login), (current.GetProperty("version").GetInt64(), current.GetProperty("data").GetProperty("username").GetString()));
        Assert.NotEqual(before, Password(current));
        Assert.Equal((true, null), await _target.TryReadAsync(_login, Password(current)));
        Assert.Equal("28P01", (await _target.TryReadAsync(_login, before)).SqlState);
    }

    [Fact]
    public async Task Promote_WhileTheDatabaseRefusesKeyward_FailsClearly_NothingChanges_AndTheSchedulerFinishesItLater()
    {
        // Arrange: a staged password, then Keyward's login is refused (and its pooled sessions ended)
        await Problems.JsonAsync(await PutStaticRoleAsync());
        var before = Password(await ReadAsync());
        var staged = await RotateAsync();
        await _target.AsSuperuserAsync(
            $"ALTER ROLE {_target.AdminUser} NOLOGIN; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{_target.AdminUser}'");

        // Act
        var refused = await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Post, _world.Admin, $"/v1/secrets/{SecretPath}/promote",
            new { version = staged.GetProperty("version").GetInt64() }), HttpStatusCode.BadGateway, "engine_unavailable");

        // Assert: current unchanged and still working, the pending version kept
        var current = await ReadAsync();
        Assert.Equal((1L, before), (current.GetProperty("version").GetInt64(), Password(current)));
        Assert.Equal(2L, (await ReadAsync("?stage=pending")).GetProperty("version").GetInt64());
        Assert.Equal((true, null), await _target.TryReadAsync(_login, before));
        Assert.DoesNotContain(before, refused.GetRawText(), StringComparison.Ordinal);

        // The scheduler's promote fails the same way and is retried on a later pass once the database is back.
        _clock.Advance(TimeSpan.FromMinutes(6));
        Assert.Equal(0, await Scheduler.RunOnceAsync());
        Assert.Equal(1L, (await ReadAsync()).GetProperty("version").GetInt64());
        await _target.AsSuperuserAsync($"ALTER ROLE {_target.AdminUser} LOGIN");
        _clock.Advance(RotationScheduler.ClaimLifetime + TimeSpan.FromSeconds(1));
        Assert.Equal(1, await Scheduler.RunOnceAsync());
        var after = await ReadAsync();
        Assert.Equal(2L, after.GetProperty("version").GetInt64());
        Assert.Equal((true, null), await _target.TryReadAsync(_login, Password(after)));
        Assert.Equal("28P01", (await _target.TryReadAsync(_login, before)).SqlState);
    }

    [Fact]
    public async Task ManagedSecret_RefusesEveryOtherWayToChangeItsValue_UntilTheStaticRoleIsDeleted()
    {
        // Arrange: a previous version exists, so rollback would otherwise be possible
        await Problems.JsonAsync(await PutStaticRoleAsync());
        var staged = await RotateAsync();
        await Problems.JsonAsync(await SendAsync(HttpMethod.Post, _world.Admin, $"/v1/secrets/{SecretPath}/promote", new { version = staged.GetProperty("version").GetInt64() }));
        var working = Password(await ReadAsync());

        // Act + Assert
        foreach (var (method, route, body) in new (HttpMethod, string, object?)[]
        {
            (HttpMethod.Put, $"/v1/secrets/{SecretPath}", new { data = new { username = _login, password = "ChosenByHand" } }),
            (HttpMethod.Post, $"/v1/secrets/{SecretPath}/rollback", null),
            (HttpMethod.Put, $"/v1/secret-metadata/{SecretPath}", new { rotation = new { max_uses = 5, generator = new { kind = "random", length = 40 } } }),
            (HttpMethod.Put, $"/v1/secret-metadata/{SecretPath}", new { max_versions = 3 }),
            (HttpMethod.Post, $"/v1/secrets/{SecretPath}/rotate", new { data = new { username = _login, password = "ChosenByHand" } }),
            (HttpMethod.Post, $"/v1/secrets/{SecretPath}/rotate", new { reason = "anomaly" }),
            (HttpMethod.Delete, $"/v1/secret-metadata/{SecretPath}", null),
        })
        {
            await Problems.AssertProblemAsync(await SendAsync(method, _world.Admin, route, body), HttpStatusCode.Conflict, "managed_by_engine");
        }

        var current = await ReadAsync();
        Assert.Equal((2L, working), (current.GetProperty("version").GetInt64(), Password(current)));
        Assert.Equal((true, null), await _target.TryReadAsync(_login, working));

        // Deleting the static role lets go: the secret and the login stay, the password no longer rotates.
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, _world.Admin, "/v1/engines/postgres/main/static-roles/app")).StatusCode);
        var rotation = (await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, $"/v1/secret-metadata/{SecretPath}"))).GetProperty("rotation");
        Assert.Equal(JsonValueKind.Null, rotation.GetProperty("managed_by").ValueKind);
        Assert.Equal(JsonValueKind.Null, rotation.GetProperty("period").ValueKind);
        _clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(0, await Scheduler.RunOnceAsync());
        Assert.Equal((true, null), await _target.TryReadAsync(_login, working));
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/engines/postgres/main/static-roles/app"), HttpStatusCode.NotFound, "engine_role_not_found");
        Assert.Equal(3L, await _host.PutSecretAsync(_world.Admin, SecretPath, new { username = _login, password = "now-an-ordinary-secret" }));
    }

    [Fact]
    public async Task Put_RefusesMissingOwnAndDynamicLogins_AndPathsItDoesNotOwn()
    {
        await _host.PutSecretAsync(_world.Admin, "apps/web/taken", new { password = "x" });

        await Problems.AssertProblemAsync(await PutStaticRoleAsync(username: "no_such_login"), HttpStatusCode.NotFound, "static_login_not_found");
        await Problems.AssertProblemAsync(await PutStaticRoleAsync(username: _target.AdminUser), HttpStatusCode.BadRequest, "invalid_field");
        await Problems.AssertProblemAsync(await PutStaticRoleAsync(username: "kw_reader_abc"), HttpStatusCode.BadRequest, "invalid_field");
        await Problems.AssertProblemAsync(await PutStaticRoleAsync(path: "apps/web/taken"), HttpStatusCode.Conflict, "managed_by_engine");
        await Problems.AssertProblemAsync(await PutStaticRoleAsync(path: "creds/postgres/main/app"), HttpStatusCode.BadRequest, "reserved_path");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Put, _world.Admin, "/v1/engines/postgres/main/static-roles/app",
            new { username = _login, secret_path = SecretPath, rotation_period = "10s" }), HttpStatusCode.BadRequest, "invalid_field");
        await Problems.AssertProblemAsync(await PutStaticRoleAsync(token: _world.Orchestrator), HttpStatusCode.Forbidden, "admin_token_required");

        // One static role per secret: another one cannot take a secret over.
        await Problems.JsonAsync(await PutStaticRoleAsync());
        await Problems.AssertProblemAsync(await PutStaticRoleAsync(role: "other"), HttpStatusCode.Conflict, "managed_by_engine");

        // Nothing above touched the login's password but the one take-over.
        Assert.Equal((true, null), await _target.TryReadAsync(_login, Password(await ReadAsync())));
        Assert.Equal(1L, (await ReadAsync()).GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task AnotherTenant_CannotSeeOrUseTheStaticRole()
    {
        await Problems.JsonAsync(await PutStaticRoleAsync());
        var globex = await AgentWorld.CreateAsync(_host, "globex");

        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Get, globex.Admin, "/v1/engines/postgres/main/static-roles/app"), HttpStatusCode.NotFound, "engine_role_not_found");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Get, globex.Admin, "/v1/engines/postgres/main/static-roles"), HttpStatusCode.NotFound, "engine_not_found");
        await Problems.AssertProblemAsync(await PutStaticRoleAsync(token: globex.Admin), HttpStatusCode.NotFound, "engine_not_found");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Delete, globex.Admin, "/v1/engines/postgres/main/static-roles/app"), HttpStatusCode.NotFound, "engine_role_not_found");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Get, globex.Admin, $"/v1/secrets/{SecretPath}"), HttpStatusCode.NotFound, "secret_not_found");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Post, globex.Admin, $"/v1/secrets/{SecretPath}/promote", new { version = 1 }), HttpStatusCode.NotFound, "secret_not_found");

        var current = await ReadAsync();
        Assert.Equal(1L, current.GetProperty("version").GetInt64());
        Assert.Equal((true, null), await _target.TryReadAsync(_login, Password(current)));
    }

    [Fact]
    public async Task AnomalyRotation_SkipsTheManagedSecret_WhichKeepsWorking()
    {
        // Arrange: rotate_exposed, a worker that reads apps/web/** (the managed secret among them)
        await Problems.JsonAsync(await PutStaticRoleAsync());
        var before = await ReadAsync();
        using (var client = _host.Client(_world.Admin))
        {
            Assert.Equal(HttpStatusCode.OK, (await client.PutAsJsonAsync("/v1/settings/anomalies",
                new { deny_threshold = new { count = 2, window = "60s" }, rotate_exposed = true })).StatusCode);
        }

        var agent = await _world.StartAgentAsync("agent-a", "run-1", role: "worker");
        Assert.Equal(Password(before), Password(await ReadAsync(token: agent.Token)));

        // Act: two denials lock the agent's subtree down
        for (var i = 0; i < 2; i++)
        {
            await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Get, agent.Token, "/v1/secrets/other/thing"), HttpStatusCode.Forbidden, "permission_denied");
        }

        // Assert
        var lockdown = Assert.Single(await _world.AuditAsync(), r => r.GetProperty("operation").GetString() == "anomaly.lockdown");
        Assert.Equal("0", lockdown.GetProperty("details").GetProperty("rotated_exposed").GetString());
        Assert.Equal("1", lockdown.GetProperty("details").GetProperty("rotated_exposed_managed_skipped").GetString());
        var current = await ReadAsync();
        Assert.Equal((1L, Password(before)), (current.GetProperty("version").GetInt64(), Password(current)));
        Assert.Equal((true, null), await _target.TryReadAsync(_login, Password(current)));
    }

    [GeneratedRegex(@"\A[A-Za-z0-9]{40}\z")]
    private static partial Regex PasswordPattern();
}
