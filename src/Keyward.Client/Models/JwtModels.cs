using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Keyward.Client.Internal;

namespace Keyward.Client.Models;

/// <summary>
/// Maps JWTs of an issuer to a role: the token's <c>sub</c> must match <see cref="Subject"/> (if given) and each
/// claim in <see cref="Claims"/> its pattern. Patterns: <c>*</c> matches any run of characters, everything else
/// itself, case-sensitive. At least one of the two is required (<c>Subject = "*"</c> admits every subject).
/// </summary>
public sealed record JwtBindingRule(string Role, string? Subject = null, IReadOnlyDictionary<string, string>? Claims = null);

/// <summary>
/// What a tenant admin registers for an outside JWT issuer: exactly one of <see cref="PublicKeys"/> (PEM public keys)
/// and <see cref="Jwks"/> (a JWK Set), RSA ≥ 2048 bits (RS256) or EC P-256 (ES256) only.
/// </summary>
public sealed record JwtIssuerDefinition(string Issuer, IReadOnlyList<string> BoundAudiences, IReadOnlyList<JwtBindingRule> Bindings)
{
    public IReadOnlyList<string>? PublicKeys { get; init; }

    public JsonElement? Jwks { get; init; }

    /// <summary>Default 30 s, at most 5 min.</summary>
    public TimeSpan? ClockSkew { get; init; }
}

/// <summary>A registered key, by identifiers only: <c>kid</c> (JWKS keys), type, pinned algorithm, RFC 7638 thumbprint.</summary>
public sealed record JwtIssuerKey(string? Kid, string Kty, string Alg, string Thumbprint);

/// <summary>A registration as stored. <see cref="Node"/> is the parent of the sessions it issues in the token tree.</summary>
public sealed record KeywardJwtIssuer(
    string Name,
    string Issuer,
    string Node,
    IReadOnlyList<JwtIssuerKey> Keys,
    IReadOnlyList<string> BoundAudiences,
    IReadOnlyList<JwtBindingRule> Bindings,
    TimeSpan ClockSkew,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>An agent session obtained with a JWT. <see cref="object.ToString"/> redacts <see cref="Token"/>.</summary>
[DebuggerDisplay("{ToString(),nq}")]
public sealed record JwtSession(
    [property: JsonConverter(typeof(SecretFieldJsonConverter<string>)), DebuggerBrowsable(DebuggerBrowsableState.Never)]
    string Token, string Accessor, string Tenant, string? AgentId, string? RunId, string Role, DateTimeOffset? ExpiresAt, bool Renewable) : IValueCarrier
{
    void IValueCarrier.RegisterValues(SecretScrubber scrubber) => scrubber.RegisterIfAny(Token);

    /// <summary>Describes the session without the token string.</summary>
    public override string ToString() =>
        FormattableString.Invariant($"JwtSession {{ Token = (redacted), Accessor = {Accessor}, Tenant = {Tenant}, AgentId = {AgentId}, Role = {Role}, ExpiresAt = {ExpiresAt:O} }}");
}
