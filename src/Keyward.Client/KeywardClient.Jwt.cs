using Keyward.Client.Internal;
using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>Workload identity from outside: JWT issuer registrations (tenant admin token) and JWT login (no token).</summary>
public partial class KeywardClient
{
    /// <summary>
    /// <c>POST /v1/auth/jwt/login</c>: exchanges a JWT from an issuer <paramref name="tenant"/> registered for an agent
    /// session with <paramref name="role"/>. Sends no bearer token (the JWT is the credential); the JWT never appears
    /// in a message of this SDK.
    /// </summary>
    public virtual Task<JwtSession> LoginWithJwtAsync(string tenant, string role, string jwt, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenant);
        ArgumentException.ThrowIfNullOrWhiteSpace(role);
        ArgumentException.ThrowIfNullOrWhiteSpace(jwt);
        return SendAsync<JwtSession>(HttpMethod.Post, "v1/auth/jwt/login", new LoginBody(tenant, role, jwt.Trim()), authenticate: false, cancellationToken);
    }

    /// <summary><c>PUT /v1/auth/jwt/issuers/{name}</c>: registers or replaces an issuer.</summary>
    public virtual Task<KeywardJwtIssuer> PutJwtIssuerAsync(string name, JwtIssuerDefinition definition, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var body = new PutJwtIssuerBody(
            definition.Issuer, definition.PublicKeys, definition.Jwks, definition.BoundAudiences, definition.Bindings, definition.ClockSkew);
        return SendAsync<KeywardJwtIssuer>(HttpMethod.Put, JwtIssuerUrl(name), body, authenticate: true, cancellationToken);
    }

    /// <summary><c>GET /v1/auth/jwt/issuers/{name}</c>.</summary>
    public virtual Task<KeywardJwtIssuer> GetJwtIssuerAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<KeywardJwtIssuer>(HttpMethod.Get, JwtIssuerUrl(name), null, authenticate: true, cancellationToken);

    /// <summary><c>GET /v1/auth/jwt/issuers</c>: the tenant's registrations.</summary>
    public virtual async Task<IReadOnlyList<KeywardJwtIssuer>> ListJwtIssuersAsync(CancellationToken cancellationToken = default) =>
        (await SendAsync<JwtIssuerList>(HttpMethod.Get, "v1/auth/jwt/issuers", null, authenticate: true, cancellationToken).ConfigureAwait(false)).Issuers;

    /// <summary><c>DELETE /v1/auth/jwt/issuers/{name}</c>: deletes the registration and revokes every session it issued.</summary>
    public virtual Task DeleteJwtIssuerAsync(string name, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Delete, JwtIssuerUrl(name), null, cancellationToken);

    private static string JwtIssuerUrl(string name) => "v1/auth/jwt/issuers/" + ClientValidation.Segment(name, nameof(name), "JWT issuer name");

    private sealed record LoginBody(string Tenant, string Role, string Jwt);

    private sealed record PutJwtIssuerBody(
        string Issuer,
        IReadOnlyList<string>? PublicKeys,
        System.Text.Json.JsonElement? Jwks,
        IReadOnlyList<string> BoundAudiences,
        IReadOnlyList<JwtBindingRule> Bindings,
        TimeSpan? ClockSkew);

    private sealed record JwtIssuerList(IReadOnlyList<KeywardJwtIssuer> Issuers);
}
