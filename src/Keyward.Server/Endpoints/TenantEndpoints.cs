using Keyward.Core.Errors;
using Keyward.Core.Tenants;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

public sealed class CreateTenantRequest
{
    public string? Id { get; init; }

    public string? Name { get; init; }
}

public sealed record TenantResponse(string Id, string? Name, string State, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static TenantResponse From(Tenant t) => new(t.Id, t.Name, t.State.ToString().ToLowerInvariant(), t.CreatedAt, t.UpdatedAt);
}

public sealed record TenantListResponse(IReadOnlyList<TenantResponse> Tenants);

public sealed class CreateTokenRequest
{
    public string? Kind { get; init; }

    public Duration? Ttl { get; init; }

    public string? DisplayName { get; init; }
}

public sealed record TokenResponse(string Token, string Accessor, string Kind, string Tenant, DateTimeOffset? ExpiresAt);

public sealed record KeyVersionResponse(int KeyVersion);

public sealed record RewrapJobResponse(
    string JobId, string Tenant, int KeyVersion, string State, long Total, long Done, long Failed, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt)
{
    public static RewrapJobResponse From(RewrapJob j) =>
        new(j.Id, j.TenantId, j.KeyVersion, j.State, j.Total, j.Done, j.Failed, j.StartedAt, j.FinishedAt);
}

public sealed class LockdownRequest
{
    public string? Reason { get; init; }
}

public sealed record LockdownResponse(string IncidentId, int RevokedTokens, int RevokedLeases, int PendingExternal, long TookMs);

public static class TenantEndpoints
{
    public static IEndpointRouteBuilder MapTenantEndpoints(this IEndpointRouteBuilder routes)
    {
        var tenants = routes.MapGroup("/v1/tenants").WithTags("Tenants");

        tenants.MapPost("/", (HttpContext http, Audited audited, TenantService service) =>
            audited.RunAsync(http, "tenant.create", async ctx =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status201Created;
                var body = await ctx.BodyAsync<CreateTenantRequest>();
                var tenant = await service.CreateAsync(ctx.Caller, body.Id ?? throw KeywardErrors.MissingField("id"), body.Name, ctx.Audit);
                return TypedResults.Created($"/v1/tenants/{tenant.Id}", TenantResponse.From(tenant));
            }))
            .WithSummary("Onboard a tenant (root token). A used or retired id is 409.")
            .WithJsonBody<CreateTenantRequest>().Produces<TenantResponse>(201).ProducesProblem(409);

        tenants.MapGet("/", (HttpContext http, Audited audited, TenantService service) =>
            audited.RunAsync(http, "tenant.list", async ctx =>
            {
                var list = await service.ListAsync(ctx.Caller, http.RequestAborted);
                return TypedResults.Ok(new TenantListResponse(list.Select(TenantResponse.From).ToArray()));
            }))
            .WithSummary("All tenants, including retired ones (root token).")
            .Produces<TenantListResponse>();

        tenants.MapGet("/{id}", (string id, HttpContext http, Audited audited, TenantService service) =>
            audited.RunAsync(http, "tenant.read", async ctx =>
                TypedResults.Ok(TenantResponse.From(await service.GetAsync(ctx.Caller, id, ctx.Audit, http.RequestAborted)))))
            .WithSummary("One tenant (root token).")
            .Produces<TenantResponse>().ProducesProblem(404);

        tenants.MapDelete("/{id}", (string id, HttpContext http, Audited audited, TenantService service) =>
            audited.RunAsync(http, "tenant.delete", async ctx =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await service.DeleteAsync(ctx.Caller, id, ctx.Audit);
                return TypedResults.NoContent();
            }))
            .WithSummary("Offboard: lock, revoke every token, destroy the tenant key, retire the id for good (root token).")
            .Produces(204).ProducesProblem(404);

        tenants.MapPost("/{id}/tokens", (string id, HttpContext http, Audited audited, TenantService service) =>
            audited.RunAsync(http, "tenant.token.create", async ctx =>
            {
                var body = await ctx.BodyAsync<CreateTokenRequest>();
                var (token, record) = await service.CreateTokenAsync(ctx.Caller, id, body.Kind, body.Ttl?.Value, body.DisplayName, ctx.Audit);
                return TypedResults.Ok(new TokenResponse(token, record.Accessor, body.Kind!, id, record.ExpiresAt));
            }))
            .WithSummary("Mint a tenant admin or orchestrator token (root token); ttl defaults to 1h, at most 30d.")
            .WithJsonBody<CreateTokenRequest>().Produces<TokenResponse>().ProducesProblem(400);

        tenants.MapPost("/{id}/rotate-key", (string id, HttpContext http, Audited audited, TenantService service) =>
            audited.RunAsync(http, "tenant.key.rotate", async ctx =>
                TypedResults.Ok(new KeyVersionResponse(await service.RotateKeyAsync(ctx.Caller, id, ctx.Audit)))))
            .WithSummary("Start a new tenant key version: new writes use it, old versions stay readable (root token).")
            .Produces<KeyVersionResponse>();

        tenants.MapPost("/{id}/rewrap", (string id, HttpContext http, Audited audited, TenantService service) =>
            audited.RunAsync(http, "tenant.rewrap", async ctx =>
            {
                var job = await service.StartRewrapAsync(ctx.Caller, id, ctx.Audit);
                return TypedResults.Accepted($"/v1/tenants/{id}/rewrap/{job.Id}", RewrapJobResponse.From(job));
            }))
            .WithSummary("Re-encrypt old secret versions under the newest tenant key, in the background (root token).")
            .Produces<RewrapJobResponse>(202);

        tenants.MapGet("/{id}/rewrap/{jobId}", (string id, string jobId, HttpContext http, Audited audited, TenantService service) =>
            audited.RunAsync(http, "tenant.rewrap.read", ctx =>
                Task.FromResult<IResult>(TypedResults.Ok(RewrapJobResponse.From(service.GetRewrapJob(ctx.Caller, id, jobId, ctx.Audit))))))
            .WithSummary("Progress of a rewrap job (root token).")
            .Produces<RewrapJobResponse>().ProducesProblem(404);

        tenants.MapPost("/{id}/lockdown", (string id, HttpContext http, Audited audited, TenantService service) =>
            audited.RunAsync(http, "tenant.lockdown", async ctx =>
            {
                var body = await ctx.BodyAsync<LockdownRequest>();
                var incident = await service.LockdownAsync(ctx.Caller, id, body.Reason, ctx.Audit);
                return TypedResults.Ok(new LockdownResponse(
                    incident.IncidentId, incident.RevokedTokens, incident.RevokedLeases, incident.PendingExternal, (long)incident.Took.TotalMilliseconds));
            }))
            .WithSummary("Kill switch (root token): revoke every token and lease of the tenant and answer 423 to it until unlock; records an incident.")
            .WithJsonBody<LockdownRequest>().Produces<LockdownResponse>().ProducesProblem(404);

        tenants.MapPost("/{id}/unlock", (string id, HttpContext http, Audited audited, TenantService service) =>
            audited.RunAsync(http, "tenant.unlock", async ctx =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await service.UnlockAsync(ctx.Caller, id, ctx.Audit);
                return TypedResults.NoContent();
            }))
            .WithSummary("Lift a lockdown (root token); tokens and leases it revoked stay revoked.")
            .Produces(204).ProducesProblem(409);

        return routes;
    }
}
