using System.Text.Json;
using Keyward.Core.Auth.Jwt;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

public sealed class PutJwtIssuerRequest
{
    public string? Issuer { get; init; }

    public IReadOnlyList<string>? PublicKeys { get; init; }

    /// <summary>A JWK Set, <c>{"keys": [...]}</c>; its members are checked by the key parser, not the body reader.</summary>
    public JsonElement? Jwks { get; init; }

    public IReadOnlyList<string>? BoundAudiences { get; init; }

    public IReadOnlyList<JwtBindingRequest>? Bindings { get; init; }

    public Duration? ClockSkew { get; init; }
}

public sealed class JwtBindingRequest
{
    public string? Role { get; init; }

    public string? Subject { get; init; }

    public Dictionary<string, string>? Claims { get; init; }

    /// <summary>The claim whose value is the session's run id; without it the run is derived from the registration and the subject.</summary>
    public string? RunIdClaim { get; init; }
}

public sealed class JwtLoginRequest
{
    public string? Tenant { get; init; }

    public string? Role { get; init; }

    public string? Jwt { get; init; }
}

/// <summary>A registered key, by its identifiers only (the key material stays on the server to keep answers small).</summary>
public sealed record JwtKeyResponse(string? Kid, string Kty, string Alg, string Thumbprint);

public sealed record JwtBindingResponse(string Role, string? Subject, IReadOnlyDictionary<string, string>? Claims, string? RunIdClaim);

public sealed record JwtIssuerResponse(
    string Name,
    string Issuer,
    string Node,
    IReadOnlyList<JwtKeyResponse> Keys,
    IReadOnlyList<string> BoundAudiences,
    IReadOnlyList<JwtBindingResponse> Bindings,
    long ClockSkew,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public static JwtIssuerResponse From(JwtIssuer i) => new(
        i.Name,
        i.Issuer,
        i.NodeId,
        i.Keys.Select(k => new JwtKeyResponse(k.Kid, k.Kty, k.Alg, k.Thumbprint)).ToArray(),
        i.Audiences,
        i.Bindings.Select(b => new JwtBindingResponse(b.Role, b.Subject, b.Claims, b.RunIdClaim)).ToArray(),
        (long)i.ClockSkew.TotalSeconds,
        i.CreatedAt,
        i.UpdatedAt);
}

public sealed record JwtIssuerListResponse(IReadOnlyList<JwtIssuerResponse> Issuers);

/// <summary>The session, in the shape of <c>POST /v1/auth/exchange</c>'s answer.</summary>
public sealed record JwtLoginResponse(
    string Token, string Accessor, string Tenant, string? AgentId, string? RunId, string Role, DateTimeOffset? ExpiresAt, bool Renewable);

public static class JwtAuthEndpoints
{
    public static IEndpointRouteBuilder MapJwtAuthEndpoints(this IEndpointRouteBuilder routes)
    {
        var jwt = routes.MapGroup("/auth/jwt").WithTags("Workload identity (JWT)");

        jwt.MapPut("/issuers/{name}", async (string name, RequestContext ctx, JwtIssuerService service) =>
            {
                var body = await ctx.BodyAsync<PutJwtIssuerRequest>();
                var spec = new JwtIssuerSpec(
                    body.Issuer,
                    body.PublicKeys,
                    body.Jwks,
                    body.BoundAudiences,
                    body.Bindings?.Select(b => b is null ? null! : new JwtBindingSpec(b.Role, b.Subject, b.Claims, b.RunIdClaim)).ToArray(),
                    body.ClockSkew?.Value);
                return TypedResults.Ok(JwtIssuerResponse.From(await service.PutAsync(ctx.Caller, name, spec, ctx.Audit)));
            })
            .Audited("auth.jwt.issuer.write")
            .WithSummary("Register or replace a JWT issuer: PEM public keys or a JWKS (RS256/ES256), bound audiences, bindings to roles (tenant admin token).")
            .WithJsonBody<PutJwtIssuerRequest>().ProducesProblem(400).ProducesProblem(409);

        jwt.MapGet("/issuers", async (RequestContext ctx, JwtIssuerService service) =>
                TypedResults.Ok(new JwtIssuerListResponse((await service.ListAsync(ctx.Caller, ctx.Aborted)).Select(JwtIssuerResponse.From).ToArray())))
            .Audited("auth.jwt.issuer.list")
            .WithSummary("The tenant's JWT issuer registrations (tenant admin token).");

        jwt.MapGet("/issuers/{name}", async (string name, RequestContext ctx, JwtIssuerService service) =>
                TypedResults.Ok(JwtIssuerResponse.From(await service.GetAsync(ctx.Caller, name, ctx.Audit, ctx.Aborted))))
            .Audited("auth.jwt.issuer.read")
            .WithSummary("One JWT issuer registration (tenant admin token).")
            .ProducesProblem(404);

        jwt.MapDelete("/issuers/{name}", async (string name, RequestContext ctx, JwtIssuerService service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await service.DeleteAsync(ctx.Caller, name, ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("auth.jwt.issuer.delete")
            .WithSummary("Delete a JWT issuer registration and revoke every session it issued (tenant admin token).")
            .ProducesProblem(404);

        jwt.MapPost("/login", async (RequestContext ctx, JwtLoginService service) =>
            {
                var body = await ctx.BodyAsync<JwtLoginRequest>();
                var session = await service.LoginAsync(body.Tenant, body.Role, body.Jwt, ctx.Audit, ctx.Aborted);
                var r = session.Record;
                return TypedResults.Ok(new JwtLoginResponse(session.Token, r.Accessor, session.TenantId, r.AgentId, r.RunId, r.Role!, r.ExpiresAt, Renewable: false));
            })
            .AuditedAnonymously("auth.jwt.login")
            .WithSummary("Exchange a JWT from a registered issuer for an agent session (no token: the JWT is the credential; the caller names the tenant).")
            .WithJsonBody<JwtLoginRequest>().ProducesProblem(401).ProducesProblem(403).ProducesProblem(423);

        return routes;
    }
}
