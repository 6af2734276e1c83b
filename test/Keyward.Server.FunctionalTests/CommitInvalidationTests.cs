using System.Net;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests;

/// <summary>
/// Caches are invalidated by the commit, not by callers: a change committed through the group committer with no
/// bracket, no service and no explicit invalidation — the way a new write path would be written — is seen by the very
/// next request, though that request's token, tenant and secret row were cached a moment before.
/// </summary>
public sealed class CommitInvalidationTests : IAsyncLifetime
{
    private KeywardTestHost _host = null!;
    private AgentWorld _world = null!;

    public async Task InitializeAsync()
    {
        _host = await KeywardTestHost.StartAsync();
        _world = await AgentWorld.CreateAsync(_host, "acme");
        await _host.PutSecretAsync(_world.Admin, "apps/web/db", new { password = "one" });
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private GroupCommitter Committer => _host.Services.GetRequiredService<GroupCommitter>();

    private async Task<string> TenantUidAsync()
    {
        await using var session = await _host.Store.ReadAsync();
        return (await session.Tenants.GetByIdAsync("acme"))!.Uid;
    }

    [Fact]
    public async Task ATokenRevokedByAWritePathWithoutABracket_IsRefusedAtOnce()
    {
        var agent = await _world.StartAgentAsync("a1", "run-1", "worker");
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(agent.Token, "apps/web/db"));

        await Committer.ExecuteAsync(null, s => s.Tokens.RevokeAsync(agent.Accessor, DateTimeOffset.UtcNow));

        Assert.Equal(HttpStatusCode.Unauthorized, await _world.ReadStatusAsync(agent.Token, "apps/web/db"));
    }

    [Fact]
    public async Task ASecretChangedByAWritePathWithoutABracket_IsNotServedFromTheCachedRow()
    {
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(_world.Admin, "apps/web/db"));
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(_world.Admin, "apps/web/db"));
        var uid = await TenantUidAsync();

        await Committer.ExecuteAsync(null, s => s.Secrets.SetDeletedAsync(uid, "apps/web/db", [1], DateTimeOffset.UtcNow));

        using var response = await _world.GetAsync(_world.Admin, "/v1/secrets/apps/web/db");
        await Problems.AssertProblemAsync(response, HttpStatusCode.NotFound, "secret_deleted");
    }

    [Fact]
    public async Task ATenantLockedByAWritePathWithoutABracket_Answers423AtOnce()
    {
        Assert.Equal(HttpStatusCode.OK, await _world.ReadStatusAsync(_world.Admin, "apps/web/db"));
        var uid = await TenantUidAsync();

        await Committer.ExecuteAsync(null, s => s.Tenants.UpdateStateAsync(uid, TenantState.Locked, DateTimeOffset.UtcNow));

        Assert.Equal(HttpStatusCode.Locked, await _world.ReadStatusAsync(_world.Admin, "apps/web/db"));
    }
}
