using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keyward.Core.Tenants;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;

namespace Keyward.Server.FunctionalTests.Jwt;

/// <summary>
/// <c>POST /v1/auth/jwt/login</c>: the happy paths (RS256 and ES256, JWKS and PEM, subject and claim bindings), the
/// session's lifetime and reach, and every refusal the issue lists — each one must be 401 <c>invalid_jwt</c> (or the
/// documented 403/423), audited, and must mint nothing.
/// </summary>
public sealed class JwtLoginTests : IClassFixture<JwtFixture>
{
    private const string Acme = JwtFixture.Acme;
    private const string Globex = JwtFixture.Globex;

    private readonly JwtFixture _f;

    public JwtLoginTests(JwtFixture fixture)
    {
        _f = fixture;
    }

    [Fact]
    public async Task Login_Rs256FromJwks_SessionReadsWhatRoleAllowsAndNothingElse()
    {
        // Arrange
        var jwt = _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSha256);

        // Act
        var response = await _f.LoginAsync(Acme, "reader", jwt);

        // Assert
        Assert.True(response.Status == 200, response.ToString());
        var body = response.Json();
        var token = body.GetProperty("token").GetString()!;
        Assert.StartsWith("kws_", token, StringComparison.Ordinal);
        Assert.Equal(Acme, body.GetProperty("tenant").GetString());
        Assert.Equal("reader", body.GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("agent_id").ValueKind); // the sub has ':' — not an agent id
        Assert.StartsWith("jwt-", body.GetProperty("run_id").GetString(), StringComparison.Ordinal); // every session belongs to a run
        Assert.False(body.GetProperty("renewable").GetBoolean());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("accessor").GetString()));

        using var session = _f.Host.Client(token);
        var read = await Problems.JsonAsync(await session.GetAsync("/v1/secrets/app/db"));
        Assert.Equal("pw-acme", read.GetProperty("data").GetProperty("password").GetString());
        await Problems.AssertProblemAsync(await session.GetAsync("/v1/secrets/other/x"), HttpStatusCode.Forbidden, "permission_denied");
        await Problems.AssertProblemAsync(await session.PutAsJsonAsync("/v1/secrets/app/db", new { data = new { password = "x" } }), HttpStatusCode.Forbidden, "permission_denied");
        await Problems.AssertProblemAsync(await session.GetAsync("/v1/roles"), HttpStatusCode.Forbidden, "admin_token_required");
        await Problems.AssertProblemAsync(await session.GetAsync("/v1/auth/jwt/issuers"), HttpStatusCode.Forbidden, "admin_token_required");
    }

    [Fact]
    public async Task Login_Es256FromJwks_SessionIssuedWithAgentIdFromSubject()
    {
        // Arrange
        var jwt = _f.Sign(_f.EcKey, SecurityAlgorithms.EcdsaSha256, subject: "builder-7");

        // Act
        var response = await _f.LoginAsync(Acme, "reader", jwt);

        // Assert
        Assert.True(response.Status == 200, response.ToString());
        Assert.Equal("builder-7", response.Json().GetProperty("agent_id").GetString());
    }

    [Fact]
    public async Task Login_PemRegisteredIssuers_AcceptTheirOwnAlgorithm()
    {
        // Arrange: PEM keys have no kid, so any kid in the token is fine; the signature decides
        var rsa = _f.Sign(new RsaSecurityKey(_f.Rsa) { KeyId = "whatever" }, SecurityAlgorithms.RsaSha256, issuer: JwtFixture.RsaOnlyIssuer);
        var ec = _f.Sign(new ECDsaSecurityKey(_f.Ec), SecurityAlgorithms.EcdsaSha256, issuer: JwtFixture.EcOnlyIssuer);

        // Act
        var rsaResponse = await _f.LoginAsync(Acme, "reader", rsa);
        var ecResponse = await _f.LoginAsync(Acme, "reader", ec);

        // Assert
        Assert.True(rsaResponse.Status == 200, rsaResponse.ToString());
        Assert.True(ecResponse.Status == 200, ecResponse.ToString());
    }

    [Fact]
    public async Task Login_LongLivedJwt_SessionCappedAtRoleMaxTtl()
    {
        // Arrange
        var jwt = _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSha256, expiresIn: TimeSpan.FromHours(5));

        // Act
        var response = await _f.LoginAsync(Acme, "reader", jwt);

        // Assert
        Assert.True(response.Status == 200, response.ToString());
        Assert.Equal(_f.Now + JwtFixture.ReaderMaxTtl, response.Json().GetProperty("expires_at").GetDateTimeOffset());
    }

    [Fact]
    public async Task Login_ShortLivedJwt_SessionExpiresWithTheJwt()
    {
        // Arrange
        var jwt = _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSha256, expiresIn: TimeSpan.FromSeconds(90));

        // Act
        var response = await _f.LoginAsync(Acme, "reader", jwt);

        // Assert: at the JWT's exp (whole seconds), well before the role's 10 minutes; and refused once past it
        Assert.True(response.Status == 200, response.ToString());
        var expires = response.Json().GetProperty("expires_at").GetDateTimeOffset();
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds((_f.Now + TimeSpan.FromSeconds(90)).ToUnixTimeSeconds()), expires);
        using var session = _f.Host.Client(response.Json().GetProperty("token").GetString());
        Assert.Equal(HttpStatusCode.OK, (await session.GetAsync("/v1/secrets/app/db")).StatusCode);
        _f.Clock.Advance(TimeSpan.FromSeconds(91));
        await Problems.AssertProblemAsync(await session.GetAsync("/v1/secrets/app/db"), HttpStatusCode.Unauthorized, "token_expired");
    }

    [Fact]
    public async Task Login_ClaimBinding_GrantsWriterOnlyWhenEveryClaimMatches()
    {
        // Arrange
        var matching = _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSha256, subject: "deployer",
            claims: new Dictionary<string, object> { ["groups"] = new[] { "devs", "deployers" }, ["env"] = "prod-eu" });
        var wrongEnv = _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSha256, subject: "deployer",
            claims: new Dictionary<string, object> { ["groups"] = new[] { "deployers" }, ["env"] = "staging" });
        var missingClaim = _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSha256, subject: "deployer",
            claims: new Dictionary<string, object> { ["groups"] = "deployers" });

        // Act
        var ok = await _f.LoginAsync(Acme, "writer", matching);
        var refusedEnv = await _f.LoginAsync(Acme, "writer", wrongEnv);
        var refusedMissing = await _f.LoginAsync(Acme, "writer", missingClaim);

        // Assert
        Assert.True(ok.Status == 200, ok.ToString());
        Assert.Equal("writer", ok.Json().GetProperty("role").GetString());
        AssertRefused(refusedEnv, 403, "jwt_binding_denied");
        AssertRefused(refusedMissing, 403, "jwt_binding_denied");
    }

    [Fact]
    public async Task Login_SubjectNotBoundToRole_Forbidden()
    {
        // Arrange: a valid token whose subject matches no reader binding, and a role no binding names
        var stranger = _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSha256, subject: "system:serviceaccount:prod:api");
        var ci = _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSha256);

        // Act
        var wrongSubject = await _f.LoginAsync(Acme, "reader", stranger);
        var wrongRole = await _f.LoginAsync(Acme, "writer", ci);

        // Assert
        AssertRefused(wrongSubject, 403, "jwt_binding_denied");
        AssertRefused(wrongRole, 403, "jwt_binding_denied");
    }

    public static TheoryData<string> Refusals =>
    [
        "expired", "not_yet_valid", "no_exp", "wrong_audience", "no_audience", "wrong_issuer", "alg_none", "alg_none_signed",
        "hs256_with_public_key_pem", "hs256_with_public_key_der", "rs256_against_ec_only_issuer", "es256_against_rsa_only_issuer",
        "kid_of_ec_key_with_rs256", "unknown_kid", "tampered_payload", "bad_signature_rsa", "bad_signature_ec", "ps256",
        "globex_jwt_at_acme", "acme_jwt_at_globex", "unknown_tenant", "invalid_tenant_id",
    ];

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task Login_BadJwt_RefusedAsInvalidJwtAuditedNothingMinted(string name)
    {
        // Arrange
        var (tenant, jwt, reason) = Attack(name);
        var audit = new AuditLog(_f.Host);

        // Act
        var response = await _f.LoginAsync(tenant, "reader", jwt);

        // Assert
        AssertRefused(response, 401, "invalid_jwt");
        Assert.Contains(reason, response.Json().GetProperty("detail").GetString(), StringComparison.Ordinal);
        await AssertAuditedAnonymousAsync(audit, response, jwt, tenant is Acme or Globex ? tenant : null);
    }

    public static TheoryData<string> Malformed =>
    [
        "", "abc", "a.b", "a.b.c.d", "!!!.???.###", "e30.e30.", "W10.e30.c2ln",
        "eyJhbGciOiJSUzI1NiIsImFsZyI6Im5vbmUifQ.e30.c2ln", // {"alg":"RS256","alg":"none"}: duplicate members
    ];

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task Login_MalformedJwt_Refused(string jwt)
    {
        // Act
        var response = await _f.LoginAsync(Acme, "reader", jwt);

        // Assert
        Assert.True(response.Status is 400 or 401, response.ToString());
        Assert.True(response.ProblemCode is "invalid_jwt" or "missing_field", response.ToString());
        Assert.DoesNotContain("kws_", response.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Login_OversizeJwt_RefusedWithoutParsing()
    {
        // Arrange: a correctly signed token carrying a 17 KB claim
        var jwt = _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSha256, claims: new Dictionary<string, object> { ["pad"] = new string('x', 17 * 1024) });

        // Act
        var response = await _f.LoginAsync(Acme, "reader", jwt);

        // Assert
        AssertRefused(response, 401, "invalid_jwt");
        Assert.Contains("too large", response.Json().GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Login_UnknownTenant_AnswersExactlyAsATenantWithoutThatIssuer()
    {
        // Arrange: a valid globex token presented at acme (exists, no such issuer) and at a tenant that does not exist
        var jwt = _f.Sign(new RsaSecurityKey(_f.GlobexRsa), SecurityAlgorithms.RsaSha256, issuer: JwtFixture.GlobexIssuer);

        // Act
        var existing = await _f.LoginAsync(Acme, "reader", jwt);
        var missing = await _f.LoginAsync("no-such-tenant", "reader", jwt);

        // Assert
        Assert.Equal((existing.Status, existing.ProblemCode), (missing.Status, missing.ProblemCode));
        Assert.Equal(existing.Json().GetProperty("detail").GetString(), missing.Json().GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Login_LockedTenant_423AndNothingMinted()
    {
        // Arrange
        const string Tenant = "locked-co";
        var issuer = await PrepareThrowawayTenantAsync(Tenant);
        await SetStateAsync(Tenant, TenantState.Locked);
        var jwt = _f.Sign(new RsaSecurityKey(issuer), SecurityAlgorithms.RsaSha256, issuer: "https://" + Tenant + ".example");

        // Act
        var response = await _f.LoginAsync(Tenant, "reader", jwt);

        // Assert
        AssertRefused(response, 423, "tenant_locked");
    }

    [Fact]
    public async Task Login_DeletedTenant_RefusedAsInvalidJwt()
    {
        // Arrange
        const string Tenant = "gone-co";
        var issuer = await PrepareThrowawayTenantAsync(Tenant);
        var jwt = _f.Sign(new RsaSecurityKey(issuer), SecurityAlgorithms.RsaSha256, issuer: "https://" + Tenant + ".example");
        Assert.Equal(200, (await _f.LoginAsync(Tenant, "reader", jwt)).Status);
        using (var root = _f.Host.Client())
        {
            Assert.Equal(HttpStatusCode.NoContent, (await root.DeleteAsync("/v1/tenants/" + Tenant)).StatusCode);
        }

        // Act
        var response = await _f.LoginAsync(Tenant, "reader", jwt);

        // Assert
        AssertRefused(response, 401, "invalid_jwt");
    }

    [Fact]
    public async Task DeleteIssuer_RevokesEverySessionItIssued()
    {
        // Arrange
        const string Tenant = "revoke-co";
        var issuer = await PrepareThrowawayTenantAsync(Tenant);
        var jwt = _f.Sign(new RsaSecurityKey(issuer), SecurityAlgorithms.RsaSha256, issuer: "https://" + Tenant + ".example");
        var first = (await _f.LoginAsync(Tenant, "reader", jwt)).Json().GetProperty("token").GetString();
        var second = (await _f.LoginAsync(Tenant, "reader", jwt)).Json().GetProperty("token").GetString();
        using var one = _f.Host.Client(first);
        using var two = _f.Host.Client(second);
        Assert.Equal(HttpStatusCode.OK, (await one.GetAsync("/v1/secrets/app/db")).StatusCode); // cached as valid

        // Act
        using (var admin = _f.Host.Client(_f.Admin[Tenant].Token))
        {
            Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/v1/auth/jwt/issuers/ci")).StatusCode);
            await Problems.AssertProblemAsync(await admin.GetAsync("/v1/auth/jwt/issuers/ci"), HttpStatusCode.NotFound, "jwt_issuer_not_found");
        }

        // Assert: both sessions dead at once, and the JWT no longer logs in
        await Problems.AssertProblemAsync(await one.GetAsync("/v1/secrets/app/db"), HttpStatusCode.Unauthorized, "token_revoked");
        await Problems.AssertProblemAsync(await two.GetAsync("/v1/secrets/app/db"), HttpStatusCode.Unauthorized, "token_revoked");
        AssertRefused(await _f.LoginAsync(Tenant, "reader", jwt), 401, "invalid_jwt");
    }

    [Fact]
    public async Task Login_Success_AuditedWithSessionAsActorAndNeverTheJwt()
    {
        // Arrange
        var audit = new AuditLog(_f.Host);
        var jwt = _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSha256, subject: "builder-9");

        // Act
        var response = await _f.LoginAsync(Acme, "reader", jwt);

        // Assert
        Assert.Equal(200, response.Status);
        var record = await audit.SingleAsync(response.RequestId);
        Assert.Equal("auth.jwt.login", record.GetProperty("operation").GetString());
        Assert.Equal("ok", record.GetProperty("outcome").GetString());
        Assert.Equal(Acme, record.GetProperty("tenant").GetString());
        Assert.Equal("agent", record.GetProperty("actor").GetProperty("kind").GetString());
        Assert.Equal(response.Json().GetProperty("accessor").GetString(), record.GetProperty("actor").GetProperty("accessor").GetString());
        AssertNoJwt(audit.AllText, jwt);
        AssertNoJwt(_f.Host.Logs.All, jwt);
        Assert.DoesNotContain(response.Json().GetProperty("token").GetString()!, audit.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Login_WithLoginResponseShape_HasEveryExchangeField()
    {
        // Act
        var response = await _f.LoginAsync(Acme, "reader", _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSha256));

        // Assert
        var names = response.Json().EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["accessor", "agent_id", "expires_at", "renewable", "role", "run_id", "tenant", "token"], names);
    }

    private (string Tenant, string Jwt, string Reason) Attack(string name)
    {
        var rs = SecurityAlgorithms.RsaSha256;
        var es = SecurityAlgorithms.EcdsaSha256;
        var pem = Encoding.UTF8.GetBytes(_f.Rsa.ExportSubjectPublicKeyInfoPem());
        var der = _f.Rsa.ExportSubjectPublicKeyInfo();
        return name switch
        {
            "expired" => (Acme, _f.Sign(_f.RsaKey, rs, expiresIn: TimeSpan.FromMinutes(-5)), "expired"),
            "not_yet_valid" => (Acme, _f.Sign(_f.RsaKey, rs, notBeforeIn: TimeSpan.FromMinutes(10)), "not yet valid"),
            "no_exp" => (Acme, _f.Sign(_f.RsaKey, rs, noExpiry: true), "no expiry"),
            "wrong_audience" => (Acme, _f.Sign(_f.RsaKey, rs, audience: "someone-else"), "audience"),
            "no_audience" => (Acme, _f.Sign(_f.RsaKey, rs, audience: null), "audience"),
            "wrong_issuer" => (Acme, _f.Sign(_f.RsaKey, rs, issuer: "https://evil.example"), "issuer"),
            "alg_none" => (Acme, JwtFixture.Compact(new { alg = "none", typ = "JWT" }, _f.GoodPayload(), []), "algorithm"),
            "alg_none_signed" => (Acme, JwtFixture.Compact(new { alg = "none", kid = "rsa-1" }, _f.GoodPayload(), [1, 2, 3]), "algorithm"),
            "hs256_with_public_key_pem" => (Acme, Hs256(pem), "algorithm"),
            "hs256_with_public_key_der" => (Acme, Hs256(der), "algorithm"),
            "rs256_against_ec_only_issuer" => (Acme, _f.Sign(new RsaSecurityKey(_f.Rsa), rs, issuer: JwtFixture.EcOnlyIssuer), "algorithm"),
            "es256_against_rsa_only_issuer" => (Acme, _f.Sign(new ECDsaSecurityKey(_f.Ec), es, issuer: JwtFixture.RsaOnlyIssuer), "algorithm"),
            "kid_of_ec_key_with_rs256" => (Acme, _f.Sign(new RsaSecurityKey(_f.Rsa) { KeyId = "ec-1" }, rs), "algorithm"),
            "unknown_kid" => (Acme, _f.Sign(new RsaSecurityKey(_f.Rsa) { KeyId = "rsa-2" }, rs), "unknown key"),
            "tampered_payload" => (Acme, Tamper(_f.Sign(_f.RsaKey, rs, subject: "system:serviceaccount:other:x")), "signature"),
            "bad_signature_rsa" => (Acme, _f.Sign(new RsaSecurityKey(_f.Rogue) { KeyId = "rsa-1" }, rs), "signature"),
            "bad_signature_ec" => (Acme, BadEcSignature(), "signature"),
            "ps256" => (Acme, _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSsaPssSha256), "algorithm"),
            "globex_jwt_at_acme" => (Acme, _f.Sign(new RsaSecurityKey(_f.GlobexRsa), rs, issuer: JwtFixture.GlobexIssuer), "issuer"),
            "acme_jwt_at_globex" => (Globex, _f.Sign(_f.RsaKey, rs), "issuer"),
            "unknown_tenant" => ("initrode", _f.Sign(_f.RsaKey, rs), "issuer"),
            "invalid_tenant_id" => ("Not A Tenant!", _f.Sign(_f.RsaKey, rs), "issuer"),
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
        };
    }

    /// <summary>The classic key-confusion token: HS256 with the verifier's public key bytes as the HMAC secret.</summary>
    private string Hs256(byte[] secret)
    {
        var header = JwtFixture.B64(JsonSerializer.SerializeToUtf8Bytes(new { alg = "HS256", typ = "JWT", kid = "rsa-1" }));
        var payload = JwtFixture.B64(JsonSerializer.SerializeToUtf8Bytes(_f.GoodPayload()));
        var mac = HMACSHA256.HashData(secret, Encoding.ASCII.GetBytes(header + "." + payload));
        return header + "." + payload + "." + JwtFixture.B64(mac);
    }

    /// <summary>Replaces the payload of a validly signed token (sub changed to the bound CI subject), keeping its signature.</summary>
    private string Tamper(string jwt)
    {
        var parts = jwt.Split('.');
        var payload = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(System.Buffers.Text.Base64Url.DecodeFromChars(parts[1]))!;
        payload["sub"] = JsonSerializer.SerializeToElement(JwtFixture.CiSubject);
        return parts[0] + "." + JwtFixture.B64(JsonSerializer.SerializeToUtf8Bytes(payload)) + "." + parts[2];
    }

    private string BadEcSignature()
    {
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return _f.Sign(new ECDsaSecurityKey(other) { KeyId = "ec-1" }, SecurityAlgorithms.EcdsaSha256);
    }

    private async Task<RSA> PrepareThrowawayTenantAsync(string tenant)
    {
        await Operator.CreateTenantAsync(_f.Host, tenant);
        _f.Admin[tenant] = await Operator.MintAsync(_f.Host, tenant, "admin", "30d");
        await _f.PutRoleAsync(tenant, "reader", new[] { new { path = "app/**", capabilities = new[] { "read" } } }, "10m");
        await Operator.PutAsync(_f.Host, _f.Admin[tenant].Token, "app/db", new { password = "pw" });
        var rsa = RSA.Create(2048);
        await _f.PutIssuerOkAsync(tenant, "ci", new
        {
            issuer = "https://" + tenant + ".example",
            public_keys = new[] { rsa.ExportSubjectPublicKeyInfoPem() },
            bound_audiences = new[] { JwtFixture.Audience },
            bindings = new[] { new { role = "reader", subject = "*" } },
        });
        return rsa;
    }

    private async Task SetStateAsync(string tenantId, TenantState state)
    {
        // The lockdown route arrives with the kill switch; the state it sets is what matters here.
        var store = _f.Host.Store;
        var directory = _f.Host.Services.GetRequiredService<TenantDirectory>();
        await using (var session = await store.WriteAsync())
        {
            var tenant = await session.Tenants.GetByIdAsync(tenantId);
            await session.Tenants.UpdateStateAsync(tenant!.Uid, state, _f.Now);
            await session.CommitAsync();
        }

        directory.Invalidate();
    }

    private async Task AssertAuditedAnonymousAsync(AuditLog audit, RawResponse response, string jwt, string? tenant)
    {
        var record = await audit.SingleAsync(response.RequestId);
        AuditLog.AssertRecord(record, response, "auth.jwt.login", tenant);
        Assert.Equal("anonymous", record.GetProperty("actor").GetProperty("kind").GetString());
        AssertNoJwt(record.GetRawText(), jwt);
    }

    private static void AssertRefused(RawResponse response, int status, string code)
    {
        Assert.True(response.Status == status && response.ProblemCode == code, $"expected {status} {code}, got {response}");
        Assert.DoesNotContain("kws_", response.Body, StringComparison.Ordinal);
    }

    /// <summary>Neither the JWT nor its signature part appears.</summary>
    private static void AssertNoJwt(string text, string jwt)
    {
        Assert.DoesNotContain(jwt, text, StringComparison.Ordinal);
        var signature = jwt.Split('.')[^1];
        if (signature.Length >= 16)
        {
            Assert.DoesNotContain(signature, text, StringComparison.Ordinal);
        }
    }
}
