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
        var tenants = routes.MapGroup("/tenants").WithTags("Tenants");

        tenants.MapPost("/", async (RequestContext ctx, TenantService service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status201Created;
                var body = await ctx.BodyAsync<CreateTenantRequest>();
                var tenant = await service.CreateAsync(ctx.Caller, body.Id ?? throw KeywardErrors.MissingField("id"), body.Name, ctx.Audit);
                return TypedResults.Created($"/v1/tenants/{tenant.Id}", TenantResponse.From(tenant));
            })
            .Audited("tenant.create")
            .WithSummary("Onboard a tenant (root token). A used or retired id is 409.")
            .WithJsonBody<CreateTenantRequest>().ProducesProblem(409);

        tenants.MapGet("/", async (RequestContext ctx, TenantService service) =>
            {
                var list = await service.ListAsync(ctx.Caller, ctx.Aborted);
                return TypedResults.Ok(new TenantListResponse(list.Select(TenantResponse.From).ToArray()));
            })
            .Audited("tenant.list")
            .WithSummary("All tenants, including retired ones (root token).");

        tenants.MapGet("/{id}", async (string id, RequestContext ctx, TenantService service) =>
                TypedResults.Ok(TenantResponse.From(await service.GetAsync(ctx.Caller, id, ctx.Audit, ctx.Aborted))))
            .Audited("tenant.read")
            .WithSummary("One tenant (root token).")
            .ProducesProblem(404);

        tenants.MapDelete("/{id}", async (string id, RequestContext ctx, TenantService service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await service.DeleteAsync(ctx.Caller, id, ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("tenant.delete")
            .WithSummary("Offboard: lock, revoke every token, destroy the tenant key, retire the id for good (root token).")
            .ProducesProblem(404);

        tenants.MapPost("/{id}/tokens", async (string id, RequestContext ctx, TenantService service) =>
            {
                var body = await ctx.BodyAsync<CreateTokenRequest>();
                var (token, record) = await service.CreateTokenAsync(ctx.Caller, id, body.Kind, body.Ttl?.Value, body.DisplayName, ctx.Audit);
                return TypedResults.Ok(new TokenResponse(token, record.Accessor, body.Kind!, id, record.ExpiresAt));
            })
            .Audited("tenant.token.create")
            .WithSummary("Mint a tenant admin or orchestrator token (root token); ttl defaults to 1h, at most 30d.")
            .WithJsonBody<CreateTokenRequest>().ProducesProblem(400);

        tenants.MapPost("/{id}/rotate-key", async (string id, RequestContext ctx, TenantService service) =>
                TypedResults.Ok(new KeyVersionResponse(await service.RotateKeyAsync(ctx.Caller, id, ctx.Audit))))
            .Audited("tenant.key.rotate")
            .WithSummary("Start a new tenant key version: new writes use it, old versions stay readable (root token).");

        tenants.MapPost("/{id}/rewrap", async (string id, RequestContext ctx, TenantService service) =>
            {
                var job = await service.StartRewrapAsync(ctx.Caller, id, ctx.Audit);
                return TypedResults.Accepted($"/v1/tenants/{id}/rewrap/{job.Id}", RewrapJobResponse.From(job));
            })
            .Audited("tenant.rewrap")
            .WithSummary("Re-encrypt old secret versions under the newest tenant key, in the background (root token).");

        tenants.MapGet("/{id}/rewrap/{jobId}", (string id, string jobId, RequestContext ctx, TenantService service) =>
                TypedResults.Ok(RewrapJobResponse.From(service.GetRewrapJob(ctx.Caller, id, jobId, ctx.Audit))))
            .Audited("tenant.rewrap.read")
            .WithSummary("Progress of a rewrap job (root token).")
            .ProducesProblem(404);

        tenants.MapPost("/{id}/lockdown", async (string id, RequestContext ctx, TenantService service) =>
            {
                var body = await ctx.BodyAsync<LockdownRequest>();
                var incident = await service.LockdownAsync(ctx.Caller, id, body.Reason, ctx.Audit);
                return TypedResults.Ok(new LockdownResponse(
                    incident.IncidentId, incident.RevokedTokens, incident.RevokedLeases, incident.PendingExternal, (long)incident.Took.TotalMilliseconds));
            })
            .Audited("tenant.lockdown")
            .WithSummary("Kill switch (root token): revoke every token and lease of the tenant and answer 423 to it until unlock; records an incident.")
            .WithJsonBody<LockdownRequest>().ProducesProblem(404);

        tenants.MapPost("/{id}/unlock", async (string id, RequestContext ctx, TenantService service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await service.UnlockAsync(ctx.Caller, id, ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("tenant.unlock")
            .WithSummary("Lift a lockdown (root token); tokens and leases it revoked stay revoked.")
            .ProducesProblem(409);

        return routes;
    }
}
