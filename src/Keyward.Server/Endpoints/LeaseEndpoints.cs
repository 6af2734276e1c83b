using Keyward.Core.Leases;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

public sealed record LeaseInfo(
    string LeaseId, string Path, string Engine, string OwnerAccessor, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt, bool Renewable, DateTimeOffset? RevokedAt)
{
    public static LeaseInfo From(LeaseRecord l) =>
        new(l.LeaseId, l.Path, l.Engine, l.OwnerAccessor, l.IssuedAt, l.ExpiresAt, l.ExpiresAt < l.MaxExpiresAt, l.RevokedAt);
}

public sealed record LeaseListResponse(IReadOnlyList<LeaseInfo> Leases);

public sealed class LeaseRenewRequest
{
    public string? LeaseId { get; init; }

    public Duration? Increment { get; init; }
}

public sealed record LeaseRenewResponse(string LeaseId, DateTimeOffset ExpiresAt, long LeaseDuration);

public sealed class LeaseRevokeRequest
{
    public string? LeaseId { get; init; }
}

public sealed class LeaseRevokePrefixRequest
{
    public string? Prefix { get; init; }
}

public sealed record LeaseRevokePrefixResponse(int Revoked);

/// <summary>Leases (tenant token, own subtree): list, renew, revoke, revoke by prefix.</summary>
public static class LeaseEndpoints
{
    public static IEndpointRouteBuilder MapLeaseEndpoints(this IEndpointRouteBuilder routes, TimeProvider time)
    {
        var leases = routes.MapGroup("/v1/leases").WithTags("Leases");

        leases.MapGet("/", (HttpContext http, Audited audited, LeaseService service) =>
            audited.RunAsync(http, "lease.list", async ctx =>
            {
                var list = await service.ListAsync(ctx.Caller, Query.String(ctx.Request, "prefix"), ctx.Audit, http.RequestAborted);
                return TypedResults.Ok(new LeaseListResponse(list.Select(LeaseInfo.From).ToArray()));
            }))
            .WithSummary("Live leases whose id starts with prefix (whole segments), owned within the caller's reach.")
            .Produces<LeaseListResponse>();

        leases.MapPost("/renew", (HttpContext http, Audited audited, LeaseService service) =>
            audited.RunAsync(http, "lease.renew", async ctx =>
            {
                var body = await ctx.BodyAsync<LeaseRenewRequest>();
                var lease = await service.RenewAsync(ctx.Caller, body.LeaseId, body.Increment?.Value, ctx.Audit);
                var remaining = (long)Math.Max(0, (lease.ExpiresAt - time.GetUtcNow()).TotalSeconds);
                return TypedResults.Ok(new LeaseRenewResponse(lease.LeaseId, lease.ExpiresAt, remaining));
            }))
            .WithSummary("Extend a lease by increment, never past its maximum or its owner's expiry.")
            .WithJsonBody<LeaseRenewRequest>().Produces<LeaseRenewResponse>().ProducesProblem(404);

        leases.MapPost("/revoke", (HttpContext http, Audited audited, LeaseService service) =>
            audited.RunAsync(http, "lease.revoke", async ctx =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                var body = await ctx.BodyAsync<LeaseRevokeRequest>();
                await service.RevokeAsync(ctx.Caller, body.LeaseId, ctx.Audit);
                return TypedResults.NoContent();
            }))
            .WithSummary("Revoke one lease (clean-up outside Keyward continues in the background).")
            .WithJsonBody<LeaseRevokeRequest>().Produces(204).ProducesProblem(404);

        leases.MapPost("/revoke-prefix", (HttpContext http, Audited audited, LeaseService service) =>
            audited.RunAsync(http, "lease.revoke_prefix", async ctx =>
            {
                var body = await ctx.BodyAsync<LeaseRevokePrefixRequest>();
                return TypedResults.Ok(new LeaseRevokePrefixResponse(await service.RevokePrefixAsync(ctx.Caller, body.Prefix, ctx.Audit)));
            }))
            .WithSummary("Revoke every live lease in reach whose id starts with prefix (whole segments; a non-empty prefix is required).")
            .WithJsonBody<LeaseRevokePrefixRequest>().Produces<LeaseRevokePrefixResponse>().ProducesProblem(400);

        return routes;
    }
}
