using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keyward.Client.Models;

namespace Keyward.Client.Tests;

public sealed class JwtTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public JwtTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task LoginWithJwtAsync_RegisteredIssuer_ReturnsSessionThatReadsPerRole()
    {
        // Arrange
        var (tenant, _, admin) = await _server.TenantAsync();
        using var _admin = admin;
        using var rsa = RSA.Create(2048);
        await admin.PutRoleAsync("reader", [new RoleRule("app/**", ["read"])], TimeSpan.FromMinutes(5));
        await admin.PutSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "pw" });
        var registered = await admin.PutJwtIssuerAsync("ci", new JwtIssuerDefinition(
            "https://ci.example", ["keyward"], [new JwtBindingRule("reader", Subject: "repo:acme/*")])
        {
            PublicKeys = [rsa.ExportSubjectPublicKeyInfoPem()],
            ClockSkew = TimeSpan.FromSeconds(10),
        });
        var jwt = Rs256(rsa, "https://ci.example", "keyward", "repo:acme/api");

        // Act
        using var anonymous = _server.Client(token: null);
        var session = await anonymous.LoginWithJwtAsync(tenant, "reader", jwt);

        // Assert
        Assert.Equal(("RSA", "RS256"), (registered.Keys.Single().Kty, registered.Keys.Single().Alg));
        Assert.Equal(TimeSpan.FromSeconds(10), registered.ClockSkew);
        Assert.StartsWith("kws_", session.Token, StringComparison.Ordinal);
        Assert.Equal((tenant, "reader", false), (session.Tenant, session.Role, session.Renewable));
        Assert.DoesNotContain(session.Token, session.ToString(), StringComparison.Ordinal);
        using var agent = _server.Client(session.Token);
        Assert.Equal("pw", (await agent.GetSecretAsync("app/db")).Data.GetProperty("password").GetString());
        Assert.Single(await admin.ListJwtIssuersAsync());
        Assert.Equal(registered.Node, (await admin.GetJwtIssuerAsync("ci")).Node);
        await admin.DeleteJwtIssuerAsync("ci");
        await Clients.FailsAsync(() => agent.GetSecretAsync("app/db"), 401, "token_revoked");
    }

    [Fact]
    public async Task LoginWithJwtAsync_RefusedJwt_Throws401InvalidJwtWithoutTheJwt()
    {
        // Arrange
        var (tenant, _, admin) = await _server.TenantAsync();
        using var _admin = admin;
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await admin.PutRoleAsync("reader", [new RoleRule("app/**", ["read"])], TimeSpan.FromMinutes(5));
        await admin.PutJwtIssuerAsync("ci", new JwtIssuerDefinition("https://ci.example", ["keyward"], [new JwtBindingRule("reader", Subject: "*")])
        {
            PublicKeys = [ec.ExportSubjectPublicKeyInfoPem()],
        });
        using var rsa = RSA.Create(2048);
        var jwt = Rs256(rsa, "https://ci.example", "not-keyward", "x");

        // Act
        using var anonymous = _server.Client(token: null);
        var failure = await Clients.FailsAsync(() => anonymous.LoginWithJwtAsync(tenant, "reader", jwt), 401, "invalid_jwt");

        // Assert
        Assert.DoesNotContain(jwt.Split('.')[2], failure.Message, StringComparison.Ordinal);
        await Clients.FailsAsync(
            () => admin.PutJwtIssuerAsync("bad", new JwtIssuerDefinition("https://bad.example", ["k"], [new JwtBindingRule("reader", Subject: "*")])
            {
                PublicKeys = [rsa.ExportPkcs8PrivateKeyPem()],
            }),
            400,
            "invalid_jwt_key");
    }

    private static string Rs256(RSA rsa, string issuer, string audience, string subject)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new { alg = "RS256", typ = "JWT" }));
        var payload = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new { iss = issuer, aud = audience, sub = subject, iat = now, exp = now + 600 }));
        var signature = rsa.SignData(Encoding.ASCII.GetBytes(header + "." + payload), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return header + "." + payload + "." + Base64Url.EncodeToString(signature);
    }
}
