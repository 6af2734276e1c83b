namespace Keyward.Core.Auth.Jwt;

/// <summary>
/// A tenant's registration of an outside JWT issuer (a Kubernetes cluster, a SPIFFE trust domain, a CI provider):
/// its <see cref="Issuer"/> (<c>iss</c>), public keys, required audiences, and the bindings that map a token's
/// subject and claims to a role. <see cref="NodeId"/> is the registration's stable node in the token tree: every
/// session a login through it creates is its child, and deleting the registration revokes them.
/// </summary>
public sealed record JwtIssuer(
    string TenantUid,
    string Name,
    string NodeId,
    string Issuer,
    IReadOnlyList<JwtKey> Keys,
    IReadOnlyList<string> Audiences,
    IReadOnlyList<JwtBinding> Bindings,
    TimeSpan ClockSkew,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>
/// A public verification key, normalized to its JWK parameters (base64url), whatever form it was registered in.
/// <see cref="Alg"/> is pinned by the key type: RSA keys verify RS256 only, P-256 keys ES256 only.
/// <see cref="Kid"/> is the JWKS key id (null for a PEM key, which matches any <c>kid</c>); <see cref="Thumbprint"/>
/// is the RFC 7638 SHA-256 thumbprint.
/// </summary>
public sealed record JwtKey(
    string Kty,
    string Alg,
    string? Kid,
    string Thumbprint,
    string? N = null,
    string? E = null,
    string? Crv = null,
    string? X = null,
    string? Y = null);

/// <summary>
/// Maps tokens to a role: a token matches when its <c>sub</c> matches <see cref="Subject"/> (if given) and every
/// claim named in <see cref="Claims"/> matches its pattern (see <see cref="JwtPattern"/>). At least one of the two
/// is required, so a binding never admits every token of an issuer by accident (<c>subject: "*"</c> says so on purpose).
/// <see cref="RunIdClaim"/> names the claim whose value is the session's run (a JWT without a usable one is refused);
/// without it the run is derived from the registration and the subject (<see cref="JwtRuns"/>).
/// </summary>
public sealed record JwtBinding(string Role, string? Subject, IReadOnlyDictionary<string, string>? Claims, string? RunIdClaim = null);

/// <summary>Storage port for JWT issuer registrations.</summary>
public interface IJwtIssuerStore
{
    Task<JwtIssuer?> GetAsync(string tenantUid, string name, CancellationToken cancellationToken = default);

    /// <summary>The tenant's registration whose <see cref="JwtIssuer.Issuer"/> equals <paramref name="issuer"/> exactly.</summary>
    Task<JwtIssuer?> GetByIssuerAsync(string tenantUid, string issuer, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<JwtIssuer>> ListAsync(string tenantUid, CancellationToken cancellationToken = default);

    /// <summary>Inserts or replaces by (tenant, name); the node id and creation time of an existing row are kept.</summary>
    Task UpsertAsync(JwtIssuer issuer, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes a registration; returns its node id in the token tree (the caller revokes that subtree in the same
    /// transaction), or null if there was no such registration.
    /// </summary>
    Task<string?> DeleteAsync(string tenantUid, string name, CancellationToken cancellationToken = default);
}
