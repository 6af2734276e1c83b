using System.Collections.Concurrent;
using System.Net.Http.Headers;
using Keyward.Client.Models;
using Microsoft.AspNetCore.TestHost;

namespace Keyward.Client.Tests;

/// <summary>
/// A tenant set up for agents: roles <c>worker</c> (reads <c>app/**</c>, may spawn <c>helper</c>), <c>helper</c>
/// (reads <c>app/x/**</c>) and <c>auditor</c> (not spawnable by anyone), an admin and an orchestrator token.
/// </summary>
internal sealed class AgentWorld
{
    private AgentWorld(ServerFixture server, string tenant, string adminToken, string orchestratorToken)
    {
        Server = server;
        Tenant = tenant;
        AdminToken = adminToken;
        OrchestratorToken = orchestratorToken;
    }

    public ServerFixture Server { get; }

    public string Tenant { get; }

    public string AdminToken { get; }

    public string OrchestratorToken { get; }

    public static async Task<AgentWorld> CreateAsync(ServerFixture server)
    {
        var (tenant, adminToken, admin) = await server.TenantAsync();
        using (admin)
        {
            await admin.PutRoleAsync("worker", [new RoleRule("app/**", ["read", "list"])], TimeSpan.FromHours(1), ["helper"]);
            await admin.PutRoleAsync("helper", [new RoleRule("app/x/**", ["read"])], TimeSpan.FromHours(1));
            await admin.PutRoleAsync("auditor", [new RoleRule("ops/**", ["read"])], TimeSpan.FromHours(1));
            await admin.PutSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "pw-app-db" });
            await admin.PutSecretAsync("app/x/key", new Dictionary<string, string> { ["key"] = "pw-app-x" });
            await admin.PutSecretAsync("ops/pager", new Dictionary<string, string> { ["key"] = "pw-ops" });
        }

        var orchestrator = await server.Host.MintTokenAsync(tenant, "orchestrator");
        return new AgentWorld(server, tenant, adminToken, orchestrator);
    }

    public KeywardClient Admin() => Server.Client(AdminToken);

    public KeywardClient Orchestrator() => Server.Client(OrchestratorToken);

    /// <summary>Client options reaching the in-process server, optionally through <paramref name="spy"/>.</summary>
    public KeywardClientOptions Options(TokenSpy? spy = null)
    {
        HttpMessageHandler handler = Server.Host.Host.App.GetTestServer().CreateHandler();
        if (spy is not null)
        {
            spy.InnerHandler = handler;
            handler = spy;
        }

        return new KeywardClientOptions { Address = Clients.TestAddress, Handler = handler };
    }

    public async Task<IssuedBootstrapToken> BootstrapAsync(string agentId, string runId, string role = "worker", TimeSpan? ttl = null, IEnumerable<RoleRule>? rules = null)
    {
        using var orchestrator = Orchestrator();
        return await orchestrator.BootstrapAgentAsync(agentId, runId, role, ttl ?? TimeSpan.FromMinutes(10), rules);
    }

    public async Task<AgentSession> SessionAsync(string agentId, string runId, string role = "worker", AgentSessionOptions? options = null, TokenSpy? spy = null)
    {
        var bootstrap = await BootstrapAsync(agentId, runId, role);
        return await AgentSession.ExchangeAsync(Options(spy), bootstrap.BootstrapToken, options);
    }
}

/// <summary>Remembers every bearer token that went through it, so a test can try the token after the session is gone.</summary>
internal sealed class TokenSpy : DelegatingHandler
{
    public ConcurrentQueue<string> Tokens { get; } = new();

    public string Last => Tokens.Last();

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Headers.Authorization is AuthenticationHeaderValue { Scheme: "Bearer", Parameter: { } token })
        {
            Tokens.Enqueue(token);
        }

        return base.SendAsync(request, cancellationToken);
    }
}
