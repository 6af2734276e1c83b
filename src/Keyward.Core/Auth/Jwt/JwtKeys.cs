using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;
using Microsoft.IdentityModel.Tokens;

namespace Keyward.Core.Auth.Jwt;

/// <summary>
/// Turns registered key material (PEM public keys or a JWKS document) into <see cref="JwtKey"/>s, and those into
/// verification keys. Only RSA (2048 to 8192 bits, RS256) and EC P-256 (ES256) public keys are accepted; private
/// keys, symmetric (<c>oct</c>, HMAC) keys and every other type are refused with <c>invalid_jwt_key</c>, so an HS256
/// token can never be checked against a public key used as an HMAC secret.
/// </summary>
public static class JwtKeys
{
    public const string RS256 = SecurityAlgorithms.RsaSha256;
    public const string ES256 = SecurityAlgorithms.EcdsaSha256;

    /// <summary>The only algorithms a login accepts; each is bound to one key type.</summary>
    public static readonly IReadOnlySet<string> Algorithms = new HashSet<string>(StringComparer.Ordinal) { RS256, ES256 };

    public const int MaxKeys = 16;
    public const int MinRsaBits = 2048;
    public const int MaxRsaBits = 8192;
    public const int MaxKidLength = 128;
    private const int MaxPemLength = 8192;
    private const string P256Oid = "1.2.840.10045.3.1.7";

    /// <summary>JWK members that carry private or symmetric key material.</summary>
    private static readonly string[] PrivateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

    public static IReadOnlyList<JwtKey> FromPem(IReadOnlyList<string> pems)
    {
        if (pems.Count is 0 or > MaxKeys)
        {
            throw KeywardErrors.InvalidJwtKey($"public_keys must hold 1 to {MaxKeys} PEM public keys.");
        }

        var keys = pems.Select((pem, i) => FromPem(pem, $"public_keys[{i}]")).ToList();
        return Distinct(keys);
    }

    public static IReadOnlyList<JwtKey> FromJwks(JsonElement jwks)
    {
        if (jwks.ValueKind != JsonValueKind.Object || !jwks.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Array)
        {
            throw KeywardErrors.InvalidJwtKey("jwks must be a JWK Set: {\"keys\": [...]}.");
        }

        var count = keys.GetArrayLength();
        if (count is 0 or > MaxKeys)
        {
            throw KeywardErrors.InvalidJwtKey($"jwks.keys must hold 1 to {MaxKeys} keys.");
        }

        var list = keys.EnumerateArray().Select((k, i) => FromJwk(k, $"jwks.keys[{i}]")).ToList();
        var kids = list.Where(k => k.Kid is not null).GroupBy(k => k.Kid, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (kids is not null)
        {
            throw KeywardErrors.InvalidJwtKey("jwks.keys names a kid more than once.");
        }

        return Distinct(list);
    }

    /// <summary>
    /// A verification key for <paramref name="key"/>, pinned to its algorithm. The caller disposes it (an EC key
    /// holds a native handle).
    /// </summary>
    public static VerificationKey ToSecurityKey(JwtKey key)
    {
        switch (key.Kty)
        {
            case "RSA":
                return new VerificationKey(key, new RsaSecurityKey(new RSAParameters { Modulus = Decode(key.N!), Exponent = Decode(key.E!) }) { KeyId = key.Kid }, null);
            case "EC":
                var ecdsa = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = Decode(key.X!), Y = Decode(key.Y!) } });
                return new VerificationKey(key, new ECDsaSecurityKey(ecdsa) { KeyId = key.Kid }, ecdsa);
            default:
                throw new InvalidDataException("A stored JWT key has an unknown type.");
        }
    }

    private static JwtKey FromPem(string? pem, string where)
    {
        if (string.IsNullOrWhiteSpace(pem) || pem.Length > MaxPemLength)
        {
            throw KeywardErrors.InvalidJwtKey($"{where} must be a PEM public key of at most {MaxPemLength} characters.");
        }

        if (!PemEncoding.TryFind(pem, out var fields))
        {
            throw KeywardErrors.InvalidJwtKey($"{where} is not a PEM block (-----BEGIN PUBLIC KEY-----).");
        }

        if (PemEncoding.TryFind(pem.AsSpan(fields.Location.End.GetOffset(pem.Length)), out _))
        {
            throw KeywardErrors.InvalidJwtKey($"{where} holds more than one PEM block; give one key per entry.");
        }

        var label = pem[fields.Label];
        if (label.Contains("PRIVATE", StringComparison.Ordinal))
        {
            // Nothing of it is echoed or kept: the refusal names only the entry.
            throw KeywardErrors.InvalidJwtKey($"{where} is a private key; register the public key only.");
        }

        byte[] der;
        try
        {
            der = Convert.FromBase64String(pem[fields.Base64Data]);
        }
        catch (FormatException)
        {
            throw KeywardErrors.InvalidJwtKey($"{where} has invalid base64 content.");
        }

        return label switch
        {
            "PUBLIC KEY" => FromSubjectPublicKeyInfo(der, where),
            "RSA PUBLIC KEY" => FromRsa(der, pkcs1: true, where) ?? throw KeywardErrors.InvalidJwtKey($"{where} is not a valid RSA public key."),
            _ => throw KeywardErrors.InvalidJwtKey($"{where}: PEM label '{Truncate(label)}' is not accepted; use PUBLIC KEY or RSA PUBLIC KEY."),
        };
    }

    private static JwtKey FromSubjectPublicKeyInfo(byte[] der, string where) =>
        FromRsa(der, pkcs1: false, where) ?? FromEc(der, where) ??
        throw KeywardErrors.InvalidJwtKey($"{where} is not an RSA or EC P-256 public key (the only key types accepted).");

    private static JwtKey? FromRsa(byte[] der, bool pkcs1, string where)
    {
        using var rsa = RSA.Create();
        try
        {
            int read;
            if (pkcs1)
            {
                rsa.ImportRSAPublicKey(der, out read);
            }
            else
            {
                rsa.ImportSubjectPublicKeyInfo(der, out read);
            }

            if (read != der.Length)
            {
                return null;
            }
        }
        catch (CryptographicException)
        {
            return null;
        }

        var parameters = rsa.ExportParameters(includePrivateParameters: false);
        return Rsa(parameters.Modulus!, parameters.Exponent!, kid: null, where);
    }

    private static JwtKey? FromEc(byte[] der, string where)
    {
        using var ecdsa = ECDsa.Create();
        try
        {
            ecdsa.ImportSubjectPublicKeyInfo(der, out var read);
            if (read != der.Length)
            {
                return null;
            }
        }
        catch (CryptographicException)
        {
            return null;
        }

        var parameters = ecdsa.ExportParameters(includePrivateParameters: false);
        if (!parameters.Curve.IsNamed || parameters.Curve.Oid.Value != P256Oid)
        {
            throw KeywardErrors.InvalidJwtKey($"{where} is an EC key on a curve other than P-256 (only P-256 / ES256 is accepted).");
        }

        return Ec(parameters.Q.X!, parameters.Q.Y!, kid: null, where);
    }

    private static JwtKey FromJwk(JsonElement jwk, string where)
    {
        if (jwk.ValueKind != JsonValueKind.Object)
        {
            throw KeywardErrors.InvalidJwtKey($"{where} must be a JWK object.");
        }

        var kty = String(jwk, "kty", where) ?? throw KeywardErrors.InvalidJwtKey($"{where} has no kty.");
        if (kty == "oct")
        {
            throw KeywardErrors.InvalidJwtKey($"{where} is a symmetric (oct) key; HMAC keys are never accepted.");
        }

        if (Array.Exists(PrivateMembers, m => jwk.TryGetProperty(m, out _)))
        {
            throw KeywardErrors.InvalidJwtKey($"{where} carries private key material; register the public key only.");
        }

        if (String(jwk, "use", where) is { } use && use != "sig")
        {
            throw KeywardErrors.InvalidJwtKey($"{where} has use '{Truncate(use)}'; only signature keys (use: sig) are accepted.");
        }

        var kid = String(jwk, "kid", where);
        if (kid is { Length: 0 or > MaxKidLength })
        {
            throw KeywardErrors.InvalidJwtKey($"{where}: kid must be 1 to {MaxKidLength} characters.");
        }

        var key = kty switch
        {
            "RSA" => Rsa(Member(jwk, "n", where), Member(jwk, "e", where), kid, where, validate: true),
            "EC" => String(jwk, "crv", where) == "P-256"
                ? Ec(Member(jwk, "x", where), Member(jwk, "y", where), kid, where, validate: true)
                : throw KeywardErrors.InvalidJwtKey($"{where} is an EC key on a curve other than P-256 (only P-256 / ES256 is accepted)."),
            _ => throw KeywardErrors.InvalidJwtKey($"{where} has kty '{Truncate(kty)}'; only RSA and EC (P-256) keys are accepted."),
        };

        if (String(jwk, "alg", where) is { } alg && alg != key.Alg)
        {
            throw KeywardErrors.InvalidJwtKey($"{where} declares alg '{Truncate(alg)}', but a {kty} key verifies {key.Alg} only.");
        }

        return key;
    }

    private static JwtKey Rsa(byte[] modulus, byte[] exponent, string? kid, string where, bool validate = false)
    {
        modulus = TrimLeadingZeros(modulus);
        exponent = TrimLeadingZeros(exponent);
        var bits = modulus.Length == 0 ? 0 : ((modulus.Length - 1) * 8) + 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)modulus[0]);
        if (bits is < MinRsaBits or > MaxRsaBits)
        {
            throw KeywardErrors.InvalidJwtKey($"{where} is a {bits}-bit RSA key; RSA keys must have {MinRsaBits} to {MaxRsaBits} bits.");
        }

        if (exponent.Length is 0 or > 8 || (exponent[^1] & 1) == 0 || (exponent.Length == 1 && exponent[0] < 3))
        {
            throw KeywardErrors.InvalidJwtKey($"{where} has an invalid RSA public exponent.");
        }

        if (validate)
        {
            try
            {
                using var rsa = RSA.Create(new RSAParameters { Modulus = modulus, Exponent = exponent });
            }
            catch (CryptographicException)
            {
                throw KeywardErrors.InvalidJwtKey($"{where} is not a valid RSA public key.");
            }
        }

        var n = Base64Url.EncodeToString(modulus);
        var e = Base64Url.EncodeToString(exponent);
        var thumbprint = Thumbprint($"{{\"e\":\"{e}\",\"kty\":\"RSA\",\"n\":\"{n}\"}}");
        return new JwtKey("RSA", RS256, kid, thumbprint, N: n, E: e);
    }

    private static JwtKey Ec(byte[] x, byte[] y, string? kid, string where, bool validate = false)
    {
        if (x.Length != 32 || y.Length != 32)
        {
            throw KeywardErrors.InvalidJwtKey($"{where} is not a valid P-256 public key (x and y must be 32 bytes).");
        }

        if (validate)
        {
            try
            {
                // Importing checks that the point is on the curve.
                using var ecdsa = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = x, Y = y } });
            }
            catch (CryptographicException)
            {
                throw KeywardErrors.InvalidJwtKey($"{where} is not a valid P-256 public key (the point is not on the curve).");
            }
        }

        var xs = Base64Url.EncodeToString(x);
        var ys = Base64Url.EncodeToString(y);
        var thumbprint = Thumbprint($"{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{xs}\",\"y\":\"{ys}\"}}");
        return new JwtKey("EC", ES256, kid, thumbprint, Crv: "P-256", X: xs, Y: ys);
    }

    private static IReadOnlyList<JwtKey> Distinct(List<JwtKey> keys) =>
        keys.Select(k => k.Thumbprint).Distinct(StringComparer.Ordinal).Count() == keys.Count
            ? keys
            : throw KeywardErrors.InvalidJwtKey("The same key is registered more than once.");

    /// <summary>RFC 7638: base64url(SHA-256(canonical JWK)).</summary>
    private static string Thumbprint(string canonical) => Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));

    private static string? String(JsonElement jwk, string name, string where)
    {
        if (!jwk.TryGetProperty(name, out var value))
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw KeywardErrors.InvalidJwtKey($"{where}: '{name}' must be a string.");
    }

    private static byte[] Member(JsonElement jwk, string name, string where)
    {
        var text = String(jwk, name, where);
        if (string.IsNullOrEmpty(text) || text.Length > 2048)
        {
            throw KeywardErrors.InvalidJwtKey($"{where} needs '{name}' (base64url).");
        }

        try
        {
            return Decode(text);
        }
        catch (FormatException)
        {
            throw KeywardErrors.InvalidJwtKey($"{where}: '{name}' is not base64url.");
        }
    }

    private static byte[] Decode(string base64Url) => Base64Url.DecodeFromChars(base64Url);

    private static byte[] TrimLeadingZeros(byte[] value)
    {
        var start = Array.FindIndex(value, b => b != 0);
        return start <= 0 ? (start < 0 ? [] : value) : value[start..];
    }

    private static string Truncate(string value) => value.Length <= 32 ? value : value[..32] + "…";
}

/// <summary>A verification key built from a stored <see cref="JwtKey"/>; disposing it frees the native key.</summary>
public sealed class VerificationKey(JwtKey key, SecurityKey securityKey, IDisposable? owned) : IDisposable
{
    public JwtKey Key { get; } = key;

    public SecurityKey SecurityKey { get; } = securityKey;

    public void Dispose() => owned?.Dispose();
}
