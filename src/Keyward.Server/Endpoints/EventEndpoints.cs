using System.Globalization;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Events;
using Keyward.Core.Storage;
using Keyward.Core.Validation;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

/// <summary><c>GET /v1/events?prefix=</c>: the tenant's event table as server-sent events (any tenant token).</summary>
public static class EventEndpoints
{
    public static IEndpointRouteBuilder MapEventEndpoints(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/events", async (RequestContext ctx, EventStream stream, GroupCommitter committer) =>
            {
                var http = ctx.Http;
                var caller = ctx.Caller;
                caller.RequireTenant();
                var prefix = Query.String(ctx.Request, "prefix") is { Length: > 0 } p ? SecretPath.RequirePrefix(p) : "";
                ctx.Audit.Path = prefix.Length == 0 ? null : prefix;
                var lastEventId = LastEventId(ctx.Request);
                using var lease = stream.Open(caller);
                var start = await stream.StartAsync(lastEventId, http.RequestAborted);

                // The subscription is audited when it starts, not when it ends (a stream may last hours).
                await committer.AuditAsync(Succeeded(ctx));
                var response = http.Response;
                response.ContentType = "text/event-stream";
                response.Headers.CacheControl = "no-cache";
                response.Headers["X-Accel-Buffering"] = "no";
                await response.Body.FlushAsync(http.RequestAborted);
                try
                {
                    await foreach (var item in stream.ReadAsync(caller, Audited.BearerToken(http.Request)!, prefix, start, http.RequestAborted))
                    {
                        await response.WriteAsync(Format(item), Encoding.UTF8, http.RequestAborted);
                        await response.Body.FlushAsync(http.RequestAborted);
                    }
                }
                catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
                {
                    // The subscriber went away.
                }

                return TypedResults.Empty;
            })
            .Audited("events.subscribe")
            .WithTags("Events")
            .WithSummary("Server-sent events of the tenant (secret.*, token.revoked, lease.revoked, tenant.lockdown), filtered by the token's reach; resume with Last-Event-ID; at most 8 streams per token.")
            .Produces(200, contentType: "text/event-stream").ProducesProblem(429);
        return routes;
    }

    private static Core.Audit.AuditDraft Succeeded(RequestContext ctx)
    {
        ctx.Audit.Succeeded();
        return ctx.Audit;
    }

    private static long? LastEventId(HttpRequest request)
    {
        var header = request.Headers["Last-Event-ID"];
        if (header.Count == 0 || string.IsNullOrEmpty(header[0]))
        {
            return null;
        }

        return header.Count == 1 && long.TryParse(header[0], NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            ? id
            : throw KeywardErrors.InvalidField("Last-Event-ID", "must be an event id (a non-negative integer)");
    }

    /// <summary>One SSE message: <c>id</c>, <c>event</c> (the type) and one <c>data</c> line of JSON (never a value).</summary>
    private static string Format(StreamItem item) =>
        item.Event is { } e
            ? string.Create(CultureInfo.InvariantCulture, $"id: {e.Id}\nevent: {e.Type}\ndata: {e.Data}\n\n")
            : "event: reset\ndata: {}\n\n";
}
