using Keyward.Client;
using Keyward.Client.Models;

using Keyward.Tests.Common;

namespace Keyward.Tests.Cli;

/// <summary>One real server process shared by a test class; tests make their own tenants.</summary>
public sealed class CliServerFixture : IAsyncLifetime
{
    public KeywardProcess Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await KeywardProcess.StartDevAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();

    /// <summary>
    /// Creates a tenant and mints an admin token for it. Set-up goes through the SDK, not the CLI: it is not what
    /// these tests are about, and every CLI run is a process start.
    /// </summary>
    public async Task<(string Tenant, string Token)> TenantAsync()
    {
        var tenant = "cli-" + Guid.NewGuid().ToString("N")[..10];
        using var root = new KeywardClient(Server.Address, KeywardTestHost.RootToken);
        await root.CreateTenantAsync(tenant);
        var token = await root.CreateTenantTokenAsync(tenant, TenantTokenKind.Admin);
        return (tenant, token.Token);
    }
}

internal static class CliAssert
{
    public static CliResult Ok(CliResult result)
    {
        Assert.True(result.ExitCode == 0, result.ToString());
        return result;
    }

    public static CliResult Exit(int expected, CliResult result)
    {
        Assert.True(result.ExitCode == expected, $"expected exit {expected}; {result}");
        return result;
    }

    /// <summary>A <c>Key:   value</c> line of human output.</summary>
    public static void Field(CliResult result, string key, string value) =>
        Assert.Matches($"(?m)^{System.Text.RegularExpressions.Regex.Escape(key)}:\\s+{System.Text.RegularExpressions.Regex.Escape(value)}\\s*$", result.Stdout);
}
