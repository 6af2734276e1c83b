using System.Text.Json;
using Keyward.Tests.Common;

namespace Keyward.Tests.Cli;

/// <summary><c>keyward integrations …</c> and <c>keyward gateway call</c> against a real server process and a loopback upstream.</summary>
public sealed class GatewayCliTests : IClassFixture<CliServerFixture>
{
    private const string Value = "sk-cli-gateway-0123456789abcdef";

    private readonly CliServerFixture _fixture;

    public GatewayCliTests(CliServerFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task AdminRegistersAnIntegration_ThenACallThroughItCarriesTheCredential_WhichTheCliNeverPrints()
    {
        await using var upstream = await LoopbackUpstream.StartAsync();
        var (_, admin) = await _fixture.TenantAsync();
        var server = _fixture.Server;
        CliAssert.Ok(await server.RunAsync(admin, "secrets", "put", "llm/key", "api_key=" + Value));

        var put = CliAssert.Ok(await server.RunAsync(admin, "integrations", "put", "up", "--upstream", upstream.Address.ToString(),
            "--secret-path", "llm/key", "--secret-field", "api_key", "--inject", "header:x-api-key", "--allow", "GET,POST ok/**",
            "--allow-insecure-loopback", "--run-budget", "50"));
        CliAssert.Field(put, "Inject", "header:x-api-key");
        CliAssert.Field(put, "Run budget", "50");

        var call = CliAssert.Ok(await server.RunAsync(admin, "gateway", "call", "up", "ok/v1/items?x=1", "-X", "POST", "-d", "{\"a\":1}", "-H", "X-Trace: t1"));
        Assert.Equal("{\"ok\":true}", call.Stdout.Trim());
        Assert.Contains("HTTP 200", call.Stderr, StringComparison.Ordinal);
        var seen = Assert.Single(upstream.Requests);
        Assert.Equal("/ok/v1/items?x=1", seen.RawTarget);
        Assert.Equal(Value, seen.Header("x-api-key"));
        Assert.Equal("t1", seen.Header("X-Trace"));
        Assert.Equal("{\"a\":1}", System.Text.Encoding.UTF8.GetString(seen.Body));
        Assert.DoesNotContain(Value, put.Stdout + put.Stderr + call.Stdout + call.Stderr, StringComparison.Ordinal);

        // Refused by the gateway: one error line and the documented exit code; nothing goes upstream.
        var refused = CliAssert.Exit(1, await server.RunAsync(admin, "gateway", "call", "up", "admin/x"));
        Assert.Contains("gateway_not_allowed", refused.Stderr, StringComparison.Ordinal);
        var missing = CliAssert.Exit(3, await server.RunAsync(admin, "gateway", "call", "nope", "ok"));
        Assert.Contains("integration_not_found", missing.Stderr, StringComparison.Ordinal);
        Assert.Single(upstream.Requests);

        var list = JsonDocument.Parse(CliAssert.Ok(await server.RunAsync(admin, "integrations", "list", "--format", "json")).Stdout).RootElement;
        Assert.Equal("up", Assert.Single(list.GetProperty("integrations").EnumerateArray()).GetProperty("name").GetString());
        CliAssert.Ok(await server.RunAsync(admin, "integrations", "delete", "up"));
        CliAssert.Exit(3, await server.RunAsync(admin, "integrations", "get", "up"));
        CliAssert.Exit(2, await server.RunAsync(admin, "integrations", "put", "x", "--upstream", "https://a.example/", "--secret-path", "p",
            "--secret-field", "f", "--inject", "cookie", "--allow", "GET **"));
    }
}
