using Keyward.Gateway.Forwarding;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

/// <summary>
/// <c>ANY /v1/gateway/{integration}/{**path}</c>: the credential-injecting proxy. The token needs <c>use</c> on the
/// integration's secret; the value is injected upstream and never returned.
/// </summary>
public static class GatewayEndpoints
{
    public static IEndpointRouteBuilder MapGatewayEndpoints(this IEndpointRouteBuilder routes)
    {
        var gateway = routes.MapGroup("/gateway").WithTags("Gateway");
        // Catch-all: the path may also be empty (a call to the upstream's base URL).
        gateway.MapMethods("/{integration}/{**path}", Methods, Forward)
            .Audited("gateway.request")
            .WithSummary("Forward the request to the integration's upstream with its credential injected (use on its secret_path); the response streams back scrubbed of any echo of the credential.")
            .ProducesProblem(400).ProducesProblem(403).ProducesProblem(404).ProducesProblem(429).ProducesProblem(502).ProducesProblem(504);
        return routes;
    }

    /// <summary>The methods forwarded (never CONNECT or TRACE); an integration's allow-list narrows them further.</summary>
    private static readonly string[] Methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

    private static async Task<EmptyHttpResult> Forward(string integration, RequestContext ctx, GatewayForwarder forwarder)
    {
        var http = ctx.Http;
        await forwarder.ForwardAsync(http, ctx.Caller, Audited.BearerToken(http.Request)!, integration, RequestGuards.RawTarget(http), ctx.Audit);
        return TypedResults.Empty;
    }
}
