using Keyward.Core.Wrapping;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

/// <summary>Response wrapping: the unwrap route (the wrapping is done by <see cref="ResponseWrapping"/> on the wrapped routes).</summary>
public static class WrappingEndpoints
{
    public static IEndpointRouteBuilder MapWrappingEndpoints(this IEndpointRouteBuilder routes)
    {
        var wrapping = routes.MapGroup("/wrapping").WithTags("Response wrapping");

        wrapping.MapPost("/unwrap", async (RequestContext ctx, WrappingService service) =>
                new UnwrappedResult(await service.UnwrapAsync(Audited.BearerToken(ctx.Request), ctx.Audit, ctx.Aborted)))
            .AuditedAnonymously("wrap.unwrap")
            .WithSummary("The wrapped call's original body, once: Authorization: Bearer kww_… is the only credential. Again → 404 wrap_token_used (anomaly wrap_reuse); expired → 404 wrap_token_expired; after a lockdown or offboarding → 404 wrap_token_revoked; unknown → 401.")
            .ProducesProblem(401).ProducesProblem(404);

        return routes;
    }
}
