using Keyward.Client.Models;
using Keyward.Server;
using Keyward.Tests.Common;
using Microsoft.AspNetCore.TestHost;

namespace Keyward.Client.Tests;

public sealed class SystemTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public SystemTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task GetHealthAsync_Unsealed_ReportsReady()
    {
        using var client = _server.Client(null);

        var health = await client.GetHealthAsync();

        Assert.True(health.Initialized);
        Assert.False(health.Sealed);
        Assert.True(health.IsReady);
        Assert.Equal("sqlite", health.Storage);
        Assert.False(string.IsNullOrEmpty(health.Version));
    }

    [Fact]
    public async Task InitializeAsync_AlreadyInitialized_Throws409()
    {
        using var client = _server.Client(null);

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => client.InitializeAsync(3, 2));

        Assert.Equal(409, error.Status);
        Assert.Equal("already_initialized", error.ErrorCode);
    }

    [Fact]
    public async Task InitializeAsync_ThresholdAboveShares_ThrowsArgumentException()
    {
        using var client = _server.Client(null);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.InitializeAsync(2, 3));
    }

    [Fact]
    public async Task GetMetricsAsync_RootToken_ReturnsPrometheusText()
    {
        using var root = _server.Client();

        var text = await root.GetMetricsAsync();

        Assert.Contains("keyward_sealed 0", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE keyward_store_commits_total counter", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetMetricsAsync_TenantToken_Throws403()
    {
        var (_, _, admin) = await _server.TenantAsync();
        using (admin)
        {
            var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => admin.GetMetricsAsync());

            Assert.Equal(403, error.Status);
        }
    }

    [Fact]
    public async Task VerifyAuditAsync_UntouchedChain_IsOk()
    {
        using var root = _server.Client();
        var (_, _, admin) = await _server.TenantAsync();
        admin.Dispose();

        var result = await root.VerifyAuditAsync();

        Assert.True(result.Ok, result.Problem);
        Assert.True(result.Records > 0);
        Assert.Null(result.FirstBadSeq);
        Assert.Null(result.TruncatedAfter);
    }

    [Fact]
    public async Task GetSystemAuditAsync_TenantFilter_ReturnsOnlyThatTenantsRecords()
    {
        using var root = _server.Client();
        var (tenant, _, admin) = await _server.TenantAsync();
        using (admin)
        {
            await admin.PutSecretAsync("app/db", new Dictionary<string, string> { ["k"] = "v" });
        }

        var page = await root.GetSystemAuditAsync(tenant, new AuditQuery { Limit = 1000 });
        var all = await root.GetSystemAuditAsync(query: new AuditQuery { Limit = 2 });

        Assert.NotEmpty(page.Records);
        Assert.All(page.Records, r => Assert.Equal(tenant, r.Tenant));
        Assert.Contains(page.Records, r => r.Operation == "secret.write" && r.Path == "app/db" && r.Outcome == "ok");
        Assert.Equal(2, all.Records.Count);
        Assert.NotNull(all.Next);
    }

    [Fact]
    public async Task SealAndUnseal_WithDevKey_GoesSealedThenUnsealed()
    {
        await using var host = await KeywardTestHost.StartAsync();
        using var root = Clients.For(host, KeywardTestHost.RootToken);
        using var anonymous = Clients.For(host, null);
        var key = Clients.DevUnsealKey(host);

        await root.SealAsync();
        var sealedHealth = await anonymous.GetHealthAsync();
        var refused = await Clients.FailsAsync(() => root.ListTenantsAsync(), 503, "sealed");
        var reset = await anonymous.ResetUnsealAsync();
        var status = await anonymous.UnsealAsync(key);
        var health = await anonymous.GetHealthAsync();

        Assert.True(sealedHealth.Sealed);
        Assert.False(sealedHealth.IsReady);
        Assert.True(reset.Sealed);
        Assert.Equal(0, reset.Progress);
        Assert.False(status.Sealed);
        Assert.False(health.Sealed);
        Assert.NotNull(refused.Message);
        Assert.NotNull(await root.ListTenantsAsync());
    }

    [Fact]
    public async Task UnsealAsync_WrongKey_Throws400UnsealFailed()
    {
        await using var host = await KeywardTestHost.StartAsync();
        using var root = Clients.For(host, KeywardTestHost.RootToken);
        using var anonymous = Clients.For(host, null);
        await root.SealAsync();

        await Clients.FailsAsync(() => anonymous.UnsealAsync("not-a-key-share"), 400, "unseal_failed");
    }

    [Fact]
    public async Task RevokeRootTokensThenGenerateRoot_WithKeyShare_MintsAWorkingRootToken()
    {
        await using var host = await KeywardTestHost.StartAsync();
        using var root = Clients.For(host, KeywardTestHost.RootToken);
        using var anonymous = Clients.For(host, null);

        await root.RevokeRootTokensAsync();
        var revoked = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => root.ListTenantsAsync());
        var generated = await anonymous.GenerateRootAsync([Clients.DevUnsealKey(host)]);
        using var fresh = Clients.For(host, generated.RootToken);

        Assert.Equal(401, revoked.Status);
        Assert.StartsWith("kwr_", generated.RootToken, StringComparison.Ordinal);
        Assert.NotEqual(KeywardTestHost.RootToken, generated.RootToken);
        Assert.NotNull(await fresh.ListTenantsAsync());
        Assert.DoesNotContain(KeywardTestHost.RootToken, revoked.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GenerateRootAsync_WrongShare_Throws400()
    {
        using var anonymous = _server.Client(null);

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => anonymous.GenerateRootAsync(["AAAA"]));

        Assert.Equal(400, error.Status);
    }

    [Fact]
    public async Task InitializeAsync_FreshServer_ReturnsSharesAndRootToken_ThatUnsealAfterASeal()
    {
        using var directory = new TempDirectory();
        await using var host = KeywardServerHost.Create(
            new KeywardServerOptions { DataDirectory = directory.Path, Listen = "127.0.0.1:0" },
            builder => builder.WebHost.UseTestServer());
        await host.StartAsync();
        using var client = new KeywardClient(new KeywardClientOptions { Address = Clients.TestAddress, Handler = host.App.GetTestServer().CreateHandler() });

        var before = await client.GetHealthAsync();
        var init = await client.InitializeAsync(3, 2);
        using var root = new KeywardClient(new KeywardClientOptions { Address = Clients.TestAddress, Token = init.RootToken, Handler = host.App.GetTestServer().CreateHandler() });
        await root.SealAsync();
        var first = await client.UnsealAsync(init.Keys[0]);
        var second = await client.UnsealAsync(init.Keys[2]);

        Assert.False(before.Initialized);
        Assert.True(before.Sealed);
        Assert.Equal(3, init.Keys.Count);
        Assert.Equal(3, init.Keys.Distinct().Count());
        Assert.StartsWith("kwr_", init.RootToken, StringComparison.Ordinal);
        Assert.True(first.Sealed);
        Assert.Equal(1, first.Progress);
        Assert.Equal(2, first.Threshold);
        Assert.False(second.Sealed);
        Assert.Empty(await root.ListTenantsAsync());
    }
}
