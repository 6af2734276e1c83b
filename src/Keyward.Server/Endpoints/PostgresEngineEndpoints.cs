using Keyward.Engines.Postgres;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

public sealed class PutPostgresConnectionRequest
{
    public string? ConnectionUrl { get; init; }

    public string? Username { get; init; }

    /// <summary>Required when the connection is created; absent on a later PUT keeps the stored one.</summary>
    public string? Password { get; init; }

    public int? MaxOpenLeases { get; init; }
}

public sealed class PutPostgresRoleRequest
{
    public IReadOnlyList<string>? CreationStatements { get; init; }

    public IReadOnlyList<string>? RevocationStatements { get; init; }

    public Duration? DefaultTtl { get; init; }

    public Duration? MaxTtl { get; init; }
}

public sealed class PutPostgresStaticRoleRequest
{
    /// <summary>An existing login on the connection's database (not Keyward's own, not a kw_… dynamic one).</summary>
    public string? Username { get; init; }

    /// <summary>The secret that holds {username, password}: new, or already this static role's.</summary>
    public string? SecretPath { get; init; }

    public Duration? RotationPeriod { get; init; }

    public Duration? Grace { get; init; }
}

public sealed record PostgresStaticRoleListResponse(IReadOnlyList<PostgresStaticRoleView> StaticRoles);

public sealed record PostgresConnectionListResponse(IReadOnlyList<PostgresConnectionView> Connections);

public sealed record PostgresRoleListResponse(IReadOnlyList<PostgresRoleView> Roles);

public sealed record PostgresCredentialResponse(string Username, string Password, string LeaseId, long LeaseDuration, bool Renewable);

/// <summary>Dynamic PostgreSQL credentials: connections and roles (tenant admin), logins (read on creds/postgres/NAME/ROLE).</summary>
public static class PostgresEngineEndpoints
{
    public static IEndpointRouteBuilder MapPostgresEngineEndpoints(this IEndpointRouteBuilder routes)
    {
        var engine = routes.MapGroup("/engines/postgres").WithTags("PostgreSQL engine");

        engine.MapPut("/{name}", async (string name, RequestContext ctx, PostgresEngine service) =>
            {
                var body = await ctx.BodyAsync<PutPostgresConnectionRequest>();
                return TypedResults.Ok(await service.PutConnectionAsync(
                    ctx.Caller, name, body.ConnectionUrl, body.Username, body.Password, body.MaxOpenLeases, ctx.Audit, ctx.Aborted));
            })
            .Audited("engine.postgres.write")
            .WithSummary("Register or replace a connection (Keyward logs in to check it first); the password is sealed and never returned (tenant admin token).")
            .WithJsonBody<PutPostgresConnectionRequest>().ProducesProblem(400).ProducesProblem(403).ProducesProblem(502);

        engine.MapGet("/", async (RequestContext ctx, PostgresEngine service) =>
                TypedResults.Ok(new PostgresConnectionListResponse(await service.ListConnectionsAsync(ctx.Caller, ctx.Aborted))))
            .Audited("engine.postgres.list")
            .WithSummary("The tenant's PostgreSQL connections, without passwords (tenant admin token).");

        engine.MapGet("/{name}", async (string name, RequestContext ctx, PostgresEngine service) =>
                TypedResults.Ok(await service.GetConnectionAsync(ctx.Caller, name, ctx.Audit, ctx.Aborted)))
            .Audited("engine.postgres.read")
            .WithSummary("One connection, without its password (tenant admin token).")
            .ProducesProblem(404);

        engine.MapDelete("/{name}", async (string name, RequestContext ctx, PostgresEngine service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await service.DeleteConnectionAsync(ctx.Caller, name, ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("engine.postgres.delete")
            .WithSummary("Delete a connection and its roles; refused (409 engine_in_use) while any of its logins exists (tenant admin token).")
            .ProducesProblem(404).ProducesProblem(409);

        engine.MapPost("/{name}/rotate-root", async (string name, RequestContext ctx, PostgresEngine service) =>
                TypedResults.Ok(await service.RotateRootAsync(ctx.Caller, name, ctx.Audit, ctx.Aborted)))
            .Audited("engine.postgres.rotate_root")
            .WithSummary("Give Keyward's own login a new random password no person has seen (tenant admin token).")
            .ProducesProblem(404).ProducesProblem(502);

        engine.MapPut("/{name}/roles/{role}", async (string name, string role, RequestContext ctx, PostgresEngine service) =>
            {
                var body = await ctx.BodyAsync<PutPostgresRoleRequest>();
                return TypedResults.Ok(await service.PutRoleAsync(
                    ctx.Caller, name, role, body.CreationStatements, body.RevocationStatements, body.DefaultTtl?.Value, body.MaxTtl?.Value, ctx.Audit));
            })
            .Audited("engine.postgres.role.write")
            .WithSummary("Define a role: SQL statements with {{name}}, {{password}} and {{expiration}} that create and drop a login, and its lease terms (tenant admin token).")
            .WithJsonBody<PutPostgresRoleRequest>().ProducesProblem(400).ProducesProblem(404);

        engine.MapGet("/{name}/roles", async (string name, RequestContext ctx, PostgresEngine service) =>
                TypedResults.Ok(new PostgresRoleListResponse(await service.ListRolesAsync(ctx.Caller, name, ctx.Aborted))))
            .Audited("engine.postgres.role.list")
            .WithSummary("The roles of a connection (tenant admin token).")
            .ProducesProblem(404);

        engine.MapGet("/{name}/roles/{role}", async (string name, string role, RequestContext ctx, PostgresEngine service) =>
                TypedResults.Ok(await service.GetRoleAsync(ctx.Caller, name, role, ctx.Audit, ctx.Aborted)))
            .Audited("engine.postgres.role.read")
            .WithSummary("One role (tenant admin token).")
            .ProducesProblem(404);

        engine.MapDelete("/{name}/roles/{role}", async (string name, string role, RequestContext ctx, PostgresEngine service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await service.DeleteRoleAsync(ctx.Caller, name, role, ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("engine.postgres.role.delete")
            .WithSummary("Delete a role; refused (409 engine_in_use) while any of its logins exists (tenant admin token).")
            .ProducesProblem(404).ProducesProblem(409);

        engine.MapPut("/{name}/static-roles/{role}", async (string name, string role, RequestContext ctx, PostgresEngine service) =>
            {
                var body = await ctx.BodyAsync<PutPostgresStaticRoleRequest>();
                return TypedResults.Ok(await service.PutStaticRoleAsync(
                    ctx.Caller, name, role, body.Username, body.SecretPath, body.RotationPeriod?.Value, body.Grace?.Value, ctx.Audit, ctx.Aborted));
            })
            .Audited("engine.postgres.static_role.write")
            .WithSummary("Take over an existing login's password: Keyward sets a new one now and every rotation_period, held in secret_path as {username, password} (tenant admin token).")
            .WithJsonBody<PutPostgresStaticRoleRequest>().ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(502);

        engine.MapGet("/{name}/static-roles", async (string name, RequestContext ctx, PostgresEngine service) =>
                TypedResults.Ok(new PostgresStaticRoleListResponse(await service.ListStaticRolesAsync(ctx.Caller, name, ctx.Aborted))))
            .Audited("engine.postgres.static_role.list")
            .WithSummary("The static roles of a connection (tenant admin token).")
            .ProducesProblem(404);

        engine.MapGet("/{name}/static-roles/{role}", async (string name, string role, RequestContext ctx, PostgresEngine service) =>
                TypedResults.Ok(await service.GetStaticRoleAsync(ctx.Caller, name, role, ctx.Audit, ctx.Aborted)))
            .Audited("engine.postgres.static_role.read")
            .WithSummary("One static role (tenant admin token).")
            .ProducesProblem(404);

        engine.MapDelete("/{name}/static-roles/{role}", async (string name, string role, RequestContext ctx, PostgresEngine service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                await service.DeleteStaticRoleAsync(ctx.Caller, name, role, ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("engine.postgres.static_role.delete")
            .WithSummary("Stop managing the login: the secret and the login stay, the password no longer rotates (tenant admin token).")
            .ProducesProblem(404);

        routes.MapPost("/creds/postgres/{name}/{role}", async (string name, string role, RequestContext ctx, PostgresEngine service, TimeProvider time) =>
            {
                var issued = await service.IssueAsync(ctx.Caller, name, role, ctx.Audit, ctx.Aborted);
                var lease = issued.Lease;
                var duration = (long)Math.Max(0, (lease.ExpiresAt - time.GetUtcNow()).TotalSeconds);
                return TypedResults.Ok(new PostgresCredentialResponse(issued.Username, issued.Password, lease.LeaseId, duration, lease.ExpiresAt < lease.MaxExpiresAt));
            })
            .Audited("creds.postgres.issue")
            .WithTags("PostgreSQL engine")
            .WithSummary("A new unique login with VALID UNTIL, owned by a lease under the caller's token (capability read on creds/postgres/NAME/ROLE). With X-Keyward-Wrap-TTL (at most 10m) the body is wrapped: {wrap_info}.")
            .ProducesProblem(403).ProducesProblem(404).ProducesProblem(429).ProducesProblem(502).Wrappable();

        return routes;
    }
}
