using System.Security.Cryptography;
using Keyward.Core.Auth.Jwt;
using Keyward.Core.Tokens;

namespace Keyward.Storage.Conformance;

public abstract partial class StoreConformanceTests
{
    private static JwtIssuer NewJwtIssuer(string tenantUid, string name, string issuer, string node) => new(
        tenantUid,
        name,
        node,
        issuer,
        [
            new JwtKey("RSA", "RS256", "rsa-1", "thumb-rsa", N: "bW9kdWx1cw", E: "AQAB"),
            new JwtKey("EC", "ES256", null, "thumb-ec", Crv: "P-256", X: "eA", Y: "eQ"),
        ],
        ["keyward", "sts.example"],
        [
            new JwtBinding("reader", "system:serviceaccount:ci:*", null, RunIdClaim: "pipeline_id"),
            new JwtBinding("writer", null, new Dictionary<string, string> { ["groups"] = "deployers", ["env"] = "prod-*" }),
        ],
        TimeSpan.FromSeconds(45),
        T0,
        T0.AddMinutes(1));

    [Fact]
    public async Task JwtIssuers_Upsert_RoundTripsEveryFieldByNameAndIssuer()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var issuer = NewJwtIssuer(tenant.Uid, "k8s", "https://k8s.example", "jwt_1");

        await WriteAsync(store, s => s.JwtIssuers.UpsertAsync(issuer));

        foreach (var stored in new[]
        {
            await ReadAsync(store, s => s.JwtIssuers.GetAsync(tenant.Uid, "k8s")),
            await ReadAsync(store, s => s.JwtIssuers.GetByIssuerAsync(tenant.Uid, "https://k8s.example")),
            (await ReadAsync(store, s => s.JwtIssuers.ListAsync(tenant.Uid))).Single(),
        })
        {
            Assert.NotNull(stored);
            Assert.Equal((issuer.TenantUid, issuer.Name, issuer.NodeId, issuer.Issuer, issuer.ClockSkew, issuer.CreatedAt, issuer.UpdatedAt),
                (stored.TenantUid, stored.Name, stored.NodeId, stored.Issuer, stored.ClockSkew, stored.CreatedAt, stored.UpdatedAt));
            Assert.Equal(issuer.Keys, stored.Keys);
            Assert.Equal(issuer.Audiences, stored.Audiences);
            Assert.Equal(2, stored.Bindings.Count);
            Assert.Equal(("reader", "system:serviceaccount:ci:*"), (stored.Bindings[0].Role, stored.Bindings[0].Subject));
            Assert.Null(stored.Bindings[0].Claims);
            Assert.Equal(("pipeline_id", null), (stored.Bindings[0].RunIdClaim, stored.Bindings[1].RunIdClaim));
            Assert.Equal(issuer.Bindings[1].Claims, stored.Bindings[1].Claims);
        }
    }

    [Fact]
    public async Task JwtIssuers_AreScopedToTheirTenantAndIssuerMatchIsExact()
    {
        var store = await NewStoreAsync();
        var acme = await AddTenantAsync(store, "acme");
        var globex = await AddTenantAsync(store, "globex");
        await WriteAsync(store, s => s.JwtIssuers.UpsertAsync(NewJwtIssuer(acme.Uid, "k8s", "https://k8s.example", "jwt_a")));

        Assert.Null(await ReadAsync(store, s => s.JwtIssuers.GetAsync(globex.Uid, "k8s")));
        Assert.Null(await ReadAsync(store, s => s.JwtIssuers.GetByIssuerAsync(globex.Uid, "https://k8s.example")));
        Assert.Empty(await ReadAsync(store, s => s.JwtIssuers.ListAsync(globex.Uid)));
        Assert.Null(await ReadAsync(store, s => s.JwtIssuers.GetByIssuerAsync(acme.Uid, "https://k8s.example/")));
        Assert.Null(await ReadAsync(store, s => s.JwtIssuers.GetByIssuerAsync(acme.Uid, "HTTPS://K8S.EXAMPLE")));
    }

    [Fact]
    public async Task JwtIssuers_UpsertExisting_KeepsNodeAndCreatedAt()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var original = NewJwtIssuer(tenant.Uid, "k8s", "https://k8s.example", "jwt_keep");
        await WriteAsync(store, s => s.JwtIssuers.UpsertAsync(original));

        await WriteAsync(store, s => s.JwtIssuers.UpsertAsync(original with
        {
            NodeId = "jwt_other", Issuer = "https://new.example", CreatedAt = T0.AddDays(1), UpdatedAt = T0.AddDays(1), Audiences = ["x"],
        }));

        var stored = await ReadAsync(store, s => s.JwtIssuers.GetAsync(tenant.Uid, "k8s"));
        Assert.NotNull(stored);
        Assert.Equal(("jwt_keep", T0, T0.AddDays(1), "https://new.example"), (stored.NodeId, stored.CreatedAt, stored.UpdatedAt, stored.Issuer));
        Assert.Equal(["x"], stored.Audiences);
    }

    [Fact]
    public async Task JwtIssuers_TwoRegistrationsForOneIssuerInATenant_Refused()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        await WriteAsync(store, s => s.JwtIssuers.UpsertAsync(NewJwtIssuer(tenant.Uid, "one", "https://k8s.example", "jwt_1")));

        Assert.True(await IsRefusedAsync(store, s => s.JwtIssuers.UpsertAsync(NewJwtIssuer(tenant.Uid, "two", "https://k8s.example", "jwt_2"))));
    }

    [Fact]
    public async Task JwtIssuers_Delete_ReturnsItsNodeOnce_TheNodesSubtreeRevokesWithIt()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        await WriteAsync(store, s => s.JwtIssuers.UpsertAsync(NewJwtIssuer(tenant.Uid, "k8s", "https://k8s.example", "jwt_node")));
        var child = Child("c1", tenant.Uid, "jwt_node", revokedAt: null);
        var grandchild = Child("c4", tenant.Uid, "c1", revokedAt: null);
        var alreadyRevoked = Child("c2", tenant.Uid, "jwt_node", revokedAt: T0.AddSeconds(5));
        var unrelated = Child("c3", tenant.Uid, "jwt_elsewhere", revokedAt: null);
        await WriteAsync(store, async s =>
        {
            await s.Tokens.InsertAsync(child);
            await s.Tokens.InsertAsync(grandchild);
            await s.Tokens.InsertAsync(alreadyRevoked);
            await s.Tokens.InsertAsync(unrelated);
        });

        var node = await WriteAsync(store, s => s.JwtIssuers.DeleteAsync(tenant.Uid, "k8s"));
        var again = await WriteAsync(store, s => s.JwtIssuers.DeleteAsync(tenant.Uid, "k8s"));
        var revoked = await WriteAsync(store, s => s.Tokens.RevokeSubtreeAsync(node!, T0.AddMinutes(2), RevocationReasons.IssuerDeleted));

        Assert.Equal("jwt_node", node);
        Assert.Null(again);
        Assert.Equal(2, revoked);
        Assert.Null(await ReadAsync(store, s => s.JwtIssuers.GetAsync(tenant.Uid, "k8s")));
        Assert.Equal(T0.AddMinutes(2), (await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("c1")))!.RevokedAt);
        Assert.Equal(T0.AddMinutes(2), (await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("c4")))!.RevokedAt);
        Assert.Equal(T0.AddSeconds(5), (await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("c2")))!.RevokedAt);
        Assert.Null((await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("c3")))!.RevokedAt);
    }

    private static TokenRecord Child(string accessor, string tenantUid, string parent, DateTimeOffset? revokedAt) => new(
        accessor, SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(accessor)), TokenKind.Agent, tenantUid, parent, parent, null, "reader",
        null, null, null, T0, T0.AddHours(1), revokedAt);
}
