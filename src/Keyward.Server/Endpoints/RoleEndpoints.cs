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
        var roles = routes.MapGroup("/roles").WithTags("Roles");

        roles.MapPut("/{name}", async (string name, RequestContext ctx, RoleService service) =>
            {
                var body = await ctx.BodyAsync<PutRoleRequest>();
                var role = await service.PutAsync(ctx.Caller, name, body.Rules, body.MaxTtl?.Value, body.MaySpawn, ctx.Audit);
                return TypedResults.Ok(RoleResponse.From(role));
            })
            .Audited("role.write")
            .WithSummary("Create or replace a role: glob rules with capabilities, max_ttl, may_spawn (tenant admin token).")
            .WithJsonBody<PutRoleRequest>().ProducesProblem(400);

        roles.MapGet("/", async (RequestContext ctx, RoleService service) =>
                TypedResults.Ok(new RoleListResponse((await service.ListAsync(ctx.Caller, ctx.Aborted)).Select(RoleResponse.From).ToArray())))
            .Audited("role.list")
            .WithSummary("The tenant's roles (tenant admin token).");

        roles.MapGet("/{name}", async (string name, RequestContext ctx, RoleService service) =>
                TypedResults.Ok(RoleResponse.From(await service.GetAsync(ctx.Caller, name, ctx.Audit, ctx.Aborted))))
            .Audited("role.read")
            .WithSummary("One role (tenant admin token).")
            .ProducesProblem(404);

        roles.MapDelete("/{name}", async (string name, RequestContext ctx, RoleService service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await service.DeleteAsync(ctx.Caller, name, ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("role.delete")
            .WithSummary("Delete a role (tenant admin token).")
            .ProducesProblem(404);

        return routes;
    }
}
