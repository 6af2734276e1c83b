using Keyward.Core.Wrapping;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

/// <summary>Response wrapping: the unwrap route (the wrapping is done by <see cref="ResponseWrapping"/> on the wrapped routes).</summary>
public static class WrappingEndpoints
{
    public static IEndpointRouteBuilder MapWrappingEndpoints(this IEndpointRouteBuilder routes)
    {
        var wrapping = routes.MapGroup("/v1/wrapping").WithTags("Response wrapping");

        wrapping.MapPost("/unwrap", (HttpContext http, Audited audited, WrappingService service) =>
            audited.RunAnonymousAsync(http, "wrap.unwrap", async ctx =>
                (IResult)new UnwrappedResult(await service.UnwrapAsync(Audited.BearerToken(http.Request), ctx.Audit, http.RequestAborted))))
            .WithSummary("The wrapped call's original body, once: Authorization: Bearer kww_… is the only credential. Again → 404 wrap_token_used (anomaly wrap_reuse); expired → 404 wrap_token_expired; after a lockdown or offboarding → 404 wrap_token_revoked; unknown → 401.")
            .Produces(200, contentType: "application/json").ProducesProblem(401).ProducesProblem(404);

        return routes;
    }

    /// <summary>Lets a route's response be wrapped with <see cref="ResponseWrapping.Header"/>.</summary>
    public static RouteHandlerBuilder Wrappable(this RouteHandlerBuilder builder) => builder.WithMetadata(WrappableMetadata.Instance);
}
