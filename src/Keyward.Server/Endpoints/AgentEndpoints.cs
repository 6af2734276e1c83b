using Keyward.Core.Agents;
using Keyward.Core.Errors;
using Keyward.Core.Policies;
using Keyward.Core.Tokens;
using Keyward.Gateway.Budgets;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

public sealed class AgentGrantBody
{
    public string? AgentId { get; init; }

    public string? RunId { get; init; }

    public string? Role { get; init; }

    public Duration? Ttl { get; init; }

    public IReadOnlyList<RuleSpec>? Rules { get; init; }

    public Duration? BootstrapTtl { get; init; }

    /// <summary>Gateway request budgets handed to the new agent: <c>{integration: requests}</c>, each within what the caller has left.</summary>
    public IReadOnlyDictionary<string, long>? Budgets { get; init; }

    public AgentGrantRequest ToRequest() => new(AgentId, RunId, Role, Ttl?.Value, Rules, BootstrapTtl?.Value);
}

public sealed record BootstrapResponse(string BootstrapToken, string Accessor, DateTimeOffset ExpiresAt);

public sealed class ExchangeRequest
{
    public string? BootstrapToken { get; init; }
}

public sealed record SessionResponse(
    string Token, string Accessor, string Tenant, string? AgentId, string? RunId, string? Role, DateTimeOffset? ExpiresAt, bool Renewable);

public sealed record SelfResponse(
    string? Tenant, string Kind, string Accessor, string? ParentAccessor, string? AgentId, string? RunId, string? Role,
    IReadOnlyList<RuleSpec>? Rules, DateTimeOffset? ExpiresAt, IReadOnlyList<string>? Chain)
{
    /// <summary>For a derived token: its id, which <c>POST /v1/auth/revoke {derived_id}</c> takes.</summary>
    public string? DerivedId { get; init; }
}

public sealed class RenewRequest
{
    public Duration? Increment { get; init; }
}

public sealed record RenewResponse(string Accessor, DateTimeOffset ExpiresAt, bool Renewable);

public sealed class RevokeRequest
{
    public string? Accessor { get; init; }

    /// <summary>A derived token's id (<c>&lt;session accessor&gt;.&lt;hash&gt;</c>): that token and what was derived from it.</summary>
    public string? DerivedId { get; init; }
}

public sealed record RevocationResponse(int RevokedTokens, int RevokedLeases);

public sealed record RunTokenInfo(
    string Accessor, string? ParentAccessor, string Kind, string? AgentId, string? RunId, string? Role,
    DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt, string? RevokedReason);

public sealed record RunTokensResponse(string RunId, IReadOnlyList<RunTokenInfo> Tokens);

/// <summary>Agents and tokens (API.md): bootstrap, exchange, spawn, self, renew, revoke, run completion and the run's tree.</summary>
public static class AgentEndpoints
{
    private static Task ValidateSlicesAsync(RunBudgets budgets, Principal caller, AgentGrantBody body, CancellationToken cancellationToken) =>
        body.Budgets is { Count: > 0 } slices ? budgets.ValidateSlicesAsync(caller, slices, cancellationToken) : Task.CompletedTask;

    /// <summary>After the grant is durable: the new agent's slices, held against its bootstrap token.</summary>
    private static Task GrantSlicesAsync(RunBudgets budgets, Principal caller, AgentGrantBody body, string? runId, BootstrapGrant grant) =>
        body.Budgets is { Count: > 0 } slices && runId is not null
            ? budgets.GrantAsync(caller.RequireTenant().Uid, runId, grant.Accessor, slices)
            : Task.CompletedTask;

    public static IEndpointRouteBuilder MapAgentEndpoints(this IEndpointRouteBuilder routes)
    {
        var agents = routes.MapGroup("/agents").WithTags("Agents and tokens");

        agents.MapPost("/bootstrap", async (RequestContext ctx, AgentService service, RunBudgets budgets) =>
            {
                var body = await ctx.BodyAsync<AgentGrantBody>();
                await ValidateSlicesAsync(budgets, ctx.Caller, body, ctx.Aborted);
                var grant = await service.BootstrapAsync(ctx.Caller, body.ToRequest(), ctx.Audit);
                await GrantSlicesAsync(budgets, ctx.Caller, body, body.RunId, grant);
                return TypedResults.Ok(new BootstrapResponse(grant.Token, grant.Accessor, grant.ExpiresAt));
            })
            .Audited("agent.bootstrap")
            .WithSummary("Mint a single-use bootstrap token for a new agent of a run (orchestrator token); bootstrap_ttl defaults to 60s, at most 90s.")
            .WithJsonBody<AgentGrantBody>().ProducesProblem(400).ProducesProblem(403);

        agents.MapPost("/spawn", async (RequestContext ctx, AgentService service, RunBudgets budgets) =>
            {
                var body = await ctx.BodyAsync<AgentGrantBody>();
                await ValidateSlicesAsync(budgets, ctx.Caller, body, ctx.Aborted);
                var grant = await service.SpawnAsync(ctx.Caller, body.ToRequest(), ctx.Audit);
                await GrantSlicesAsync(budgets, ctx.Caller, body, ctx.Caller.Token.RunId, grant);
                return TypedResults.Ok(new BootstrapResponse(grant.Token, grant.Accessor, grant.ExpiresAt));
            })
            .Audited("agent.spawn")
            .WithSummary("Mint a child agent's bootstrap token (agent token): its role must be in may_spawn, its rules a subset of the caller's, its ttl within the caller's.")
            .WithJsonBody<AgentGrantBody>().ProducesProblem(400).ProducesProblem(403);

        var auth = routes.MapGroup("/auth").WithTags("Agents and tokens");

        auth.MapPost("/exchange", async (RequestContext ctx, AgentService service) =>
            {
                var body = await ctx.BodyAsync<ExchangeRequest>();
                var grant = await service.ExchangeAsync(body.BootstrapToken, ctx.Audit);
                var r = grant.Record;
                return TypedResults.Ok(new SessionResponse(grant.Token, r.Accessor, grant.TenantId, r.AgentId, r.RunId, r.Role, r.ExpiresAt, grant.Renewable));
            })
            .AuditedAnonymously("auth.exchange")
            .WithSummary("Exchange a bootstrap token (in the body, not the header) for the agent's session token; a second exchange is 409 bootstrap_replayed.")
            .WithJsonBody<ExchangeRequest>().ProducesProblem(401).ProducesProblem(409);

        auth.MapGet("/self", (RequestContext ctx) =>
            {
                var c = ctx.Caller;
                var t = c.Token;
                return TypedResults.Ok(new SelfResponse(
                    c.Tenant?.Id, TokenKinds.Name(c.Kind), t.Accessor, t.ParentAccessor, t.AgentId, t.RunId, t.Role,
                    c.Kind == TokenKind.Admin ? null : c.Rules.ToSpecs(), c.ExpiresAt, c.Actor.Chain) { DerivedId = c.Attenuation?.Id });
            })
            .Audited("auth.self")
            .WithSummary("The calling token: tenant, kind, agent, run, role, effective rules, expiry.");

        auth.MapPost("/renew", async (RequestContext ctx, AgentService service) =>
            {
                var body = await ctx.BodyAsync<RenewRequest>(allowEmpty: true);
                var renewed = await service.RenewAsync(ctx.Caller, body.Increment?.Value, ctx.Audit);
                return TypedResults.Ok(new RenewResponse(renewed.Accessor, renewed.ExpiresAt, renewed.Renewable));
            })
            .Audited("auth.renew")
            .WithSummary("Extend the agent session by increment (default: its original ttl), never past the role's max_ttl or the parent's expiry.")
            .WithJsonBody<RenewRequest>().ProducesProblem(401);

        auth.MapPost("/revoke-self", async (RequestContext ctx, AgentService service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await service.RevokeSelfAsync(ctx.Caller, ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("auth.revoke_self")
            .WithSummary("Task done: revoke the calling agent session, its subtree and every lease under it.");

        auth.MapPost("/revoke", async (RequestContext ctx, AgentService service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                var body = await ctx.BodyAsync<RevokeRequest>();
                if (body.DerivedId is not null)
                {
                    if (body.Accessor is not null)
                    {
                        throw KeywardErrors.InvalidRequest("Name an accessor or a derived_id, not both.");
                    }

                    await service.RevokeDerivedAsync(ctx.Caller, body.DerivedId, ctx.Audit);
                }
                else
                {
                    await service.RevokeAsync(ctx.Caller, body.Accessor, ctx.Audit);
                }

                return TypedResults.NoContent();
            })
            .Audited("auth.revoke")
            .WithSummary("Revoke a token by accessor with its subtree and leases (admin: any of the tenant; orchestrator: its own subtree), or one derived token by derived_id (also its session's agent).")
            .WithJsonBody<RevokeRequest>().ProducesProblem(404);

        var runs = routes.MapGroup("/runs").WithTags("Agents and tokens");

        runs.MapPost("/{runId}/complete", async (string runId, RequestContext ctx, AgentService service) =>
            {
                var counts = await service.CompleteRunAsync(ctx.Caller, runId, ctx.Audit);
                return TypedResults.Ok(new RevocationResponse(counts.Tokens, counts.Leases));
            })
            .Audited("run.complete")
            .WithSummary("Revoke every token and lease of a run (orchestrator: within its subtree; admin: the tenant's).");

        runs.MapGet("/{runId}/tokens", async (string runId, RequestContext ctx, AgentService service) =>
            {
                var tokens = await service.ListRunAsync(ctx.Caller, runId, ctx.Audit, ctx.Aborted);
                return TypedResults.Ok(new RunTokensResponse(runId, tokens.Select(t => new RunTokenInfo(
                    t.Accessor, t.ParentAccessor, TokenKinds.Name(t.Kind), t.AgentId, t.RunId, t.Role, t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.RevokedReason)).ToArray()));
            })
            .Audited("run.tokens")
            .WithSummary("The run's token tree (bootstrap and session tokens, revoked ones included), parents before children, within the caller's reach.");

        return routes;
    }
}
