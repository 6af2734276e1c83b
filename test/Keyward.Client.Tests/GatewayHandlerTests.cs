using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Keyward.Client.Models;
using Keyward.Tests.Common;

namespace Keyward.Client.Tests;

public sealed class GatewayHandlerTests : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private const string Value = "sk-sdk-handler-0123456789abcdef";

    private readonly ServerFixture _server;
    private LoopbackUpstream _upstream = null!;

    public GatewayHandlerTests(ServerFixture server) => _server = server;

    public async Task InitializeAsync()
    {
        _upstream = await LoopbackUpstream.StartAsync();
        _upstream.Secret = Value;
    }

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private async Task<KeywardClient> TenantWithIntegrationAsync()
    {
        var (_, _, client) = await _server.TenantAsync();
        await client.PutSecretAsync("llm/provider", new Dictionary<string, string> { ["api_key"] = Value });
        var integration = await client.PutIntegrationAsync("provider", new IntegrationSpec(
            _upstream.Address, "llm/provider", "api_key", new IntegrationInject("bearer"), [new IntegrationAllow(["GET", "POST"], "**")], AllowInsecureLoopback: true));
        Assert.Equal(1, integration.Version);
        return client;
    }

    [Fact]
    public async Task CreateGatewayHandler_SendsAnyHttpClientRequestThroughTheGateway_WithTheRealCredentialInjected()
    {
        using var client = await TenantWithIntegrationAsync();
        using var http = new HttpClient(client.CreateGatewayHandler("provider")) { BaseAddress = new Uri("https://api.example.com/v1/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "placeholder-key");

        using var response = await http.PostAsJsonAsync("chat/completions?stream=false", new { model = "m" });
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("{\"ok\":true}", body);
        var seen = Assert.Single(_upstream.Requests);
        Assert.Equal("/v1/chat/completions?stream=false", seen.RawTarget);
        Assert.Equal("Bearer " + Value, seen.Header("Authorization"));
        Assert.DoesNotContain("placeholder-key", seen.Everything(), StringComparison.Ordinal);
        Assert.Contains("\"model\":\"m\"", seen.Everything(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateGatewayHandler_StreamsTheResponse()
    {
        using var client = await TenantWithIntegrationAsync();
        using var http = new HttpClient(client.CreateGatewayHandler("provider"));

        using var response = await http.GetAsync("https://ignored.example/sse", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        Assert.Equal("data: first", await reader.ReadLineAsync(timeout.Token));
        _upstream.ReleaseEvents();
        Assert.Contains("data: [DONE]", await reader.ReadToEndAsync(timeout.Token), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Integrations_ListGetDelete_AndMisuseIsRefusedBeforeSending()
    {
        using var client = await TenantWithIntegrationAsync();

        var listed = Assert.Single(await client.ListIntegrationsAsync());
        var read = await client.GetIntegrationAsync("provider");
        await client.DeleteIntegrationAsync("provider");
        var gone = await Clients.FailsAsync(() => client.GetIntegrationAsync("provider"), 404, "integration_not_found");

        Assert.Equal("provider", listed.Name);
        Assert.Equal("bearer", read.Inject.Kind);
        Assert.Equal("**", Assert.Single(read.Allow).Path);
        Assert.Throws<ArgumentException>(() => client.CreateGatewayHandler("../x"));
        using var anonymous = _server.Client(token: null);
        Assert.Throws<InvalidOperationException>(() => anonymous.CreateGatewayHandler("provider"));
        Assert.NotNull(gone);
    }
}
