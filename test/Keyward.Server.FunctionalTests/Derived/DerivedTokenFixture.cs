using System.Net.Http.Json;
using Keyward.Core.Policies;
using Keyward.Core.Seal;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;
using Keyward.Core.Tokens.Derived;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Derived;

/// <summary>
/// One server with two tenants, <c>acme</c> and <c>globex</c>, holding the same paths with different values. Agent
/// sessions are minted in-process through <see cref="TokenService.Mint"/> and inserted through the group committer
/// (the exchange route is being built separately; switch to it once it exists).
/// </summary>
public sealed class DerivedTokenFixture : IAsyncLifetime
{
    public const string Acme = "acme";
    public const string Globex = "globex";

    /// <summary>Every path the tests use, written in both tenants; the value names tenant and path.</summary>
    public static readonly string[] Paths =
    [
        "apps/web/key", "apps/web/db", "apps/web/prod/key", "apps/web-admin/key", "apps/api/key", "apps/api/db",
        "apps/webx", "libs/web/key", "libs/core/db",
    ];

    public KeywardTestHost Host { get; private set; } = null!;

    public Dictionary<string, string> Admin { get; } = [];

    public async Task InitializeAsync()
    {
        Host = await KeywardTestHost.StartAsync();
        foreach (var tenant in new[] { Acme, Globex })
        {
            Admin[tenant] = await Host.CreateTenantAsync(tenant);
            foreach (var path in Paths)
            {
                await Host.PutSecretAsync(Admin[tenant], path, new { value = Value(tenant, path) });
            }
        }
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();

    public static string Value(string tenant, string path) => $"canary-{tenant}-{path.Replace('/', '_')}";

    /// <summary>An agent session (kws_ with its root tag) of <paramref name="tenant"/> with <paramref name="rules"/>.</summary>
    public async Task<(string Token, TokenRecord Record)> SessionAsync(string tenant, IReadOnlyList<RuleSpec> rules, TimeSpan? ttl = null, string agentId = "planner")
    {
        var uid = await TenantUidAsync(tenant);
        var tokens = Host.Services.GetRequiredService<TokenService>();
        var minted = tokens.Mint(TokenKind.Agent, uid, ttl ?? TimeSpan.FromHours(1), issuedBy: null, role: "worker", agentId: agentId, runId: "run-1", rules: rules);
        await Host.Services.GetRequiredService<GroupCommitter>().ExecuteAsync(null, session => session.Tokens.InsertAsync(minted.Record));
        return minted;
    }

    public Task<(string Token, TokenRecord Record)> SessionAsync(string tenant, params (string Path, string[] Capabilities)[] rules) =>
        SessionAsync(tenant, rules.Select(r => new RuleSpec(r.Path, r.Capabilities)).ToArray());

    /// <summary>A derived token rooted at any accessor, MAC'd with the server's own K_att (what only the server can do).</summary>
    public string ForgeWithServerKey(string accessor, params Caveat[] caveats)
    {
        var key = Host.Services.GetRequiredService<KeyHierarchy>().Require().Attenuation.Bytes;
        return DerivedToken.Encode(accessor, [], DerivedToken.RootTag(key, accessor), caveats);
    }

    public async Task RevokeAsync(string accessor)
    {
        var committer = Host.Services.GetRequiredService<GroupCommitter>();
        // No bracket around it: the committer drops the token cache because the statement changed a token.
        await committer.ExecuteAsync(null, session => session.Tokens.RevokeAsync(accessor, DateTimeOffset.UtcNow));
    }

    public async Task SetTenantStateAsync(string tenant, TenantState state)
    {
        var uid = await TenantUidAsync(tenant);
        await Host.Services.GetRequiredService<GroupCommitter>().ExecuteAsync(null, session => session.Tenants.UpdateStateAsync(uid, state, DateTimeOffset.UtcNow));
    }

    public async Task<HttpResponseMessage> GetAsync(string token, string target)
    {
        using var client = Host.Client(token);
        return await client.GetAsync(target);
    }

    public async Task<HttpResponseMessage> PutAsync(string token, string path, object data)
    {
        using var client = Host.Client(token);
        return await client.PutAsJsonAsync("/v1/secrets/" + path, new { data });
    }

    private async Task<string> TenantUidAsync(string tenant)
    {
        await using var session = await Host.Store.ReadAsync();
        return (await session.Tenants.GetByIdAsync(tenant))!.Uid;
    }
}
