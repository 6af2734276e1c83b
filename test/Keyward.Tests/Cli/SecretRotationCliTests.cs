using System.Text.Json;

namespace Keyward.Tests.Cli;

/// <summary><c>keyward secrets rotate|promote|rollback</c>, <c>get --stage</c> and the rotation options of <c>metadata</c>, against a real server process.</summary>
public sealed class SecretRotationCliTests : IClassFixture<CliServerFixture>
{
    private readonly CliServerFixture _fixture;

    public SecretRotationCliTests(CliServerFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task RotatePromoteRollback_StagesThenSwitchesTheCurrentVersion()
    {
        var (_, admin) = await _fixture.TenantAsync();
        var server = _fixture.Server;
        CliAssert.Ok(await server.RunAsync(admin, "secrets", "put", "app/db", "password=first"));

        var staged = CliAssert.Ok(await server.RunAsync(admin, "secrets", "rotate", "app/db", "password=second"));
        var beforePromote = CliAssert.Ok(await server.RunAsync(admin, "secrets", "get", "app/db", "--field", "password"));
        var pending = CliAssert.Ok(await server.RunAsync(admin, "secrets", "get", "app/db", "--stage", "pending", "--field", "password"));
        var promoted = CliAssert.Ok(await server.RunAsync(admin, "secrets", "promote", "app/db", "--version", "2"));
        var afterPromote = CliAssert.Ok(await server.RunAsync(admin, "secrets", "get", "app/db"));
        var rolledBack = CliAssert.Ok(await server.RunAsync(admin, "secrets", "rollback", "app/db", "--format", "json"));
        var previous = CliAssert.Ok(await server.RunAsync(admin, "secrets", "get", "app/db", "--stage", "previous", "--field", "password"));

        CliAssert.Field(staged, "Stage", "pending");
        CliAssert.Field(staged, "Version", "2");
        Assert.Equal("first", beforePromote.Stdout.Trim());
        Assert.Equal("second", pending.Stdout.Trim());
        CliAssert.Field(promoted, "Current version", "2");
        CliAssert.Field(promoted, "Epoch", "2");
        CliAssert.Field(afterPromote, "Stage", "current");
        CliAssert.Field(afterPromote, "Epoch", "2");
        var rollback = JsonDocument.Parse(rolledBack.Stdout).RootElement;
        Assert.Equal((1L, 3L), (rollback.GetProperty("version").GetInt64(), rollback.GetProperty("epoch").GetInt64()));
        Assert.Equal("second", previous.Stdout.Trim());
    }

    [Fact]
    public async Task Rotate_WithoutDataOrGenerator_Exits1NoGenerator_ThenWithAPolicyGenerates()
    {
        var (_, admin) = await _fixture.TenantAsync();
        var server = _fixture.Server;
        CliAssert.Ok(await server.RunAsync(admin, "secrets", "put", "app/db", "user=app", "password=first"));

        var refused = CliAssert.Exit(1, await server.RunAsync(admin, "secrets", "rotate", "app/db"));
        var policy = CliAssert.Ok(await server.RunAsync(
            admin, "secrets", "metadata", "app/db", "--rotation-period", "30d", "--grace", "15m", "--generate-length", "24", "--generate-field", "password"));
        var now = CliAssert.Ok(await server.RunAsync(admin, "secrets", "rotate", "app/db", "--now"));
        var current = JsonDocument.Parse(CliAssert.Ok(await server.RunAsync(admin, "secrets", "get", "app/db", "--format", "json")).Stdout).RootElement;

        Assert.Contains("no_generator", refused.Stderr, StringComparison.Ordinal);
        Assert.Matches("(?m)^Rotation:\\s+every 30d, grace 15m, generator random/24, next ", policy.Stdout);
        CliAssert.Field(now, "Stage", "current");
        Assert.Equal("app", current.GetProperty("data").GetProperty("user").GetString());
        Assert.Equal(24, current.GetProperty("data").GetProperty("password").GetString()!.Length);
    }

    [Fact]
    public async Task Get_VersionAndStageTogether_IsAUsageError()
    {
        var (_, admin) = await _fixture.TenantAsync();

        var result = CliAssert.Exit(2, await _fixture.Server.RunAsync(admin, "secrets", "get", "app/db", "--version", "1", "--stage", "current"));

        Assert.Contains("not both", result.Stderr, StringComparison.Ordinal);
    }
}
