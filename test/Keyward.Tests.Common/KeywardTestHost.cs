using System.Net.Http.Headers;
using System.Text.Json;
using Keyward.Core.Storage;
using Keyward.Server;
using Microsoft.AspNetCore.TestHost;

namespace Keyward.Tests.Common;

/// <summary>
/// A real Keyward server on the in-memory test server: real SQLite store in a temp directory, dev-mode
/// initialization with a known root token, every log line captured. Helpers onboard tenants the way an operator
/// would, through the HTTP API.
/// </summary>
public sealed class KeywardTestHost : IAsyncDisposable
{
    public const string RootToken = "kwr_test-root-token-0123456789abcdefghijklmnop";

    private readonly TempDirectory? _ownedDirectory;

    private KeywardTestHost(KeywardServerHost host, LogCapture logs, TempDirectory? ownedDirectory)
    {
        Host = host;
        Logs = logs;
        _ownedDirectory = ownedDirectory;
    }

    public KeywardServerHost Host { get; }

    public LogCapture Logs { get; }

    public string DataDirectory => Host.DataDirectory;

    public IServiceProvider Services => Host.Services;

    public IKeywardStore Store => Services.GetRequiredService<IKeywardStore>();

    public static Task<KeywardTestHost> StartAsync(string? dataDirectory = null, Action<IServiceCollection>? services = null) =>
        StartAsync(new KeywardServerOptions { Dev = true, DevRootToken = RootToken, DataDirectory = dataDirectory }, services);

    /// <summary>A host with explicit options (for example not dev: an uninitialized or sealed server). No data directory = a fresh one.</summary>
    public static async Task<KeywardTestHost> StartAsync(KeywardServerOptions options, Action<IServiceCollection>? services = null)
    {
        var owned = options.DataDirectory is null ? new TempDirectory() : null;
        var logs = new LogCapture();
        var host = KeywardServerHost.Create(
            options with { DataDirectory = options.DataDirectory ?? owned!.Path, Listen = "127.0.0.1:0" },
            builder =>
            {
                builder.WebHost.UseTestServer();
                builder.Logging.AddProvider(logs);
                services?.Invoke(builder.Services);
            });
        await host.StartAsync();
        return new KeywardTestHost(host, logs, owned);
    }

    /// <summary>A client sending <paramref name="token"/> as the bearer token (none if null).</summary>
    public HttpClient Client(string? token = RootToken)
    {
        var client = Host.App.GetTestClient();
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    /// <summary>Creates a tenant and returns a fresh admin token for it.</summary>
    public async Task<string> CreateTenantAsync(string id)
    {
        using var root = Client();
        (await root.PostAsJsonAsync("/v1/tenants", new { id })).EnsureSuccessStatusCode();
        return await MintTokenAsync(id, "admin");
    }

    public async Task<string> MintTokenAsync(string tenant, string kind, string ttl = "1h")
    {
        using var root = Client();
        var response = await root.PostAsJsonAsync($"/v1/tenants/{tenant}/tokens", new { kind, ttl });
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("token").GetString()!;
    }

    public async Task<long> PutSecretAsync(string token, string path, object data)
    {
        using var client = Client(token);
        var response = await client.PutAsJsonAsync("/v1/secrets/" + path, new { data });
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("version").GetInt64();
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        _ownedDirectory?.Dispose();
    }
}
