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
    public static IEndpointRouteBuilder MapLeaseEndpoints(this IEndpointRouteBuilder routes)
    {
        var leases = routes.MapGroup("/leases").WithTags("Leases");

        leases.MapGet("/", async (RequestContext ctx, LeaseService service) =>
            {
                var list = await service.ListAsync(ctx.Caller, Query.String(ctx.Request, "prefix"), ctx.Audit, ctx.Aborted);
                return TypedResults.Ok(new LeaseListResponse(list.Select(LeaseInfo.From).ToArray()));
            })
            .Audited("lease.list")
            .WithSummary("Live leases whose id starts with prefix (whole segments), owned within the caller's reach.");

        leases.MapPost("/renew", async (RequestContext ctx, LeaseService service, TimeProvider time) =>
            {
                var body = await ctx.BodyAsync<LeaseRenewRequest>();
                var lease = await service.RenewAsync(ctx.Caller, body.LeaseId, body.Increment?.Value, ctx.Audit);
                var remaining = (long)Math.Max(0, (lease.ExpiresAt - time.GetUtcNow()).TotalSeconds);
                return TypedResults.Ok(new LeaseRenewResponse(lease.LeaseId, lease.ExpiresAt, remaining));
            })
            .Audited("lease.renew")
            .WithSummary("Extend a lease by increment, never past its maximum or its owner's expiry.")
            .WithJsonBody<LeaseRenewRequest>().ProducesProblem(404);

        leases.MapPost("/revoke", async (RequestContext ctx, LeaseService service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                var body = await ctx.BodyAsync<LeaseRevokeRequest>();
                await service.RevokeAsync(ctx.Caller, body.LeaseId, ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("lease.revoke")
            .WithSummary("Revoke one lease (clean-up outside Keyward continues in the background).")
            .WithJsonBody<LeaseRevokeRequest>().ProducesProblem(404);

        leases.MapPost("/revoke-prefix", async (RequestContext ctx, LeaseService service) =>
            {
                var body = await ctx.BodyAsync<LeaseRevokePrefixRequest>();
                return TypedResults.Ok(new LeaseRevokePrefixResponse(await service.RevokePrefixAsync(ctx.Caller, body.Prefix, ctx.Audit)));
            })
            .Audited("lease.revoke_prefix")
            .WithSummary("Revoke every live lease in reach whose id starts with prefix (whole segments; a non-empty prefix is required).")
            .WithJsonBody<LeaseRevokePrefixRequest>().ProducesProblem(400);

        return routes;
    }
}
