using System.Globalization;
using System.Text;
using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Events;
using Keyward.Core.Seal;
using Keyward.Core.Storage;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

public sealed class InitRequest
{
    public int? Shares { get; init; }

    public int? Threshold { get; init; }
}

public sealed record InitResponse(IReadOnlyList<string> Keys, string RootToken);

public sealed class UnsealRequest
{
    public string? Key { get; init; }

    public bool? Reset { get; init; }
}

public sealed record SealStatusResponse(bool Sealed, int Progress, int Threshold);

public sealed class GenerateRootRequest
{
    public IReadOnlyList<string>? Keys { get; init; }
}

public sealed record RootTokenResponse(string RootToken);

/// <summary>Health: <see cref="Storage"/> is the engine; <see cref="Store"/> what this node knows of it.</summary>
public sealed record HealthResponse(bool Initialized, bool Sealed, string Version, string Storage, StoreHealth Store);

/// <summary>The store as this node sees it: reachable (checked every second), and for a shared store whether other nodes' changes arrive.</summary>
public sealed record StoreHealth(bool Reachable, bool Shared, bool? Notifications);

/// <summary>The chain as the store alone shows it (no anchor here: <c>keyward operator audit verify --anchor</c> takes one).</summary>
public sealed record AuditVerifyResponse(
    long Records, bool Ok, long? FirstBadSeq, long? TruncatedAfter, int Checkpoints, long? LastCheckpointSeq, string? Problem, string HeadMac);

public static class SysEndpoints
{
    public static IEndpointRouteBuilder MapSysEndpoints(this IEndpointRouteBuilder routes)
    {
        var sys = routes.MapGroup("/sys").WithTags("System");

        sys.MapGet("/health", Health)
            .Unaudited("Polled by load balancers every second, before init and while sealed: no credential, no store, no tenant data.")
            .WithSummary("Initialization and seal state (no auth, no store, no audit); 503 while sealed or uninitialized.")
            .Produces<HealthResponse>(503);

        sys.MapPost("/init", async (RequestContext ctx, SealService seal) =>
            {
                var body = await ctx.BodyAsync<InitRequest>();
                var result = await seal.InitializeAsync(
                    body.Shares ?? throw KeywardErrors.MissingField("shares"),
                    body.Threshold ?? throw KeywardErrors.MissingField("threshold"),
                    ctx.Audit);
                return TypedResults.Ok(new InitResponse(result.Keys, result.RootToken));
            })
            .AuditedAnonymously("sys.init")
            .WithSummary("Generate the root key, split it into key shares (returned once) and mint the root token.")
            .WithJsonBody<InitRequest>().ProducesProblem(409);

        sys.MapPost("/unseal", async (RequestContext ctx, SealService seal) =>
            {
                var body = await ctx.BodyAsync<UnsealRequest>();
                UnsealStatus status;
                if (body.Reset == true)
                {
                    status = seal.ResetProgress();
                }
                else
                {
                    status = await seal.SubmitShareAsync(body.Key ?? throw KeywardErrors.MissingField("key"), ctx.Audit);
                }

                return TypedResults.Ok(new SealStatusResponse(status.Sealed, status.Progress, status.Threshold));
            })
            .AuditedAnonymously("sys.unseal")
            .WithSummary("Submit one key share, or {reset: true} to clear progress. Progress expires after 10 minutes.")
            .WithJsonBody<UnsealRequest>().ProducesProblem(400);

        sys.MapPost("/seal", async (RequestContext ctx, SealService seal) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await seal.SealAsync(ctx.Caller, ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("sys.seal")
            .WithSummary("Wipe every key from memory (root token). Every request but health/init/unseal then gets 503.")
            .ProducesProblem(403);

        sys.MapPost("/root-token/revoke", async (RequestContext ctx, SealService seal) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await seal.RevokeRootTokensAsync(ctx.Caller, ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("sys.root_token.revoke")
            .WithSummary("Retire every root token. A new one needs a threshold of key shares (generate-root).")
            .ProducesProblem(403);

        sys.MapPost("/generate-root", async (RequestContext ctx, SealService seal) =>
            {
                var body = await ctx.BodyAsync<GenerateRootRequest>();
                var token = await seal.GenerateRootAsync(body.Keys, ctx.Audit);
                return TypedResults.Ok(new RootTokenResponse(token));
            })
            .AuditedAnonymously("sys.generate_root")
            .WithSummary("Mint a new root token from a threshold of key shares; every other root token is revoked.")
            .WithJsonBody<GenerateRootRequest>().ProducesProblem(400);

        sys.MapGet("/audit/verify", async (RequestContext ctx, AuditService audit) =>
            {
                var result = await audit.VerifyAsync(ctx.Caller, ctx.Aborted);
                return TypedResults.Ok(new AuditVerifyResponse(
                    result.Records, result.Ok, result.FirstBadSeq, result.TruncatedAfter, result.Checkpoints, result.LastCheckpointSeq, result.Problem,
                    result.HeadMac));
            })
            .Audited("sys.audit.verify")
            .WithSummary("Verify the whole audit chain and its checkpoints (root token).")
            .ProducesProblem(403);

        sys.MapGet("/audit", async (RequestContext ctx, AuditService audit) =>
            {
                var (records, next) = await audit.QueryAnyAsync(
                    ctx.Caller, Query.String(ctx.Request, "tenant"), Query.Long(ctx.Request, "after"), Query.Long(ctx.Request, "limit"),
                    Query.String(ctx.Request, "agent_id"), Query.String(ctx.Request, "path"), ctx.Aborted);
                return AuditEndpoints.Page(records, next);
            })
            .Audited("sys.audit.read")
            .WithSummary("Audit records of any tenant, including deleted ones, or all (root token).")
            .Produces<AuditPage>().ProducesProblem(403);

        sys.MapGet("/metrics", (RequestContext ctx, GroupCommitter committer, KeyHierarchy keys, EventStream events) =>
            {
                ctx.Caller.RequireRoot();
                return TypedResults.Text(Metrics(committer, keys, events), "text/plain; version=0.0.4", Encoding.UTF8);
            })
            .Audited("sys.metrics")
            .WithSummary("Prometheus-format metrics: seal state and group-commit figures (root token).")
            .Produces<string>(200, "text/plain");

        return routes;
    }

    /// <summary>503 while sealed, uninitialized or cut off from the store: a load balancer then takes the node out.</summary>
    private static Results<Ok<HealthResponse>, JsonHttpResult<HealthResponse>> Health(KeyHierarchy keys, IKeywardStore store, StoreProbe probe)
    {
        var state = keys.State;
        var reachable = probe.Reachable;
        var body = new HealthResponse(
            state != SealState.Uninitialized, state != SealState.Unsealed, KeywardVersion.Current, store.Engine,
            new StoreHealth(reachable, store is ISharedStore, probe.Notified));
        return state == SealState.Unsealed && reachable ? TypedResults.Ok(body) : TypedResults.Json(body, KeywardJson.Options, statusCode: 503);
    }

    private static string Metrics(GroupCommitter committer, KeyHierarchy keys, EventStream events)
    {
        var stats = committer.Stats;
        var text = new StringBuilder();
        void Line(string name, string help, string type, double value)
        {
            text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            text.Append(name).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }

        Line("keyward_sealed", "1 while sealed or uninitialized.", "gauge", keys.State == SealState.Unsealed ? 0 : 1);
        Line("keyward_store_commits_total", "Group commits (each one fsync).", "counter", stats.Commits);
        Line("keyward_store_commit_seconds_total", "Time spent in commit (including the sync).", "counter", stats.CommitTime.TotalSeconds);
        Line("keyward_store_batch_seconds_total", "Time spent in group-commit transactions, BEGIN to the end of COMMIT.", "counter", stats.BatchTime.TotalSeconds);
        Line("keyward_store_operations_total", "Operations committed.", "counter", stats.Operations);
        Line("keyward_audit_records_total", "Audit records committed.", "counter", stats.AuditRecords);
        Line("keyward_cached_reads_redone_total", "Reads answered from a cached secret row that a change elsewhere had made stale by their audit commit: nothing written, read again from the store.", "counter", stats.CachedReadsRedone);
        var pages = events.PageStats;
        Line("keyward_event_stream_reads_total", "Reads of the event table by event streams.", "counter", pages.Reads);
        Line("keyward_event_stream_joined_total", "Event stream requests that joined a read already in flight for the same tenant and position.", "counter", pages.Joined);
        return text.ToString();
    }
}

/// <summary>The build's version, reported by health.</summary>
public static class KeywardVersion
{
    public static string Current { get; } =
        typeof(KeywardVersion).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
