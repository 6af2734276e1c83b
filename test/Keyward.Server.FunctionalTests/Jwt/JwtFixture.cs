using System.Buffers.Text;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Keyward.Server.FunctionalTests.Jwt;

/// <summary>
/// One server on a manual clock with tenants <c>acme</c> and <c>globex</c>. acme registers the issuer
/// <c>k8s</c> (<see cref="K8sIssuer"/>, a JWKS with an RSA key <c>rsa-1</c> and a P-256 key <c>ec-1</c>), the
/// issuer <c>ec-only</c> (one EC PEM key) and <c>rsa-only</c> (one RSA PEM key); globex registers <c>ci</c>
/// (<see cref="GlobexIssuer"/>, its own RSA key). acme's role <c>reader</c> reads <c>app/**</c> for at most 10
/// minutes; <c>writer</c> writes <c>app/**</c>.
/// </summary>
public sealed class JwtFixture : IAsyncLifetime
{
    public const string Acme = "acme";
    public const string Globex = "globex";
    public const string K8sIssuer = "https://k8s.acme.example";
    public const string EcOnlyIssuer = "https://ec.acme.example";
    public const string RsaOnlyIssuer = "https://rsa.acme.example";
    public const string GlobexIssuer = "https://ci.globex.example";
    public const string Audience = "keyward";
    public const string CiSubject = "system:serviceaccount:ci:builder";
    public static readonly TimeSpan ReaderMaxTtl = TimeSpan.FromMinutes(10);

    public ManualTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 2, 1, 12, 0, 0, TimeSpan.Zero));

    public KeywardTestHost Host { get; private set; } = null!;

    public Dictionary<string, MintedToken> Admin { get; } = new(StringComparer.Ordinal);

    public RSA Rsa { get; } = RSA.Create(2048);

    public ECDsa Ec { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>A key nobody registered (bad signatures).</summary>
    public RSA Rogue { get; } = RSA.Create(2048);

    public RSA GlobexRsa { get; } = RSA.Create(2048);

    public SecurityKey RsaKey => new RsaSecurityKey(Rsa) { KeyId = "rsa-1" };

    public SecurityKey EcKey => new ECDsaSecurityKey(Ec) { KeyId = "ec-1" };

    public DateTimeOffset Now => Clock.GetUtcNow();

    public async Task InitializeAsync()
    {
        Host = await KeywardTestHost.StartAsync(services: s => s.AddSingleton<TimeProvider>(Clock));
        foreach (var tenant in new[] { Acme, Globex })
        {
            await Operator.CreateTenantAsync(Host, tenant);
            Admin[tenant] = await Operator.MintAsync(Host, tenant, "admin", "30d");
            await PutRoleAsync(tenant, "reader", new[] { new { path = "app/**", capabilities = new[] { "read", "list" } } }, "10m");
            await PutRoleAsync(tenant, "writer", new[] { new { path = "app/**", capabilities = new[] { "read", "write" } } }, "1h");
            await Operator.PutAsync(Host, Admin[tenant].Token, "app/db", new { password = "pw-" + tenant });
            await Operator.PutAsync(Host, Admin[tenant].Token, "other/x", new { password = "other-" + tenant });
        }

        await PutIssuerOkAsync(Acme, "k8s", new
        {
            issuer = K8sIssuer,
            jwks = new { keys = new object[] { RsaJwk(Rsa, "rsa-1"), EcJwk(Ec, "ec-1") } },
            bound_audiences = new[] { Audience },
            bindings = new object[]
            {
                new { role = "reader", subject = "system:serviceaccount:ci:*" },
                new { role = "reader", subject = "builder-*" },
                new { role = "writer", claims = new Dictionary<string, string> { ["groups"] = "deployers", ["env"] = "prod-*" } },
            },
        });
        await PutIssuerOkAsync(Acme, "ec-only", new
        {
            issuer = EcOnlyIssuer,
            public_keys = new[] { Ec.ExportSubjectPublicKeyInfoPem() },
            bound_audiences = new[] { Audience },
            bindings = new[] { new { role = "reader", subject = "*" } },
        });
        await PutIssuerOkAsync(Acme, "rsa-only", new
        {
            issuer = RsaOnlyIssuer,
            public_keys = new[] { Rsa.ExportSubjectPublicKeyInfoPem() },
            bound_audiences = new[] { Audience },
            bindings = new[] { new { role = "reader", subject = "*" } },
        });
        await PutIssuerOkAsync(Globex, "ci", new
        {
            issuer = GlobexIssuer,
            public_keys = new[] { GlobexRsa.ExportSubjectPublicKeyInfoPem() },
            bound_audiences = new[] { Audience },
            bindings = new[] { new { role = "reader", subject = "*" } },
        });
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        Rsa.Dispose();
        Ec.Dispose();
        Rogue.Dispose();
        GlobexRsa.Dispose();
    }

    public async Task PutRoleAsync(string tenant, string name, object rules, string maxTtl)
    {
        using var client = Host.Client(Admin[tenant].Token);
        await Problems.JsonAsync(await client.PutAsJsonAsync("/v1/roles/" + name, new { rules, max_ttl = maxTtl }));
    }

    public async Task<JsonElement> PutIssuerOkAsync(string tenant, string name, object body) =>
        await Problems.JsonAsync(await PutIssuerAsync(tenant, name, body));

    public async Task<HttpResponseMessage> PutIssuerAsync(string tenant, string name, object body)
    {
        using var client = Host.Client(Admin[tenant].Token);
        return await client.PutAsJsonAsync("/v1/auth/jwt/issuers/" + name, body);
    }

    /// <summary>POST /v1/auth/jwt/login with no Authorization header.</summary>
    public Task<RawResponse> LoginAsync(string tenant, string role, string jwt) =>
        Host.SendAsync(new RawRequest("POST", "/v1/auth/jwt/login") { Body = JsonSerializer.Serialize(new { tenant, role, jwt }) });

    /// <summary>A token signed with <paramref name="key"/> by the library, times relative to the manual clock.</summary>
    public string Sign(
        SecurityKey key,
        string algorithm,
        string issuer = K8sIssuer,
        string? audience = Audience,
        string? subject = CiSubject,
        TimeSpan? expiresIn = null,
        TimeSpan? notBeforeIn = null,
        IDictionary<string, object>? claims = null,
        bool noExpiry = false)
    {
        var all = new Dictionary<string, object>(claims ?? new Dictionary<string, object>(), StringComparer.Ordinal);
        if (subject is not null)
        {
            all["sub"] = subject;
        }

        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            IssuedAt = Now.UtcDateTime,
            NotBefore = notBeforeIn is { } nbf ? (Now + nbf).UtcDateTime : null,
            Expires = noExpiry ? null : (Now + (expiresIn ?? TimeSpan.FromHours(1))).UtcDateTime,
            Claims = all,
            SigningCredentials = new SigningCredentials(key, algorithm),
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

    /// <summary>A hand-made compact JWS: header and payload as given, signature bytes as given.</summary>
    public static string Compact(object header, object payload, byte[] signature) =>
        B64(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + B64(JsonSerializer.SerializeToUtf8Bytes(payload)) + "." + B64(signature);

    public static string Compact(string headerJson, string payloadJson, byte[] signature) =>
        B64(Encoding.UTF8.GetBytes(headerJson)) + "." + B64(Encoding.UTF8.GetBytes(payloadJson)) + "." + B64(signature);

    /// <summary>Standard claims that would pass every check but the signature.</summary>
    public Dictionary<string, object> GoodPayload(string issuer = K8sIssuer) => new()
    {
        ["iss"] = issuer,
        ["aud"] = Audience,
        ["sub"] = CiSubject,
        ["iat"] = Now.ToUnixTimeSeconds(),
        ["exp"] = Now.AddHours(1).ToUnixTimeSeconds(),
    };

    public static string B64(byte[] bytes) => Base64Url.EncodeToString(bytes);

    public static object RsaJwk(RSA rsa, string kid, string? alg = "RS256")
    {
        var p = rsa.ExportParameters(false);
        return alg is null
            ? new { kty = "RSA", kid, use = "sig", n = B64(p.Modulus!), e = B64(p.Exponent!) }
            : new { kty = "RSA", kid, use = "sig", alg, n = B64(p.Modulus!), e = B64(p.Exponent!) };
    }

    public static object EcJwk(ECDsa ec, string kid)
    {
        var p = ec.ExportParameters(false);
        return new { kty = "EC", kid, crv = "P-256", x = B64(p.Q.X!), y = B64(p.Q.Y!) };
    }
}
