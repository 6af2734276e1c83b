using System.Net;
using System.Net.Http.Json;
using Keyward.Gateway.Egress;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests.Gateway;

/// <summary>
/// The gateway on a real Kestrel listener, with request targets written byte for byte (an <see cref="HttpClient"/>
/// would normalize dot segments before sending), and an upstream name that resolves to a refused address.
/// </summary>
public sealed class GatewayKestrelTests : IAsyncLifetime
{
    private KestrelHost _host = null!;
    private LoopbackUpstream _upstream = null!;
    private string _admin = null!;
    private string _agent = null!;

    public async Task InitializeAsync()
    {
        _upstream = await LoopbackUpstream.StartAsync();
        _host = await KestrelHost.StartAsync();
        using var root = _host.Client();
        (await root.PostAsJsonAsync("/v1/tenants", new { id = "acme" })).EnsureSuccessStatusCode();
        _admin = await TokenAsync(root, "admin");
        var orchestrator = await TokenAsync(root, "orchestrator");
        using var admin = _host.Client(_admin);
        (await admin.PutAsJsonAsync("/v1/roles/caller", new { rules = new[] { new { path = "llm/*", capabilities = new[] { "use" } } }, max_ttl = "1h" })).EnsureSuccessStatusCode();
        (await admin.PutAsJsonAsync("/v1/secrets/llm/key", new { data = new { api_key = "sk-kestrel-0123456789abcdef" } })).EnsureSuccessStatusCode();
        await PutIntegrationAsync("local", _upstream.Address.ToString(), loopback: true);
        using var orchestratorClient = _host.Client(orchestrator);
        var bootstrap = await Problems.JsonAsync(await orchestratorClient.PostAsJsonAsync("/v1/agents/bootstrap", new { agent_id = "a1", run_id = "r1", role = "caller", ttl = "30m" }));
        using var anonymous = _host.Client(null);
        var session = await Problems.JsonAsync(await anonymous.PostAsJsonAsync("/v1/auth/exchange", new { bootstrap_token = bootstrap.GetProperty("bootstrap_token").GetString() }));
        _agent = session.GetProperty("token").GetString()!;
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private static async Task<string> TokenAsync(HttpClient root, string kind) =>
        (await Problems.JsonAsync(await root.PostAsJsonAsync("/v1/tenants/acme/tokens", new { kind, ttl = "1h" }))).GetProperty("token").GetString()!;

    private async Task PutIntegrationAsync(string name, string upstream, bool loopback)
    {
        using var admin = _host.Client(_admin);
        await Problems.JsonAsync(await admin.PutAsJsonAsync("/v1/integrations/" + name, new
        {
            upstream,
            secret_path = "llm/key",
            secret_field = "api_key",
            inject = new { kind = "bearer" },
            allow = new[] { new { methods = new[] { "GET", "POST" }, path = "**" } },
            allow_insecure_loopback = loopback,
        }));
    }

    [Theory]
    [InlineData("/v1/gateway/local/ok/%2e%2e/admin")]
    [InlineData("/v1/gateway/local/ok/%2E%2E/admin")]
    [InlineData("/v1/gateway/local/ok/../admin")]
    [InlineData("/v1/gateway/local/ok/./admin")]
    [InlineData("/v1/gateway/local/ok/%2E/admin")]
    [InlineData("/v1/gateway/local/ok//admin")]
    [InlineData("/v1/gateway/local/ok%2Fadmin")]
    [InlineData("/v1/gateway/local/ok%2fadmin")]
    [InlineData("/v1/gateway/local/ok%5cadmin")]
    [InlineData("/v1/gateway/local/ok\\admin")]
    [InlineData("/v1/gateway/local/ok/%00")]
    [InlineData("/v1/gateway/local/ok/a%2e")]
    public async Task AHostileRawPath_IsRefused_BeforeAnythingGoesUpstream(string target)
    {
        var response = await _host.SendRawAsync("GET", target, ["Authorization: Bearer " + _agent]);

        // Kestrel itself refuses some (an encoded NUL) with a plain 400 before routing; the rest are Keyward's.
        Assert.True(response.Status == 400 && (!response.IsProblem || response.ProblemCode == "invalid_path"), response.ToString());
        Assert.Empty(_upstream.Requests);
    }

    [Fact]
    public async Task ARawPathIsSentUpstreamExactlyAsGiven()
    {
        var response = await _host.SendRawAsync("GET", "/v1/gateway/local/ok/v1/models/gpt%3A4o/a~b?q=%20x&y", ["Authorization: Bearer " + _agent]);

        Assert.Equal(200, response.Status);
        Assert.Equal("/ok/v1/models/gpt%3A4o/a~b?q=%20x&y", Assert.Single(_upstream.Requests).RawTarget);
    }

    [Fact]
    public async Task ALargeRequestBody_IsStreamedUpstreamWhole_BeyondTheLimitOfKeywardsOwnRoutes()
    {
        var body = new byte[3 * 1024 * 1024];
        Random.Shared.NextBytes(body);

        var response = await _host.SendRawAsync("POST", "/v1/gateway/local/ok/upload", ["Authorization: Bearer " + _agent, "Content-Type: application/octet-stream"], body);

        Assert.Equal(200, response.Status);
        Assert.Equal(body, Assert.Single(_upstream.Requests).Body);
    }

    [Fact]
    public async Task AnUpstreamNameResolvingToARefusedAddress_IsRefusedAtConnection_WithoutReachingIt()
    {
        // This machine's own name resolves to a loopback or private address: refused without --gateway-allow-cidr.
        var name = Dns.GetHostName();
        var addresses = await Dns.GetHostAddressesAsync(name);
        Assert.All(addresses, a => Assert.True(UpstreamAddresses.PublicOnly.Refusal(a, loopbackPermitted: false) is not null, $"{name} resolves to {a}: this test needs a non-public answer"));
        await PutIntegrationAsync("named", $"https://{name}:{_upstream.Address.Port}/", loopback: false);

        var response = await _host.SendRawAsync("GET", "/v1/gateway/named/ok", ["Authorization: Bearer " + _agent]);

        Assert.True(response.Status == 502 && response.ProblemCode == "upstream_address_refused", response.ToString());
        Assert.Empty(_upstream.Requests);
        Assert.DoesNotContain("sk-kestrel", response.Body, StringComparison.Ordinal);
    }
}
