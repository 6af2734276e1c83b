using Keyward.Tests.Common;
using Microsoft.AspNetCore.TestHost;

namespace Keyward.Client.Tests;

/// <summary>One in-process server shared by a test class; each test makes its own tenants.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public KeywardTestHost Host { get; private set; } = null!;

    public async Task InitializeAsync() => Host = await KeywardTestHost.StartAsync();

    public async Task DisposeAsync() => await Host.DisposeAsync();

    public KeywardClient Client(string? token = KeywardTestHost.RootToken) => Clients.For(Host, token);

    /// <summary>A fresh tenant and a client holding its admin token.</summary>
    public async Task<(string Tenant, string Token, KeywardClient Client)> TenantAsync()
    {
        var id = Clients.NewTenantId();
        var token = await Host.CreateTenantAsync(id);
        return (id, token, Client(token));
    }
}

public static class Clients
{
    public static readonly Uri TestAddress = new("http://localhost/");

    public static KeywardClient For(KeywardTestHost host, string? token) =>
        new(new KeywardClientOptions { Address = TestAddress, Token = token, Handler = host.Host.App.GetTestServer().CreateHandler() });

    public static string NewTenantId() => "t-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>The dev-mode unseal key the test host keeps in its data directory.</summary>
    public static string DevUnsealKey(KeywardTestHost host) =>
        File.ReadAllLines(Path.Combine(host.DataDirectory, "dev-unseal.key")).Select(l => l.Trim()).First(l => l.Length > 0 && !l.StartsWith('#'));

    public static async Task<KeywardRequestFailedException> FailsAsync(Func<Task> action, int status, string code)
    {
        var failure = await Assert.ThrowsAsync<KeywardRequestFailedException>(action);
        Assert.True(status == failure.Status && code == failure.ErrorCode, $"expected {status} {code}, got {failure.Status} {failure.ErrorCode}: {failure.Message}");
        Assert.False(string.IsNullOrWhiteSpace(failure.Message));
        return failure;
    }
}
