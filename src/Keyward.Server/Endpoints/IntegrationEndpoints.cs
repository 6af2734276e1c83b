using Keyward.Gateway.Integrations;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

public sealed class PutIntegrationRequest
{
    public string? Upstream { get; init; }

    public string? SecretPath { get; init; }

    public string? SecretField { get; init; }

    public InjectRequest? Inject { get; init; }

    public IReadOnlyList<AllowRequest>? Allow { get; init; }

    public bool? AllowInsecureLoopback { get; init; }

    public LimitsRequest? Limits { get; init; }

    public sealed class InjectRequest
    {
        /// <summary><c>bearer</c>, <c>header</c>, <c>basic</c> or <c>query</c>.</summary>
        public string? Kind { get; init; }

        /// <summary>The header or query parameter name; for basic, the user name.</summary>
        public string? Name { get; init; }
    }

    public sealed class AllowRequest
    {
        public IReadOnlyList<string>? Methods { get; init; }

        /// <summary>An upstream path glob (<c>v1/**</c>, <c>v1/models/*</c>), relative to the upstream URL.</summary>
        public string? Path { get; init; }
    }

    public sealed class LimitsRequest
    {
        public int? PerAgentRps { get; init; }

        public long? RunBudget { get; init; }
    }
}

public sealed record IntegrationListResponse(IReadOnlyList<IntegrationView> Integrations);

/// <summary>The gateway's integrations (tenant admin token): where it may forward, and which secret it injects how.</summary>
public static class IntegrationEndpoints
{
    public static IEndpointRouteBuilder MapIntegrationEndpoints(this IEndpointRouteBuilder routes)
    {
        var integrations = routes.MapGroup("/integrations").WithTags("Gateway");

        integrations.MapPut("/{name}", async (string name, RequestContext ctx, IntegrationService service) =>
            {
                ctx.Audit.Path = IntegrationService.AuditPath(name);
                var body = await ctx.BodyAsync<PutIntegrationRequest>();
                var integration = service.Validate(
                    name, body.Upstream, body.SecretPath, body.SecretField, body.Inject?.Kind, body.Inject?.Name,
                    body.Allow?.Select(a => (a.Methods, a.Path)).ToArray(), body.AllowInsecureLoopback, body.Limits?.PerAgentRps, body.Limits?.RunBudget);
                return TypedResults.Ok(await service.PutAsync(ctx.Caller, integration, ctx.Audit));
            })
            .Audited("integration.write")
            .WithSummary("Register or replace an integration: {upstream (https), secret_path, secret_field, inject {kind, name?}, allow [{methods, path}], allow_insecure_loopback?, limits? {per_agent_rps?, run_budget?}} (tenant admin token).")
            .WithJsonBody<PutIntegrationRequest>().ProducesProblem(400).ProducesProblem(403);

        integrations.MapGet("/", async (RequestContext ctx, IntegrationService service) =>
                TypedResults.Ok(new IntegrationListResponse(await service.ListAsync(ctx.Caller, ctx.Aborted))))
            .Audited("integration.list")
            .WithSummary("The tenant's integrations (tenant admin token).");

        integrations.MapGet("/{name}", async (string name, RequestContext ctx, IntegrationService service) =>
                TypedResults.Ok(await service.GetAsync(ctx.Caller, name, ctx.Audit, ctx.Aborted)))
            .Audited("integration.read")
            .WithSummary("One integration (tenant admin token).")
            .ProducesProblem(404);

        integrations.MapDelete("/{name}", async (string name, RequestContext ctx, IntegrationService service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await service.DeleteAsync(ctx.Caller, name, ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("integration.delete")
            .WithSummary("Delete an integration; calls through it stop at once (tenant admin token).")
            .ProducesProblem(404);

        return routes;
    }
}
