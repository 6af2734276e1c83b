using Keyward.Client.Models;

namespace Keyward.Client.Tests;

public sealed class AuditTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public AuditTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task GetAuditAsync_Pages_ChainInAscendingSeqWithoutSecretValues()
    {
        var (tenant, _, client) = await _server.TenantAsync();
        using (client)
        {
            await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "never-in-audit" });
            await client.GetSecretAsync("app/db");
            await client.PutSecretAsync("app/other", new Dictionary<string, string> { ["password"] = "never-in-audit" });

            var first = await client.GetAuditAsync(new AuditQuery { Limit = 2 });
            var second = await client.GetAuditAsync(new AuditQuery { After = first.Next, Limit = 1000 });
            var records = first.Records.Concat(second.Records).ToList();

            Assert.Equal(2, first.Records.Count);
            Assert.NotNull(first.Next);
            Assert.Equal(first.Records[^1].Seq, first.Next);
            Assert.True(records.Zip(records.Skip(1)).All(p => p.First.Seq < p.Second.Seq));
            Assert.All(records, r => Assert.Equal(tenant, r.Tenant));
            Assert.Contains(records, r => r.Operation == "secret.read" && r.Path == "app/db" && r.Version == 1 && r.Status == 200);
            Assert.All(records, r => Assert.Matches("^[0-9a-f]{64}$", r.Hash));
            Assert.All(records, r => Assert.DoesNotContain("never-in-audit", r.ToString(), StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task GetAuditAsync_PathFilter_ReturnsOnlyThatPath()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["k"] = "v" });
            await client.PutSecretAsync("app/other", new Dictionary<string, string> { ["k"] = "v" });

            var page = await client.GetAuditAsync(new AuditQuery { Path = "app/other" });

            var record = Assert.Single(page.Records);
            Assert.Equal("app/other", record.Path);
            Assert.Equal("secret.write", record.Operation);
            Assert.Equal("admin", record.Actor.Kind);
            Assert.Null(page.Next);
        }
    }

    [Fact]
    public async Task GetAuditAsync_RootToken_Throws403()
    {
        using var root = _server.Client();

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => root.GetAuditAsync());

        Assert.Equal(403, error.Status);
    }
}
