using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests.Wrapping;

/// <summary>
/// A wrapped dynamic credential, against a real PostgreSQL target: the issuance runs as it would (same lease, under the
/// caller's token), the caller sees only <c>wrap_info</c>, and the unwrapped body is a login that works.
/// </summary>
public sealed class WrappedCredentialTests : IAsyncLifetime
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
        await _world.PutRoleAsync("db-use", [AgentWorld.Rule("creds/postgres/main/*", "use")], "1h");
        await Problems.JsonAsync(await SendAsync(HttpMethod.Put, _world.Admin, "/v1/engines/postgres/main",
            new { connection_url = _target.Url, username = _target.AdminUser, password = _target.AdminPassword }));
        await Problems.JsonAsync(await SendAsync(HttpMethod.Put, _world.Admin, "/v1/engines/postgres/main/roles/reader",
            new { creation_statements = PostgresTarget.ReaderStatements, default_ttl = "1h", max_ttl = "2h" }));
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _target.DisposeAsync();
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string? token, string route, object? body = null, string? wrapTtl = null)
    {
        using var client = _host.Client(token);
        using var request = new HttpRequestMessage(method, route) { Content = body is null ? null : JsonContent.Create(body) };
        if (wrapTtl is not null)
        {
            request.Headers.Add("X-Keyward-Wrap-TTL", wrapTtl);
        }

        return await client.SendAsync(request);
    }

    [Fact]
    public async Task WrappedIssue_UnwrapsToAWorkingLogin_WhoseLeaseStaysTheCallers()
    {
        // Arrange
        var agent = await _world.StartAgentAsync("a1", "r1", role: "db");

        // Act
        using var wrapped = await SendAsync(HttpMethod.Post, agent.Token, "/v1/creds/postgres/main/reader", wrapTtl: "2m");
        var wrappedText = await wrapped.Content.ReadAsStringAsync();
        var info = JsonDocument.Parse(wrappedText).RootElement.GetProperty("wrap_info");
        var token = info.GetProperty("token").GetString()!;
        using var unwrapped = await SendAsync(HttpMethod.Post, token, "/v1/wrapping/unwrap");
        var body = await Problems.JsonAsync(unwrapped);
        var username = body.GetProperty("username").GetString()!;
        var password = body.GetProperty("password").GetString()!;
        var leaseId = body.GetProperty("lease_id").GetString()!;

        // Assert: the wrapped answer names no login; the unwrapped one works.
        Assert.Equal(HttpStatusCode.OK, wrapped.StatusCode);
        Assert.Equal("creds/postgres/main/reader", info.GetProperty("creation_path").GetString());
        Assert.DoesNotContain(username, wrappedText, StringComparison.Ordinal);
        Assert.DoesNotContain(password, wrappedText, StringComparison.Ordinal);
        Assert.DoesNotContain("password", wrappedText, StringComparison.Ordinal);
        Assert.Equal((true, null), await _target.TryReadAsync(username, password));

        // The lease is the agent's, as if unwrapped: it lists it and may revoke it.
        var leases = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, agent.Token, "/v1/leases?prefix=creds/postgres/main"));
        var lease = Assert.Single(leases.GetProperty("leases").EnumerateArray());
        Assert.Equal(leaseId, lease.GetProperty("lease_id").GetString());
        Assert.Equal(agent.Accessor, lease.GetProperty("owner_accessor").GetString());

        // Audit: the issuance says it was wrapped, the unwrap names the creation path; neither holds the password or token.
        var audit = await _world.AuditAsync();
        var issued = Assert.Single(audit, r => r.GetProperty("operation").GetString() == "creds.postgres.issue");
        Assert.Equal("true", issued.GetProperty("details").GetProperty("wrapped").GetString());
        Assert.Equal(info.GetProperty("accessor").GetString(), issued.GetProperty("details").GetProperty("wrap_accessor").GetString());
        var unwrap = Assert.Single(audit, r => r.GetProperty("operation").GetString() == "wrap.unwrap");
        Assert.Equal("creds/postgres/main/reader", unwrap.GetProperty("path").GetString());
        var all = string.Join('\n', audit.Select(r => r.GetRawText())) + _host.Logs.All;
        Assert.DoesNotContain(password, all, StringComparison.Ordinal);
        Assert.DoesNotContain(token, all, StringComparison.Ordinal);

        // Revoking the lease drops the login whoever unwrapped it.
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Post, agent.Token, "/v1/leases/revoke", new { lease_id = leaseId })).StatusCode);
        Assert.True(await PostgresTarget.EventuallyAsync(async () => !await _target.RoleExistsAsync(username)));
    }

    [Fact]
    public async Task WrappedIssue_WithUseOnly_403_NoLoginAndNoWrap()
    {
        var agent = await _world.StartAgentAsync("a2", "r1", role: "db-use");

        using var response = await SendAsync(HttpMethod.Post, agent.Token, "/v1/creds/postgres/main/reader", wrapTtl: "60s");

        await Problems.AssertProblemAsync(response, HttpStatusCode.Forbidden, "permission_denied");
        Assert.Equal(0, await _target.CountLoginsAsync());
        await using var session = await _host.Store.ReadAsync();
        var uid = (await session.Tenants.GetByIdAsync("acme"))!.Uid;
        Assert.Equal(0, await session.Wraps.CountAsync(uid));
    }

    [Fact]
    public async Task WrappedIssue_TtlOverTenMinutes_400BeforeAnyLoginIsCreated()
    {
        var agent = await _world.StartAgentAsync("a3", "r1", role: "db");

        using var response = await SendAsync(HttpMethod.Post, agent.Token, "/v1/creds/postgres/main/reader", wrapTtl: "15m");

        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_wrap_ttl");
        Assert.Equal(0, await _target.CountLoginsAsync());
    }
}
