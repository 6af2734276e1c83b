using System.Text.Json;
using Keyward.Tests.Common;

namespace Keyward.Tests.Cli;

/// <summary><c>keyward engines postgres …</c> and <c>keyward creds postgres</c> against a real server process and a real database.</summary>
public sealed class EngineCliTests : IClassFixture<CliServerFixture>
{
    private readonly CliServerFixture _fixture;

    public EngineCliTests(CliServerFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task AdminConfiguresThroughTheCli_ThenAGivenTokenGetsALoginThatWorks_AndThePasswordStaysOffTheCommandLine()
    {
        await using var target = await PostgresTarget.CreateAsync();
        var (_, admin) = await _fixture.TenantAsync();
        var server = _fixture.Server;

        var put = CliAssert.Ok(await KeywardCli.RunAsync(
            ["engines", "postgres", "put", "main", "--url", target.Url, "--username", target.AdminUser, "--password-stdin", "--max-open-leases", "5"],
            server.Env(admin), stdin: target.AdminPassword + "\n"));
        CliAssert.Field(put, "Username", target.AdminUser);
        CliAssert.Field(put, "Max open leases", "5");
        Assert.DoesNotContain(target.AdminPassword, put.Stdout + put.Stderr, StringComparison.Ordinal);

        CliAssert.Ok(await server.RunAsync(admin, "engines", "postgres", "role-put", "main", "reader",
            "--creation", PostgresTarget.ReaderStatements[0], "--creation", PostgresTarget.ReaderStatements[1], "--default-ttl", "10m", "--max-ttl", "1h"));
        var roles = CliAssert.Ok(await server.RunAsync(admin, "engines", "postgres", "roles", "main"));
        Assert.Matches("(?m)^reader\\s+(600s|10m)\\s+(3600s|1h|60m)\\s+2\\s*$", roles.Stdout);

        var issued = JsonDocument.Parse(CliAssert.Ok(await server.RunAsync(admin, "creds", "postgres", "main", "reader", "--format", "json")).Stdout).RootElement;
        var (username, password) = (issued.GetProperty("username").GetString()!, issued.GetProperty("password").GetString()!);
        Assert.Equal((true, null), await target.TryReadAsync(username, password));

        var get = CliAssert.Ok(await server.RunAsync(admin, "engines", "postgres", "get", "main", "--format", "json"));
        Assert.False(JsonDocument.Parse(get.Stdout).RootElement.TryGetProperty("password", out _));
        var inUse = CliAssert.Exit(1, await server.RunAsync(admin, "engines", "postgres", "delete", "main"));
        Assert.Contains("engine_in_use", inUse.Stderr, StringComparison.Ordinal);

        CliAssert.Ok(await server.RunAsync(admin, "leases", "revoke", issued.GetProperty("lease_id").GetString()!));
        Assert.True(await PostgresTarget.EventuallyAsync(async () => !await target.RoleExistsAsync(username)));
    }
}
