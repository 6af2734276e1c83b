using Keyward.Tests.Common;

namespace Keyward.Tests.Cli;

public sealed class ErrorExitCodeTests : IClassFixture<CliServerFixture>
{
    private readonly CliServerFixture _fixture;

    public ErrorExitCodeTests(CliServerFixture fixture) => _fixture = fixture;

    private KeywardProcess Server => _fixture.Server;

    [Fact]
    public async Task SecretsGet_MissingPath_Exits3WithProblemOnStderr()
    {
        var (_, admin) = await _fixture.TenantAsync();

        var result = CliAssert.Exit(3, await Server.RunAsync(admin, "secrets", "get", "app/nothing"));

        Assert.Equal("", result.Stdout);
        Assert.Matches("^Error: .+ \\(secret_not_found, HTTP 404\\)\\n$", result.Stderr);
    }

    [Fact]
    public async Task AnyVerb_InvalidToken_Exits1WithoutPrintingTheToken()
    {
        const string Bogus = "kwa_bogus-token-for-the-cli-test-0123456789abcdef";

        var result = CliAssert.Exit(1, await Server.RunAsync(Bogus, "secrets", "list"));

        Assert.Contains("HTTP 401)", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(Bogus, result.Stderr + result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SecretsPut_CasMismatch_Exits1WithoutPrintingValues()
    {
        var (_, admin) = await _fixture.TenantAsync();
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "app/db", "password=first-value"));

        var result = CliAssert.Exit(1, await Server.RunAsync(admin, "secrets", "put", "app/db", "password=second-value", "--cas", "0"));

        Assert.Contains("(cas_mismatch, HTTP 409)", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("-value", result.Stderr + result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TenantsCreate_UsedId_Exits1With409()
    {
        var (tenant, _) = await _fixture.TenantAsync();

        var result = CliAssert.Exit(1, await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "create", tenant));

        Assert.Contains("(tenant_exists, HTTP 409)", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SecretsPut_MalformedJson_Exits2WithoutEchoingIt()
    {
        var (_, admin) = await _fixture.TenantAsync();

        var result = CliAssert.Exit(2, await Server.RunAsync(admin, "secrets", "put", "app/db", "--json", """{"password":"leaky-value" """));

        Assert.StartsWith("Error: ", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("leaky-value", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("secrets", "get", "app/../db")]
    [InlineData("secrets", "get", "app%2Fdb")]
    [InlineData("secrets", "put", "app/db", "novalue")]
    [InlineData("secrets", "undelete", "app/db")]
    [InlineData("tenants", "token", "acme", "--kind", "superuser")]
    [InlineData("roles", "put", "r", "--rule", "nocaps", "--max-ttl", "1h")]
    [InlineData("tenants")]
    [InlineData("no-such-verb")]
    public async Task Verb_BadCommandLine_Exits2(params string[] args)
    {
        var result = CliAssert.Exit(2, await Server.RunAsync("kwa_never-used-0123456789abcdefghijklmnopqrstuv", args));

        Assert.StartsWith("Error: ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verb_HttpToNonLoopbackAddress_Exits2BeforeSendingTheToken()
    {
        var result = CliAssert.Exit(2, await KeywardCli.RunAsync(
            ["tenants", "list", "--addr", "http://keyward.example.com:8210"],
            new Dictionary<string, string?> { ["KEYWARD_TOKEN"] = KeywardTestHost.RootToken }));

        Assert.Contains("https", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(KeywardTestHost.RootToken, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verb_UnreachableServer_Exits4ConnectionFailed()
    {
        var port = KeywardExecutable.FreePort();

        var result = CliAssert.Exit(4, await KeywardCli.RunAsync(
            ["tenants", "list"],
            new Dictionary<string, string?> { ["KEYWARD_ADDR"] = $"http://127.0.0.1:{port}", ["KEYWARD_TOKEN"] = KeywardTestHost.RootToken }));

        Assert.Contains("(connection_failed)", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(KeywardTestHost.RootToken, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OperatorInit_AlreadyInitialized_Exits1With409()
    {
        var result = CliAssert.Exit(1, await Server.RunAsync(null, "operator", "init", "--shares", "3", "--threshold", "2"));

        Assert.Contains("HTTP 409)", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public async Task OperatorRewrap_UnknownTenant_Exits3()
    {
        var result = CliAssert.Exit(3, await Server.RunAsync(KeywardTestHost.RootToken, "operator", "rewrap", "--tenant", "no-such-tenant"));

        Assert.Contains("HTTP 404", result.Stderr, StringComparison.Ordinal);
    }
}
