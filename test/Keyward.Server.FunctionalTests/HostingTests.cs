using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Keyward.Core.Seal;
using Keyward.Server.Hosting;
using Keyward.Tests.Common;
using Microsoft.Extensions.Logging;

namespace Keyward.Server.FunctionalTests;

/// <summary>Start-up refusals, dev mode's data reuse, and the broker on a real Kestrel listener, plain and TLS.</summary>
public sealed class HostingTests
{
    [Theory]
    [InlineData(true, "0.0.0.0:8210", false, "non-loopback")]
    [InlineData(false, "0.0.0.0:8210", false, "without TLS")]
    [InlineData(false, "10.1.2.3:8210", false, "without TLS")]
    [InlineData(false, "example.com:8210", false, "IP address or localhost")]
    [InlineData(false, "127.0.0.1", false, "host:port")]
    [InlineData(false, "127.0.0.1:99999", false, "invalid port")]
    public void Validate_UnsafeOrMalformedListener_IsRefused(bool dev, string listen, bool insecure, string message)
    {
        var options = new KeywardServerOptions { Dev = dev, Listen = listen, DataDirectory = dev ? null : "/tmp/x", InsecureNoTls = insecure };

        var refused = Assert.Throws<ServerStartupException>(() => ServerOptionsValidator.Validate(options));

        Assert.Contains(message, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NonLoopbackWithInsecureNoTls_IsAllowed()
    {
        var listen = ServerOptionsValidator.Validate(new KeywardServerOptions { Listen = "0.0.0.0:8210", DataDirectory = "/tmp/x", InsecureNoTls = true });

        Assert.False(listen.IsLoopback);
    }

    [Theory]
    [InlineData("kwr_short")]
    [InlineData("kwa_0123456789abcdefghijklmnopqrstuvwxyz")]
    [InlineData("kwr_0123456789abcdefghijklmnopqrstuv!!")]
    public void Validate_BadDevRootToken_IsRefused(string token)
    {
        Assert.Throws<ServerStartupException>(() => ServerOptionsValidator.Validate(new KeywardServerOptions { Dev = true, DevRootToken = token }));
    }

    [Fact]
    public void Validate_WithoutDataOutsideDev_AndHalfTls_AreRefused()
    {
        Assert.Contains("--data", Assert.Throws<ServerStartupException>(() => ServerOptionsValidator.Validate(new KeywardServerOptions())).Message, StringComparison.Ordinal);
        Assert.Contains("go together", Assert.Throws<ServerStartupException>(() =>
            ServerOptionsValidator.Validate(new KeywardServerOptions { DataDirectory = "/tmp/x", TlsCertificateFile = "/tmp/cert.pem" })).Message, StringComparison.Ordinal);
        Assert.Throws<ServerStartupException>(() => ServerOptionsValidator.Validate(new KeywardServerOptions { DevRootToken = KeywardTestHost.RootToken, DataDirectory = "/tmp/x" }));
    }

    [Fact]
    public async Task DevMode_ReusedDataDirectory_UnsealsItselfKeepsDataAndReplacesTheRootToken()
    {
        using var data = new TempDirectory();
        string admin;
        await using (var first = await KeywardTestHost.StartAsync(data.Path))
        {
            admin = await first.CreateTenantAsync("acme");
            await first.PutSecretAsync(admin, "app/db", new { password = "kept" });
        }

        var keyFile = data.File(UnsealKeyFile.DevFileName);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));

        await using var second = KeywardServerHost.Create(new KeywardServerOptions { Dev = true, DataDirectory = data.Path, Listen = "127.0.0.1:0" }, b => b.Logging.ClearProviders());
        var report = await second.StartAsync();

        Assert.Equal(SealState.Unsealed, report.State);
        Assert.NotNull(report.RootToken);
        Assert.NotEqual(KeywardTestHost.RootToken, report.RootToken);
        using var client = new HttpClient { BaseAddress = new Uri(report.Address) };
        client.DefaultRequestHeaders.Authorization = new("Bearer", admin);
        var read = await Problems.JsonAsync(await client.GetAsync("/v1/secrets/app/db"));
        Assert.Equal("kept", read.GetProperty("data").GetProperty("password").GetString());
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeywardTestHost.RootToken);
        await Problems.AssertProblemAsync(await client.GetAsync("/v1/tenants"), HttpStatusCode.Unauthorized, "token_revoked");
        client.DefaultRequestHeaders.Authorization = new("Bearer", report.RootToken);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/tenants")).StatusCode);
    }

    [Fact]
    public async Task DevMode_OnADirectoryInitializedWithShares_IsRefused()
    {
        using var data = new TempDirectory();
        await using (var plain = await KeywardTestHost.StartAsync(new KeywardServerOptions { DataDirectory = data.Path }))
        {
            (await plain.Client(token: null).PostAsJsonAsync("/v1/sys/init", new { shares = 1, threshold = 1 })).EnsureSuccessStatusCode();
        }

        var refused = await Assert.ThrowsAsync<ServerStartupException>(() => KeywardTestHost.StartAsync(data.Path));

        Assert.Contains("without --dev", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DevMode_WithoutData_UsesATemporaryDirectoryRemovedAtShutdown()
    {
        var host = KeywardServerHost.Create(new KeywardServerOptions { Dev = true, Listen = "127.0.0.1:0" }, b => b.Logging.ClearProviders());
        var report = await host.StartAsync();
        Assert.True(Directory.Exists(report.DataDirectory));
        Assert.StartsWith(Path.GetTempPath(), report.DataDirectory, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(report.DataDirectory));

        await host.DisposeAsync();

        Assert.False(Directory.Exists(report.DataDirectory));
    }

    [Fact]
    public async Task RealKestrel_ServesTheApiOverLoopback()
    {
        using var data = new TempDirectory();
        await using var host = KeywardServerHost.Create(
            new KeywardServerOptions { Dev = true, DevRootToken = KeywardTestHost.RootToken, DataDirectory = data.Path, Listen = $"127.0.0.1:{KeywardProcess.FreePort()}" },
            b => b.Logging.ClearProviders());
        var report = await host.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(report.Address) };
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeywardTestHost.RootToken);

        (await client.PostAsJsonAsync("/v1/tenants", new { id = "acme" })).EnsureSuccessStatusCode();
        var health = await Problems.JsonAsync(await client.GetAsync("/v1/sys/health"));

        Assert.False(health.GetProperty("sealed").GetBoolean());
        Assert.StartsWith("http://127.0.0.1:", report.Address, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RealKestrel_WithTls_ServesHttpsWithTheGivenCertificate()
    {
        using var data = new TempDirectory();
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=keyward-test", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        var certFile = data.File("tls.crt");
        var keyFile = data.File("tls.key");
        await File.WriteAllTextAsync(certFile, certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(keyFile, rsa.ExportPkcs8PrivateKeyPem());
        var port = KeywardProcess.FreePort();

        await using var host = KeywardServerHost.Create(
            new KeywardServerOptions
            {
                Dev = true,
                DataDirectory = data.File("store"),
                Listen = $"127.0.0.1:{port}",
                TlsCertificateFile = certFile,
                TlsKeyFile = keyFile,
            },
            b => b.Logging.ClearProviders());
        await host.StartAsync();

        using var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, presented, _, _) => presented?.Thumbprint == certificate.Thumbprint,
        };
        using var https = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{port}") };
        Assert.Equal(HttpStatusCode.OK, (await https.GetAsync("/v1/sys/health")).StatusCode);

        using var plain = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(2) };
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => plain.GetAsync("/v1/sys/health"));
    }
}
