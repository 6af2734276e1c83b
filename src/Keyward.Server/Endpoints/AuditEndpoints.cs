using System.Text.Json.Nodes;
using Keyward.Core.Audit;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

public sealed record AuditPage(IReadOnlyList<JsonObject> Records, long? Next);

public static class AuditEndpoints
{
    public static IEndpointRouteBuilder MapAuditEndpoints(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/audit", async (RequestContext ctx, AuditService audit) =>
            {
                var (records, next) = await audit.QueryTenantAsync(
                    ctx.Caller, Query.Long(ctx.Request, "after"), Query.Long(ctx.Request, "limit"),
                    Query.String(ctx.Request, "agent_id"), Query.String(ctx.Request, "path"), ctx.Aborted);
                return Page(records, next);
            })
            .Audited("audit.read")
            .WithTags("Audit")
            .WithSummary("The tenant's audit records in ascending seq (tenant admin token); pass next as after for the next page.")
            .Produces<AuditPage>().ProducesProblem(403);
        return routes;
    }

    /// <summary>Each record is its canonical body plus the chain links, hex-encoded.</summary>
    public static JsonHttpResult<AuditPage> Page(IReadOnlyList<AuditEntry> entries, long? next)
    {
        var records = new List<JsonObject>(entries.Count);
        foreach (var entry in entries)
        {
            var record = JsonNode.Parse(entry.Body)!.AsObject();
            record["hash"] = Convert.ToHexStringLower(entry.Hash);
            record["prev_hash"] = Convert.ToHexStringLower(entry.PrevHash);
            records.Add(record);
        }

        return TypedResults.Json(new AuditPage(records, next), KeywardJson.Options);
    }
}
