using System.Text.Json;
using Keyward.Tests.Common;

namespace Keyward.Tests.Cli;

/// <summary>
/// <c>keyward secrets get --wrap-ttl</c>, <c>keyward creds postgres --wrap-ttl</c> and <c>keyward unwrap</c> against a
/// real server process: the wrapped verb prints a token and no value, unwrap prints the body once (token from standard
/// input or an argument), a second unwrap fails with <c>wrap_token_used</c>.
/// </summary>
public sealed class WrapCliTests : IClassFixture<CliServerFixture>
{
    private const string Value = "cli-wrapped-9b1e";

    private readonly CliServerFixture _fixture;

    public WrapCliTests(CliServerFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task SecretsGetWrapTtl_PrintsATokenNotTheValue_UnwrapFromStdinPrintsItOnce()
    {
        // Arrange
        var (_, admin) = await _fixture.TenantAsync();
        var server = _fixture.Server;
        CliAssert.Ok(await server.RunAsync(admin, "secrets", "put", "app/db", "password=" + Value));

        // Act
        var wrapped = CliAssert.Ok(await server.RunAsync(admin, "secrets", "get", "app/db", "--wrap-ttl", "2m", "--format", "json"));
        var info = JsonDocument.Parse(wrapped.Stdout).RootElement.GetProperty("wrap_info");
        var token = info.GetProperty("token").GetString()!;

        // The admin's own token is in the environment: unwrap must not need or send it (and works without it).
        var first = CliAssert.Ok(await KeywardCli.RunAsync(["unwrap"], server.Env(token: null), stdin: token + "\n"));
        var second = CliAssert.Exit(3, await KeywardCli.RunAsync(["unwrap"], server.Env(admin), stdin: token + "\n"));

        // Assert
        Assert.DoesNotContain(Value, wrapped.Stdout + wrapped.Stderr, StringComparison.Ordinal);
        Assert.Equal(120, info.GetProperty("ttl").GetInt64());
        Assert.Equal("app/db", info.GetProperty("creation_path").GetString());
        var body = JsonDocument.Parse(first.Stdout).RootElement;
        Assert.Equal(Value, body.GetProperty("data").GetProperty("password").GetString());
        Assert.Equal("app/db", body.GetProperty("path").GetString());
        Assert.Contains("wrap_token_used", second.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(token[4..], second.Stderr + second.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrapTtl_TableOutput_AndUnwrapAsAnArgument_AndBadInputRefused()
    {
        var (_, admin) = await _fixture.TenantAsync();
        var server = _fixture.Server;
        CliAssert.Ok(await server.RunAsync(admin, "secrets", "put", "app/api", "key=" + Value));

        var wrapped = CliAssert.Ok(await server.RunAsync(admin, "secrets", "get", "app/api", "--wrap-ttl", "60s"));
        Assert.DoesNotContain(Value, wrapped.Stdout, StringComparison.Ordinal);
        var token = wrapped.Stdout.Split('\n').Single(l => l.StartsWith("Wrapping token", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1];
        Assert.StartsWith("kww_", token, StringComparison.Ordinal);

        var unwrapped = CliAssert.Ok(await server.RunAsync(null, "unwrap", token));
        Assert.Contains(Value, unwrapped.Stdout, StringComparison.Ordinal);

        // Over 10 minutes: the SDK refuses it before anything is sent.
        var tooLong = CliAssert.Exit(2, await server.RunAsync(admin, "secrets", "get", "app/api", "--wrap-ttl", "11m"));
        Assert.Contains("10 minutes", tooLong.Stderr, StringComparison.Ordinal);
        CliAssert.Exit(2, await server.RunAsync(admin, "secrets", "get", "app/api", "--wrap-ttl", "soon"));
        CliAssert.Exit(2, await server.RunAsync(admin, "secrets", "get", "app/api", "--wrap-ttl", "60s", "--field", "key"));
        CliAssert.Exit(2, await KeywardCli.RunAsync(["unwrap"], server.Env(null), stdin: admin + "\n"));
    }

    [Fact]
    public async Task CredsPostgresWrapTtl_UnwrapsToALoginThatWorks()
    {
        await using var target = await PostgresTarget.CreateAsync();
        var (_, admin) = await _fixture.TenantAsync();
        var server = _fixture.Server;
        CliAssert.Ok(await KeywardCli.RunAsync(
            ["engines", "postgres", "put", "main", "--url", target.Url, "--username", target.AdminUser, "--password-stdin"],
            server.Env(admin), stdin: target.AdminPassword + "\n"));
        CliAssert.Ok(await server.RunAsync(admin, "engines", "postgres", "role-put", "main", "reader",
            "--creation", PostgresTarget.ReaderStatements[0], "--creation", PostgresTarget.ReaderStatements[1], "--default-ttl", "10m", "--max-ttl", "1h"));

        var wrapped = CliAssert.Ok(await server.RunAsync(admin, "creds", "postgres", "main", "reader", "--wrap-ttl", "1m", "--format", "json"));
        var token = JsonDocument.Parse(wrapped.Stdout).RootElement.GetProperty("wrap_info").GetProperty("token").GetString()!;
        Assert.DoesNotContain("password", wrapped.Stdout, StringComparison.Ordinal);

        var login = JsonDocument.Parse(CliAssert.Ok(await KeywardCli.RunAsync(["unwrap"], server.Env(null), stdin: token + "\n")).Stdout).RootElement;
        var (username, password) = (login.GetProperty("username").GetString()!, login.GetProperty("password").GetString()!);
        Assert.Equal((true, null), await target.TryReadAsync(username, password));

        CliAssert.Ok(await server.RunAsync(admin, "leases", "revoke", login.GetProperty("lease_id").GetString()!));
        Assert.True(await PostgresTarget.EventuallyAsync(async () => !await target.RoleExistsAsync(username)));
    }
}
