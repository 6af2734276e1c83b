using System.Buffers.Text;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Keyward.Core.Auth.Jwt;

/// <summary>Why a JWT was refused: short, fixed, non-secret reasons (the <c>detail</c> of 401 <c>invalid_jwt</c>).</summary>
public enum JwtRefusal
{
    Malformed,
    TooLarge,
    Algorithm,
    UnknownKey,
    Signature,
    Issuer,
    Audience,
    Expired,
    NotYetValid,
    NoExpiry,
    RunIdClaim,
    Invalid,
}

public static class JwtRefusals
{
    public static string Text(JwtRefusal reason) => reason switch
    {
        JwtRefusal.Malformed => "malformed",
        JwtRefusal.TooLarge => "too large",
        JwtRefusal.Algorithm => "algorithm not accepted for the issuer's keys",
        JwtRefusal.UnknownKey => "unknown key",
        JwtRefusal.Signature => "signature",
        JwtRefusal.Issuer => "issuer",
        JwtRefusal.Audience => "audience",
        JwtRefusal.Expired => "expired",
        JwtRefusal.NotYetValid => "not yet valid",
        JwtRefusal.NoExpiry => "no expiry",
        JwtRefusal.RunIdClaim => "run id claim missing or not a run id",
        _ => "invalid",
    };
}

internal sealed class JwtRefusedException(JwtRefusal reason) : Exception(JwtRefusals.Text(reason))
{
    public JwtRefusal Reason { get; } = reason;
}

/// <summary>
/// A compact JWS read strictly but NOT verified: three base64url parts, header and payload JSON objects without
/// duplicate members (so this reading and the verifier's cannot disagree), an accepted <c>alg</c>, no <c>crit</c>.
/// Only <see cref="Issuer"/> is used before verification, to pick the registration whose keys verify it.
/// </summary>
public sealed class UnverifiedJwt
{
    private static readonly JsonDocumentOptions Strict = new() { AllowDuplicateProperties = false, MaxDepth = 16 };

    private UnverifiedJwt(string algorithm, string? kid, string? issuer, JsonElement payload)
    {
        Algorithm = algorithm;
        Kid = kid;
        Issuer = issuer;
        Payload = payload;
    }

    public string Algorithm { get; }

    public string? Kid { get; }

    public string? Issuer { get; }

    /// <summary>The payload's claims (read for bindings only after the signature was verified).</summary>
    public JsonElement Payload { get; }

    /// <exception cref="JwtRefusedException">The token is malformed, too large or uses an algorithm never accepted.</exception>
    internal static UnverifiedJwt Parse(string jwt)
    {
        if (jwt.Length > JwtLoginService.MaxJwtLength)
        {
            throw new JwtRefusedException(JwtRefusal.TooLarge);
        }

        var parts = jwt.Split('.');
        if (parts.Length != 3 || parts[0].Length == 0 || parts[1].Length == 0)
        {
            throw new JwtRefusedException(JwtRefusal.Malformed);
        }

        var header = Json(parts[0]);
        var payload = Json(parts[1]);
        var algorithm = String(header, "alg") ?? throw new JwtRefusedException(JwtRefusal.Malformed);
        if (header.TryGetProperty("crit", out _))
        {
            // RFC 7515: critical extensions that are not understood make the token invalid; we understand none.
            throw new JwtRefusedException(JwtRefusal.Malformed);
        }

        // "none", HS256 (a public key used as an HMAC secret) and everything else never get near a key.
        if (!JwtKeys.Algorithms.Contains(algorithm))
        {
            throw new JwtRefusedException(JwtRefusal.Algorithm);
        }

        if (parts[2].Length == 0)
        {
            throw new JwtRefusedException(JwtRefusal.Signature);
        }

        return new UnverifiedJwt(algorithm, String(header, "kid"), String(payload, "iss"), payload);
    }

    private static JsonElement Json(string part)
    {
        try
        {
            using var document = JsonDocument.Parse(Base64Url.DecodeFromChars(part), Strict);
            return document.RootElement.ValueKind == JsonValueKind.Object ? document.RootElement.Clone() : throw new JwtRefusedException(JwtRefusal.Malformed);
        }
        catch (Exception error) when (error is FormatException or JsonException or ArgumentException)
        {
            throw new JwtRefusedException(JwtRefusal.Malformed);
        }
    }

    private static string? String(JsonElement element, string name) =>
        !element.TryGetProperty(name, out var value) ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw new JwtRefusedException(JwtRefusal.Malformed);
}

/// <summary>The outcome of verifying a JWT against one registration.</summary>
public readonly record struct JwtVerification(JwtRefusal? Refusal, string? Subject, DateTimeOffset ExpiresAt);

/// <summary>
/// Verifies a JWT against one issuer registration with <see cref="JsonWebTokenHandler"/>: exact issuer, one of the
/// bound audiences, a signature by one of that registration's keys only — chosen by <c>kid</c> and by the
/// algorithm pinned to each key's type, so an RS256 token is never checked against an EC key nor ES256 against RSA —
/// a required <c>exp</c>, <c>nbf</c> honoured, with the registration's clock skew, on the injected clock.
/// </summary>
public sealed class JwtValidator
{
    private readonly JsonWebTokenHandler _handler = new() { MaximumTokenSizeInBytes = JwtLoginService.MaxJwtLength };
    private readonly TimeProvider _time;

    public JwtValidator(TimeProvider time)
    {
        _time = time;
    }

    public async Task<JwtVerification> ValidateAsync(string jwt, UnverifiedJwt unverified, JwtIssuer issuer, CancellationToken cancellationToken = default)
    {
        var byKid = unverified.Kid is null ? issuer.Keys : issuer.Keys.Where(k => k.Kid is null || k.Kid == unverified.Kid).ToList();
        if (byKid.Count == 0)
        {
            return Refused(JwtRefusal.UnknownKey);
        }

        var candidates = byKid.Where(k => k.Alg == unverified.Algorithm).ToList();
        if (candidates.Count == 0)
        {
            return Refused(JwtRefusal.Algorithm);
        }

        var keys = candidates.Select(JwtKeys.ToSecurityKey).ToList();
        try
        {
            var parameters = new TokenValidationParameters
            {
                ValidateIssuer = true,
                ValidIssuer = issuer.Issuer,
                ValidateAudience = true,
                RequireAudience = true,
                ValidAudiences = issuer.Audiences,
                IgnoreTrailingSlashWhenValidatingAudience = false,
                ValidateLifetime = true,
                RequireExpirationTime = true,
                ClockSkew = issuer.ClockSkew,
                LifetimeValidator = (notBefore, expires, _, _) => CheckLifetime(notBefore, expires, issuer.ClockSkew),
                RequireSignedTokens = true,
                ValidAlgorithms = [unverified.Algorithm],
                IssuerSigningKeys = keys.Select(k => k.SecurityKey).ToArray(),
                TryAllIssuerSigningKeys = true,
                ValidateIssuerSigningKey = false,
                ValidateActor = false,
                ValidateTokenReplay = false,
                SaveSigninToken = false,
                IncludeTokenOnFailedValidation = false,
                LogValidationExceptions = false,

                // Keys are built per login and disposed after it: a cached provider would outlive its key.
                CryptoProviderFactory = new CryptoProviderFactory { CacheSignatureProviders = false },
            };

            var result = await _handler.ValidateTokenAsync(jwt, parameters).WaitAsync(cancellationToken);
            if (!result.IsValid || result.SecurityToken is not JsonWebToken token)
            {
                return Refused(Classify(result.Exception));
            }

            string? subject = null;
            if (unverified.Payload.TryGetProperty("sub", out var sub))
            {
                subject = sub.ValueKind == JsonValueKind.String ? sub.GetString() : null;
            }

            return new JwtVerification(null, subject, new DateTimeOffset(DateTime.SpecifyKind(token.ValidTo, DateTimeKind.Utc)));
        }
        finally
        {
            foreach (var key in keys)
            {
                key.Dispose();
            }
        }
    }

    /// <summary>Lifetime on the injected clock (the library's own check reads the system clock).</summary>
    private bool CheckLifetime(DateTime? notBefore, DateTime? expires, TimeSpan skew)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        if (expires is not { } exp)
        {
            throw new SecurityTokenNoExpirationException();
        }

        if (notBefore is { } nbf && nbf > now + skew)
        {
            throw new SecurityTokenNotYetValidException();
        }

        if (exp < now - skew)
        {
            throw new SecurityTokenExpiredException();
        }

        return true;
    }

    private static JwtVerification Refused(JwtRefusal reason) => new(reason, null, default);

    /// <summary>Maps the library's failure to a fixed reason; its message is never passed on (it may quote the token).</summary>
    private static JwtRefusal Classify(Exception? error) => error switch
    {
        SecurityTokenExpiredException => JwtRefusal.Expired,
        SecurityTokenNotYetValidException => JwtRefusal.NotYetValid,
        SecurityTokenNoExpirationException => JwtRefusal.NoExpiry,
        SecurityTokenInvalidLifetimeException => JwtRefusal.Expired,
        SecurityTokenInvalidAudienceException => JwtRefusal.Audience,
        SecurityTokenInvalidIssuerException => JwtRefusal.Issuer,
        SecurityTokenInvalidAlgorithmException => JwtRefusal.Algorithm,
        SecurityTokenSignatureKeyNotFoundException => JwtRefusal.Signature,
        SecurityTokenInvalidSignatureException => JwtRefusal.Signature,
        SecurityTokenMalformedException => JwtRefusal.Malformed,
        _ => JwtRefusal.Invalid,
    };
}
