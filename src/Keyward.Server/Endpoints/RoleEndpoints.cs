using Keyward.Core.Policies;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

public sealed class PutRoleRequest
{
    public IReadOnlyList<RuleSpec>? Rules { get; init; }

    public Duration? MaxTtl { get; init; }

    public IReadOnlyList<string>? MaySpawn { get; init; }
}

public sealed record RoleResponse(string Name, IReadOnlyList<RuleSpec> Rules, long MaxTtl, IReadOnlyList<string> MaySpawn, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static RoleResponse From(Role r) =>
        new(r.Name, r.Rules.ToSpecs(), (long)r.MaxTtl.TotalSeconds, r.MaySpawn, r.CreatedAt, r.UpdatedAt);
}

public sealed record RoleListResponse(IReadOnlyList<RoleResponse> Roles);

public static class RoleEndpoints
{
    public static IEndpointRouteBuilder MapRoleEndpoints(this IEndpointRouteBuilder routes)
    {
        var roles = routes.MapGroup("/v1/roles").WithTags("Roles");

        roles.MapPut("/{name}", (string name, HttpContext http, Audited audited, RoleService service) =>
            audited.RunAsync(http, "role.write", async ctx =>
            {
                var body = await ctx.BodyAsync<PutRoleRequest>();
                var role = await service.PutAsync(ctx.Caller, name, body.Rules, body.MaxTtl?.Value, body.MaySpawn, ctx.Audit);
                return TypedResults.Ok(RoleResponse.From(role));
            }))
            .WithSummary("Create or replace a role: glob rules with capabilities, max_ttl, may_spawn (tenant admin token).")
            .WithJsonBody<PutRoleRequest>().Produces<RoleResponse>().ProducesProblem(400);

        roles.MapGet("/", (HttpContext http, Audited audited, RoleService service) =>
            audited.RunAsync(http, "role.list", async ctx =>
                TypedResults.Ok(new RoleListResponse((await service.ListAsync(ctx.Caller, http.RequestAborted)).Select(RoleResponse.From).ToArray()))))
            .WithSummary("The tenant's roles (tenant admin token).")
            .Produces<RoleListResponse>();

        roles.MapGet("/{name}", (string name, HttpContext http, Audited audited, RoleService service) =>
            audited.RunAsync(http, "role.read", async ctx =>
                TypedResults.Ok(RoleResponse.From(await service.GetAsync(ctx.Caller, name, ctx.Audit, http.RequestAborted)))))
            .WithSummary("One role (tenant admin token).")
            .Produces<RoleResponse>().ProducesProblem(404);

        roles.MapDelete("/{name}", (string name, HttpContext http, Audited audited, RoleService service) =>
            audited.RunAsync(http, "role.delete", async ctx =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await service.DeleteAsync(ctx.Caller, name, ctx.Audit);
                return TypedResults.NoContent();
            }))
            .WithSummary("Delete a role (tenant admin token).")
            .Produces(204).ProducesProblem(404);

        return routes;
    }
}
