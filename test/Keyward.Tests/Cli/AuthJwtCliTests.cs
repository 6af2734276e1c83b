using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keyward.Tests.Common;

namespace Keyward.Tests.Cli;

public sealed class AuthJwtCliTests : IClassFixture<CliServerFixture>
{
    private readonly CliServerFixture _fixture;

    public AuthJwtCliTests(CliServerFixture fixture) => _fixture = fixture;

    private KeywardProcess Server => _fixture.Server;

    [Fact]
    public async Task IssuersPutAndLogin_JwtFromFileAndStdin_SessionReadsPerRole()
    {
        // Arrange
        var (tenant, admin) = await _fixture.TenantAsync();
        using var directory = new TempDirectory();
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await File.WriteAllTextAsync(directory.File("key.pem"), ec.ExportSubjectPublicKeyInfoPem());
        var jwt = Es256(ec, "spiffe://prod.example/ns/ci/sa/builder");
        await File.WriteAllTextAsync(directory.File("token"), jwt + "\n");
        CliAssert.Ok(await Server.RunAsync(admin, "roles", "put", "reader", "--rule", "app/**=read", "--max-ttl", "5m"));
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "app/db", "password=cli-pw"));

        // Act
        var put = CliAssert.Ok(await Server.RunAsync(admin, "auth", "jwt", "issuers", "put", "spiffe", "--issuer", "https://sts.example",
            "--public-key-file", directory.File("key.pem"), "--audience", "keyward", "--bind", "reader:sub=spiffe://prod.example/ns/*/sa/builder"));
        var login = CliAssert.Ok(await Server.RunAsync(null, "auth", "jwt", "login", "--tenant", tenant, "--role", "reader", "--jwt-file", directory.File("token"), "--format", "json"));
        var piped = CliAssert.Ok(await KeywardCli.RunAsync(["auth", "jwt", "login", "--tenant", tenant, "--role", "reader", "--jwt-file", "-"], Server.Env(null), stdin: jwt));
        var list = CliAssert.Ok(await Server.RunAsync(admin, "auth", "jwt", "issuers", "list"));
        CliAssert.Exit(2, await Server.RunAsync(null, "auth", "jwt", "login", "--tenant", tenant, "--role", "reader", "--jwt", jwt));

        // Assert
        CliAssert.Field(put, "Issuer", "https://sts.example");
        Assert.Contains("ES256", put.Stdout, StringComparison.Ordinal);
        using var session = JsonDocument.Parse(login.Stdout);
        var token = session.RootElement.GetProperty("token").GetString()!;
        Assert.StartsWith("kws_", token, StringComparison.Ordinal);
        Assert.Contains("kws_", piped.Stdout, StringComparison.Ordinal);
        Assert.Contains("spiffe", list.Stdout, StringComparison.Ordinal);
        Assert.Equal("cli-pw\n", CliAssert.Ok(await Server.RunAsync(token, "secrets", "get", "app/db", "--field", "password")).Stdout);
        CliAssert.Ok(await Server.RunAsync(admin, "auth", "jwt", "issuers", "delete", "spiffe"));
        CliAssert.Exit(1, await Server.RunAsync(token, "secrets", "get", "app/db"));
    }

    private static string Es256(ECDsa ec, string subject)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new { alg = "ES256", typ = "JWT" }));
        var payload = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new { iss = "https://sts.example", aud = new[] { "keyward", "other" }, sub = subject, iat = now, exp = now + 600 }));
        var signature = ec.SignData(Encoding.ASCII.GetBytes(header + "." + payload), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return header + "." + payload + "." + Base64Url.EncodeToString(signature);
    }
}
