using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests.Agents;

/// <summary>An agent's session as the exchange returned it.</summary>
public sealed record AgentSessionInfo(string Token, string Accessor, string? AgentId, string? RunId, string? Role, DateTimeOffset ExpiresAt, bool Renewable);

/// <summary>
/// One tenant set up the way a platform would: an admin token, roles, an orchestrator; helpers to bootstrap,
/// exchange and spawn agents over HTTP, and to read the tenant's audit log.
/// </summary>
public sealed class AgentWorld
{
    private AgentWorld(KeywardTestHost host, string tenant, string admin, string orchestrator)
    {
        Host = host;
        Tenant = tenant;
        Admin = admin;
        Orchestrator = orchestrator;
    }

    public KeywardTestHost Host { get; }

    public string Tenant { get; }

    public string Admin { get; }

    public string Orchestrator { get; }

    /// <summary>
    /// A tenant with roles <c>lead</c> (read/list/write on apps/**, may spawn worker and lead), <c>worker</c> (read on
    /// apps/web/**, may spawn worker) and <c>solo</c> (read on apps/web/**, spawns nothing), and an orchestrator token.
    /// </summary>
    public static async Task<AgentWorld> CreateAsync(KeywardTestHost host, string tenant, string orchestratorTtl = "2h")
    {
        var admin = await host.CreateTenantAsync(tenant);
        var world = new AgentWorld(host, tenant, admin, await host.MintTokenAsync(tenant, "orchestrator", orchestratorTtl));
        await world.PutRoleAsync("lead", [Rule("apps/**", "read", "list", "write")], "1h", "worker", "lead");
        await world.PutRoleAsync("worker", [Rule("apps/web/**", "read")], "1h", "worker");
        await world.PutRoleAsync("solo", [Rule("apps/web/**", "read")], "1h");
        return world;
    }

    public static object Rule(string path, params string[] capabilities) => new { path, capabilities };

    public async Task PutRoleAsync(string name, object[] rules, string maxTtl, params string[] maySpawn)
    {
        using var client = Host.Client(Admin);
        var response = await client.PutAsJsonAsync($"/v1/roles/{name}", new { rules, max_ttl = maxTtl, may_spawn = maySpawn });
        await Problems.JsonAsync(response);
    }

    public async Task<HttpResponseMessage> PostAsync(string? token, string route, object? body = null)
    {
        using var client = Host.Client(token);
        return await client.PostAsJsonAsync(route, body ?? new { });
    }

    public async Task<HttpResponseMessage> GetAsync(string? token, string route)
    {
        using var client = Host.Client(token);
        return await client.GetAsync(route);
    }

    /// <summary>Mints a bootstrap token with the orchestrator (or <paramref name="orchestrator"/>).</summary>
    public async Task<string> BootstrapAsync(string agentId, string runId, string role, string ttl = "30m", object[]? rules = null, string? orchestrator = null)
    {
        var response = await PostAsync(orchestrator ?? Orchestrator, "/v1/agents/bootstrap",
            rules is null ? new { agent_id = agentId, run_id = runId, role, ttl } : new { agent_id = agentId, run_id = runId, role, ttl, rules });
        return (await Problems.JsonAsync(response)).GetProperty("bootstrap_token").GetString()!;
    }

    public async Task<HttpResponseMessage> ExchangeRawAsync(string bootstrapToken) =>
        await PostAsync(null, "/v1/auth/exchange", new { bootstrap_token = bootstrapToken });

    public async Task<AgentSessionInfo> ExchangeAsync(string bootstrapToken) => Session(await Problems.JsonAsync(await ExchangeRawAsync(bootstrapToken)));

    public async Task<AgentSessionInfo> StartAgentAsync(string agentId, string runId, string role = "lead", string ttl = "30m", string? orchestrator = null) =>
        await ExchangeAsync(await BootstrapAsync(agentId, runId, role, ttl, orchestrator: orchestrator));

    /// <summary>A parent agent spawns a child and the child exchanges its bootstrap token.</summary>
    public async Task<AgentSessionInfo> SpawnAsync(AgentSessionInfo parent, string agentId, string? role = null, string ttl = "10m", object[]? rules = null)
    {
        var body = new Dictionary<string, object?> { ["agent_id"] = agentId, ["ttl"] = ttl };
        if (role is not null)
        {
            body["role"] = role;
        }

        if (rules is not null)
        {
            body["rules"] = rules;
        }

        var response = await PostAsync(parent.Token, "/v1/agents/spawn", body);
        var bootstrap = (await Problems.JsonAsync(response)).GetProperty("bootstrap_token").GetString()!;
        return await ExchangeAsync(bootstrap);
    }

    public async Task<HttpStatusCode> ReadStatusAsync(string token, string path)
    {
        using var response = await GetAsync(token, "/v1/secrets/" + path);
        return response.StatusCode;
    }

    public async Task<IReadOnlyList<JsonElement>> AuditAsync()
    {
        var log = new Infrastructure.AuditLog(Host, Admin, "/v1/audit");
        return await log.RefreshAsync();
    }

    public static AgentSessionInfo Session(JsonElement body) => new(
        body.GetProperty("token").GetString()!,
        body.GetProperty("accessor").GetString()!,
        body.GetProperty("agent_id").GetString(),
        body.GetProperty("run_id").GetString(),
        body.GetProperty("role").GetString(),
        body.GetProperty("expires_at").GetDateTimeOffset(),
        body.GetProperty("renewable").GetBoolean());
}
