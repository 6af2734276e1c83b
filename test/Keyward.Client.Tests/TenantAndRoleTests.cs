using Keyward.Client.Models;
using Keyward.Tests.Common;

namespace Keyward.Client.Tests;

public sealed class TenantAndRoleTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public TenantAndRoleTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task CreateTenantAsync_NewId_ReturnsTenantThatGetAndListShow()
    {
        using var root = _server.Client();
        var id = Clients.NewTenantId();

        var created = await root.CreateTenantAsync(id, "Acme Corp");
        var fetched = await root.GetTenantAsync(id);
        var all = await root.ListTenantsAsync();

        Assert.Equal(id, created.Id);
        Assert.Equal("Acme Corp", created.Name);
        Assert.Equal("active", created.State);
        Assert.Equal(created.CreatedAt, fetched.CreatedAt);
        Assert.Contains(all, t => t.Id == id && t.Name == "Acme Corp");
    }

    [Fact]
    public async Task CreateTenantAsync_UsedId_Throws409TenantExists()
    {
        using var root = _server.Client();
        var id = Clients.NewTenantId();
        await root.CreateTenantAsync(id);

        await Clients.FailsAsync(() => root.CreateTenantAsync(id), 409, "tenant_exists");
    }

    [Fact]
    public async Task CreateTenantAsync_InvalidId_Throws400()
    {
        using var root = _server.Client();

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => root.CreateTenantAsync("Not_Valid"));

        Assert.Equal(400, error.Status);
        Assert.False(string.IsNullOrEmpty(error.ErrorCode));
    }

    [Fact]
    public async Task GetTenantAsync_Unknown_Throws404TenantNotFound()
    {
        using var root = _server.Client();

        await Clients.FailsAsync(() => root.GetTenantAsync("no-such-tenant"), 404, "tenant_not_found");
    }

    [Fact]
    public async Task DeleteTenantAsync_Existing_OffboardsAndRetiresTheId()
    {
        using var root = _server.Client();
        var id = Clients.NewTenantId();
        var admin = await _server.Host.CreateTenantAsync(id);

        var outcome = await root.DeleteTenantAsync(id);

        Assert.Equal(TenantDeletion.Completed, outcome);
        using var revoked = _server.Client(admin);
        await Clients.FailsAsync(() => revoked.ListSecretsAsync(), 401, "token_revoked");
        await Assert.ThrowsAsync<KeywardRequestFailedException>(() => root.CreateTenantAsync(id));
    }

    [Fact]
    public async Task CreateTenantTokenAsync_AdminAndOrchestrator_ReturnPrefixedTokensWithExpiry()
    {
        using var root = _server.Client();
        var id = Clients.NewTenantId();
        await root.CreateTenantAsync(id);

        var admin = await root.CreateTenantTokenAsync(id, TenantTokenKind.Admin, TimeSpan.FromMinutes(10), "ci");
        var orchestrator = await root.CreateTenantTokenAsync(id, TenantTokenKind.Orchestrator);

        Assert.StartsWith("kwa_", admin.Token, StringComparison.Ordinal);
        Assert.StartsWith("kwo_", orchestrator.Token, StringComparison.Ordinal);
        Assert.Equal("admin", admin.Kind);
        Assert.Equal(id, admin.Tenant);
        Assert.False(string.IsNullOrEmpty(admin.Accessor));
        Assert.InRange(admin.ExpiresAt!.Value, DateTimeOffset.UtcNow.AddMinutes(9), DateTimeOffset.UtcNow.AddMinutes(11));
        using var asAdmin = _server.Client(admin.Token);
        Assert.Empty(await asAdmin.ListSecretsAsync());
    }

    [Fact]
    public async Task CreateTenantTokenAsync_TtlBeyond30Days_Throws400()
    {
        using var root = _server.Client();
        var id = Clients.NewTenantId();
        await root.CreateTenantAsync(id);

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => root.CreateTenantTokenAsync(id, TenantTokenKind.Admin, TimeSpan.FromDays(31)));

        Assert.Equal(400, error.Status);
    }

    [Fact]
    public async Task RotateKeyAndRewrap_WithOldVersions_JobCompletes()
    {
        using var root = _server.Client();
        var (id, _, admin) = await _server.TenantAsync();
        using (admin)
        {
            await admin.PutSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "v1" });
            await admin.PutSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "v2" });

            var keyVersion = await root.RotateTenantKeyAsync(id);
            var job = await root.StartRewrapAsync(id);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (!job.IsFinished && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
                job = await root.GetRewrapJobAsync(id, job.JobId);
            }

            Assert.Equal(2, keyVersion);
            Assert.True(job.Succeeded, $"job ended {job.State}");
            Assert.Equal(2, job.Total);
            Assert.Equal(2, job.Done);
            Assert.Equal(0, job.Failed);
            Assert.Equal(2, job.KeyVersion);
            Assert.Equal("v1", (await admin.GetSecretAsync("app/db", 1)).Data.GetProperty("password").GetString());
        }
    }

    [Fact]
    public async Task GetRewrapJobAsync_UnknownJob_Throws404()
    {
        using var root = _server.Client();
        var (id, _, admin) = await _server.TenantAsync();
        admin.Dispose();

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => root.GetRewrapJobAsync(id, "job_0000000000000000"));

        Assert.Equal(404, error.Status);
    }

    [Fact]
    public async Task TenantRoutes_TenantAdminToken_Throw403()
    {
        var (_, _, admin) = await _server.TenantAsync();
        using (admin)
        {
            var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => admin.ListTenantsAsync());

            Assert.Equal(403, error.Status);
        }
    }

    [Fact]
    public async Task Routes_WrongOrMissingToken_Throw401WithoutTheToken()
    {
        const string Wrong = "kwa_this-token-does-not-exist-0123456789abcdef";
        using var wrong = _server.Client(Wrong);
        using var none = _server.Client(null);

        var bad = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => wrong.ListTenantsAsync());
        var missing = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => none.ListSecretsAsync());

        Assert.Equal(401, bad.Status);
        Assert.Equal(401, missing.Status);
        Assert.Equal("missing_token", missing.ErrorCode);
        Assert.DoesNotContain(Wrong, bad.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Wrong, bad.ToString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(bad.RequestId));
    }

    [Fact]
    public async Task Roles_PutGetListDelete_RoundTrip()
    {
        var (_, _, admin) = await _server.TenantAsync();
        using (admin)
        {
            var put = await admin.PutRoleAsync(
                "reader", [new RoleRule("app/**", ["read", "list"]), new RoleRule("shared/*", ["use"])], TimeSpan.FromHours(1), ["helper"]);
            var got = await admin.GetRoleAsync("reader");
            var list = await admin.ListRolesAsync();
            await admin.DeleteRoleAsync("reader");

            Assert.Equal("reader", put.Name);
            Assert.Equal(TimeSpan.FromHours(1), got.MaxTtl);
            Assert.Equal(["helper"], got.MaySpawn);
            Assert.Equal(2, got.Rules.Count);
            Assert.Equal("app/**", got.Rules[0].Path);
            Assert.Equal(["list", "read"], got.Rules[0].Capabilities.Order(StringComparer.Ordinal));
            Assert.Contains(list, r => r.Name == "reader");
            await Clients.FailsAsync(() => admin.GetRoleAsync("reader"), 404, "role_not_found");
        }
    }

    [Fact]
    public async Task PutRoleAsync_InvalidRule_Throws400()
    {
        var (_, _, admin) = await _server.TenantAsync();
        using (admin)
        {
            var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() =>
                admin.PutRoleAsync("bad", [new RoleRule("app/**/x", ["read"])], TimeSpan.FromHours(1)));

            Assert.Equal(400, error.Status);
        }
    }

    [Fact]
    public async Task DeleteRoleAsync_Unknown_Throws404()
    {
        var (_, _, admin) = await _server.TenantAsync();
        using (admin)
        {
            await Clients.FailsAsync(() => admin.DeleteRoleAsync("ghost"), 404, "role_not_found");
        }
    }

    [Fact]
    public async Task RoleRoutes_RootToken_Throw403()
    {
        using var root = _server.Client(KeywardTestHost.RootToken);

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => root.ListRolesAsync());

        Assert.Equal(403, error.Status);
    }
}
