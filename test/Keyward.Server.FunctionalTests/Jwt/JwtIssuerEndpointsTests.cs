using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests.Jwt;

/// <summary>
/// Registration of JWT issuers: admin only, exactly one key source, only RSA ≥ 2048 and P-256 public keys with the
/// algorithm pinned to the key type, no private or symmetric key ever accepted, answers carry no key material.
/// </summary>
public sealed class JwtIssuerEndpointsTests : IClassFixture<JwtFixture>
{
    private readonly JwtFixture _f;

    public JwtIssuerEndpointsTests(JwtFixture fixture)
    {
        _f = fixture;
    }

    [Fact]
    public async Task Get_RegisteredJwksIssuer_ShowsKidsAndThumbprintsButNoKeyMaterial()
    {
        // Arrange
        using var admin = _f.Host.Client(_f.Admin[JwtFixture.Acme].Token);

        // Act
        var one = await Problems.JsonAsync(await admin.GetAsync("/v1/auth/jwt/issuers/k8s"));
        var list = await Problems.JsonAsync(await admin.GetAsync("/v1/auth/jwt/issuers"));

        // Assert
        Assert.Equal(JwtFixture.K8sIssuer, one.GetProperty("issuer").GetString());
        Assert.StartsWith("jwt_", one.GetProperty("node").GetString(), StringComparison.Ordinal);
        Assert.Equal(30, one.GetProperty("clock_skew").GetInt64());
        var keys = one.GetProperty("keys").EnumerateArray().ToList();
        Assert.Equal([("rsa-1", "RSA", "RS256"), ("ec-1", "EC", "ES256")],
            keys.Select(k => (k.GetProperty("kid").GetString(), k.GetProperty("kty").GetString(), k.GetProperty("alg").GetString())).ToArray());
        var p = _f.Rsa.ExportParameters(false);
        Assert.DoesNotContain(JwtFixture.B64(p.Modulus!), one.GetRawText(), StringComparison.Ordinal);
        Assert.Contains(list.GetProperty("issuers").EnumerateArray(), i => i.GetProperty("name").GetString() == "k8s");
    }

    [Fact]
    public async Task Put_SameIssuerAgain_ReplacesKeepingNode_AndCrossTenantIsolation()
    {
        // Arrange
        const string Tenant = "replace-co";
        await Operator.CreateTenantAsync(_f.Host, Tenant);
        _f.Admin[Tenant] = await Operator.MintAsync(_f.Host, Tenant, "admin", "30d");
        using var rsa = RSA.Create(2048);
        object Body(string audience) => new
        {
            issuer = JwtFixture.K8sIssuer, // the same iss as acme's: registrations are per tenant
            public_keys = new[] { rsa.ExportSubjectPublicKeyInfoPem() },
            bound_audiences = new[] { audience },
            bindings = new[] { new { role = "reader", subject = "*" } },
            clock_skew = "2m",
        };

        // Act
        var first = await _f.PutIssuerOkAsync(Tenant, "one", Body("a"));
        var second = await _f.PutIssuerOkAsync(Tenant, "one", Body("b"));
        var conflict = await _f.PutIssuerAsync(Tenant, "two", Body("c"));
        using var globex = _f.Host.Client(_f.Admin[JwtFixture.Globex].Token);
        var otherTenant = await globex.GetAsync("/v1/auth/jwt/issuers/one");
        var otherDelete = await globex.DeleteAsync("/v1/auth/jwt/issuers/one");

        // Assert
        Assert.Equal(first.GetProperty("node").GetString(), second.GetProperty("node").GetString());
        Assert.Equal("b", second.GetProperty("bound_audiences")[0].GetString());
        Assert.Equal(120, second.GetProperty("clock_skew").GetInt64());
        await Problems.AssertProblemAsync(conflict, HttpStatusCode.Conflict, "jwt_issuer_exists");
        await Problems.AssertProblemAsync(otherTenant, HttpStatusCode.NotFound, "jwt_issuer_not_found");
        await Problems.AssertProblemAsync(otherDelete, HttpStatusCode.NotFound, "jwt_issuer_not_found");
        using var admin = _f.Host.Client(_f.Admin[Tenant].Token);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/auth/jwt/issuers/one")).StatusCode);
    }

    [Fact]
    public async Task Put_NonAdminTokens_Refused()
    {
        // Arrange
        var orchestrator = await Operator.MintAsync(_f.Host, JwtFixture.Acme, "orchestrator");
        var body = ValidBody(keys: new[] { _f.Rsa.ExportSubjectPublicKeyInfoPem() });

        // Act
        using var orch = _f.Host.Client(orchestrator.Token);
        using var root = _f.Host.Client();
        using var none = _f.Host.Client(null);
        var byOrchestrator = await orch.PutAsJsonAsync("/v1/auth/jwt/issuers/x", body);
        var byRoot = await root.PutAsJsonAsync("/v1/auth/jwt/issuers/x", body);
        var anonymous = await none.PutAsJsonAsync("/v1/auth/jwt/issuers/x", body);

        // Assert
        await Problems.AssertProblemAsync(byOrchestrator, HttpStatusCode.Forbidden, "admin_token_required");
        await Problems.AssertProblemAsync(byRoot, HttpStatusCode.Forbidden, "tenant_token_required");
        await Problems.AssertProblemAsync(anonymous, HttpStatusCode.Unauthorized, "missing_token");
    }

    public static TheoryData<string> BadKeys =>
    [
        "rsa_private_pkcs8", "rsa_private_pkcs1", "ec_private", "certificate_label", "rsa_1024", "ec_p384", "garbage_pem", "two_blocks",
        "jwk_oct", "jwk_rsa_with_d", "jwk_ec_with_d", "jwk_rsa_alg_hs256", "jwk_ec_alg_rs256", "jwk_okp", "jwk_ec_off_curve",
        "jwk_enc_use", "jwks_empty", "jwks_not_a_set", "both_sources", "no_source",
    ];

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task Put_KeyNotAcceptable_400InvalidJwtKeyAndNothingStored(string name)
    {
        // Arrange
        var body = BadKeyBody(name);

        // Act
        var response = await _f.PutIssuerAsync(JwtFixture.Acme, "bad-" + name.Replace('_', '-'), body);

        // Assert
        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_jwt_key");
        Assert.DoesNotContain("BEGIN", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        using var admin = _f.Host.Client(_f.Admin[JwtFixture.Acme].Token);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/v1/auth/jwt/issuers/bad-" + name.Replace('_', '-'))).StatusCode);
    }

    public static TheoryData<string, string, string> BadFields => new()
    {
        { "no_audiences", "invalid_field", "bound_audiences" },
        { "empty_audiences", "invalid_field", "bound_audiences" },
        { "no_bindings", "invalid_field", "bindings" },
        { "binding_without_matcher", "invalid_field", "bindings[0]" },
        { "binding_bad_role", "invalid_name", "Binding role" },
        { "skew_too_large", "invalid_field", "clock_skew" },
        { "no_issuer", "missing_field", "issuer" },
        { "unknown_field", "unknown_field", "subjects" },
    };

    [Theory]
    [MemberData(nameof(BadFields))]
    public async Task Put_InvalidRegistration_400(string name, string code, string mention)
    {
        // Arrange
        var pem = new[] { _f.Rsa.ExportSubjectPublicKeyInfoPem() };
        var binding = new[] { new { role = "reader", subject = "*" } };
        object body = name switch
        {
            "no_audiences" => new { issuer = "https://x.example", public_keys = pem, bindings = binding },
            "empty_audiences" => new { issuer = "https://x.example", public_keys = pem, bound_audiences = Array.Empty<string>(), bindings = binding },
            "no_bindings" => new { issuer = "https://x.example", public_keys = pem, bound_audiences = new[] { "a" } },
            "binding_without_matcher" => new { issuer = "https://x.example", public_keys = pem, bound_audiences = new[] { "a" }, bindings = new[] { new { role = "reader" } } },
            "binding_bad_role" => new { issuer = "https://x.example", public_keys = pem, bound_audiences = new[] { "a" }, bindings = new[] { new { role = "no spaces", subject = "*" } } },
            "skew_too_large" => new { issuer = "https://x.example", public_keys = pem, bound_audiences = new[] { "a" }, bindings = binding, clock_skew = "6m" },
            "no_issuer" => new { public_keys = pem, bound_audiences = new[] { "a" }, bindings = binding },
            "unknown_field" => new { issuer = "https://x.example", public_keys = pem, bound_audiences = new[] { "a" }, bindings = new[] { new { role = "reader", subjects = "*" } } },
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };

        // Act
        var response = await _f.PutIssuerAsync(JwtFixture.Acme, "invalid", body);

        // Assert
        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        Assert.Contains(mention, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private static object ValidBody(string[] keys) => new
    {
        issuer = "https://valid.example",
        public_keys = keys,
        bound_audiences = new[] { "keyward" },
        bindings = new[] { new { role = "reader", subject = "*" } },
    };

    private object BadKeyBody(string name)
    {
        using var rsa1024 = RSA.Create(1024);
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var rsa = _f.Rsa.ExportParameters(false);
        var ec = _f.Ec.ExportParameters(false);
        var rsaPrivate = _f.Rsa.ExportParameters(true);
        var ecPrivate = _f.Ec.ExportParameters(true);
        object Jwks(params object[] keys) => new
        {
            issuer = "https://bad.example",
            jwks = new { keys },
            bound_audiences = new[] { "keyward" },
            bindings = new[] { new { role = "reader", subject = "*" } },
        };

        var offCurveY = (byte[])ec.Q.Y!.Clone();
        offCurveY[^1] ^= 1;
        return name switch
        {
            "rsa_private_pkcs8" => ValidBody([_f.Rsa.ExportPkcs8PrivateKeyPem()]),
            "rsa_private_pkcs1" => ValidBody([_f.Rsa.ExportRSAPrivateKeyPem()]),
            "ec_private" => ValidBody([_f.Ec.ExportECPrivateKeyPem()]),
            "certificate_label" => ValidBody([_f.Rsa.ExportSubjectPublicKeyInfoPem().Replace("PUBLIC KEY", "CERTIFICATE", StringComparison.Ordinal)]),
            "rsa_1024" => ValidBody([rsa1024.ExportSubjectPublicKeyInfoPem()]),
            "ec_p384" => ValidBody([p384.ExportSubjectPublicKeyInfoPem()]),
            "garbage_pem" => ValidBody(["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"]),
            "two_blocks" => ValidBody([_f.Rsa.ExportSubjectPublicKeyInfoPem() + "\n" + _f.Ec.ExportSubjectPublicKeyInfoPem()]),
            "jwk_oct" => Jwks(new { kty = "oct", kid = "h", k = JwtFixture.B64(RandomNumberGenerator.GetBytes(32)) }),
            "jwk_rsa_with_d" => Jwks(new { kty = "RSA", kid = "r", n = JwtFixture.B64(rsa.Modulus!), e = JwtFixture.B64(rsa.Exponent!), d = JwtFixture.B64(rsaPrivate.D!) }),
            "jwk_ec_with_d" => Jwks(new { kty = "EC", crv = "P-256", x = JwtFixture.B64(ec.Q.X!), y = JwtFixture.B64(ec.Q.Y!), d = JwtFixture.B64(ecPrivate.D!) }),
            "jwk_rsa_alg_hs256" => Jwks(JwtFixture.RsaJwk(_f.Rsa, "r", alg: "HS256")),
            "jwk_ec_alg_rs256" => Jwks(new { kty = "EC", crv = "P-256", alg = "RS256", x = JwtFixture.B64(ec.Q.X!), y = JwtFixture.B64(ec.Q.Y!) }),
            "jwk_okp" => Jwks(new { kty = "OKP", crv = "Ed25519", x = JwtFixture.B64(new byte[32]) }),
            "jwk_ec_off_curve" => Jwks(new { kty = "EC", crv = "P-256", x = JwtFixture.B64(ec.Q.X!), y = JwtFixture.B64(offCurveY) }),
            "jwk_enc_use" => Jwks(new { kty = "RSA", use = "enc", n = JwtFixture.B64(rsa.Modulus!), e = JwtFixture.B64(rsa.Exponent!) }),
            "jwks_empty" => Jwks(),
            "jwks_not_a_set" => new { issuer = "https://bad.example", jwks = new[] { 1, 2 }, bound_audiences = new[] { "keyward" }, bindings = new[] { new { role = "reader", subject = "*" } } },
            "both_sources" => new
            {
                issuer = "https://bad.example",
                public_keys = new[] { _f.Rsa.ExportSubjectPublicKeyInfoPem() },
                jwks = new { keys = new[] { JwtFixture.RsaJwk(_f.Rsa, "r") } },
                bound_audiences = new[] { "keyward" },
                bindings = new[] { new { role = "reader", subject = "*" } },
            },
            "no_source" => new { issuer = "https://bad.example", bound_audiences = new[] { "keyward" }, bindings = new[] { new { role = "reader", subject = "*" } } },
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
    }
}
