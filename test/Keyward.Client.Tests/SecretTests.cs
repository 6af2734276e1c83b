using System.Text.Json;

namespace Keyward.Client.Tests;

public sealed class SecretTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public SecretTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task PutSecretAsync_Dictionary_ThenGet_ReturnsData()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            var written = await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["user"] = "app", ["password"] = "p1" });
            var read = await client.GetSecretAsync("app/db");

            Assert.Equal(1, written.Version);
            Assert.Equal("app/db", read.Path);
            Assert.Equal(1, read.Version);
            Assert.Equal("p1", read.Data.GetProperty("password").GetString());
            Assert.True(read.TryGetField("user", out var user));
            Assert.Equal("app", user.GetString());
            Assert.False(read.TryGetField("missing", out _));
        }
    }

    [Fact]
    public async Task PutSecretAsync_JsonElement_KeepsTypes()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            using var data = JsonDocument.Parse("""{"port":5432,"tls":true,"hosts":["a","b"]}""");

            await client.PutSecretAsync("svc/pg", data.RootElement);
            var read = await client.GetSecretAsync("svc/pg");

            Assert.Equal(5432, read.Data.GetProperty("port").GetInt32());
            Assert.True(read.Data.GetProperty("tls").GetBoolean());
            Assert.Equal(2, read.Data.GetProperty("hosts").GetArrayLength());
        }
    }

    [Fact]
    public async Task PutSecretAsync_JsonElementNotAnObject_ThrowsArgumentException()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            using var data = JsonDocument.Parse("[1,2]");

            await Assert.ThrowsAsync<ArgumentException>(() => client.PutSecretAsync("a", data.RootElement));
        }
    }

    [Fact]
    public async Task PutSecretAsync_CasMatches_WritesNextVersion_CasMismatch_Throws409()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            var first = await client.PutSecretAsync("app/key", new Dictionary<string, string> { ["v"] = "1" }, cas: 0);
            var second = await client.PutSecretAsync("app/key", new Dictionary<string, string> { ["v"] = "2" }, cas: 1);

            var error = await Clients.FailsAsync(() => client.PutSecretAsync("app/key", new Dictionary<string, string> { ["v"] = "3" }, cas: 1), 409, "cas_mismatch");

            Assert.Equal(1, first.Version);
            Assert.Equal(2, second.Version);
            Assert.DoesNotContain("\"3\"", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task PutSecretAsync_ReservedPath_Throws400ReservedPath()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            await Clients.FailsAsync(() => client.PutSecretAsync("app/destroy", new Dictionary<string, string> { ["v"] = "1" }), 400, "reserved_path");
        }
    }

    [Fact]
    public async Task GetSecretAsync_OlderVersion_ReturnsIt_UnknownPath_Throws404()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "old" });
            await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "new" });

            var old = await client.GetSecretAsync("app/db", version: 1);

            Assert.Equal("old", old.Data.GetProperty("password").GetString());
            Assert.Equal("new", (await client.GetSecretAsync("app/db")).Data.GetProperty("password").GetString());
            await Clients.FailsAsync(() => client.GetSecretAsync("app/none"), 404, "secret_not_found");
        }
    }

    [Fact]
    public async Task ListSecretsAsync_Prefix_ReturnsOnlyNamesUnderIt()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["k"] = "v" });
            await client.PutSecretAsync("app/cache", new Dictionary<string, string> { ["k"] = "v" });
            await client.PutSecretAsync("other/x", new Dictionary<string, string> { ["k"] = "v" });

            var all = await client.ListSecretsAsync();
            var app = await client.ListSecretsAsync("app");

            Assert.Equal(3, all.Count);
            Assert.Equal(2, app.Count);
            Assert.All(app, k => Assert.Contains("app", k, StringComparison.Ordinal));
            Assert.DoesNotContain(app, k => k.Contains("other", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task SecretMetadata_PutThenGet_ReturnsSettingsAndVersions()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["k"] = "1" });
            await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["k"] = "2" });

            await client.UpdateSecretMetadataAsync("app/db", maxVersions: 5, customMetadata: new Dictionary<string, string> { ["owner"] = "team-a" });
            var metadata = await client.GetSecretMetadataAsync("app/db");

            Assert.Equal("app/db", metadata.Path);
            Assert.Equal(2, metadata.CurrentVersion);
            Assert.Equal(5, metadata.MaxVersions);
            Assert.Equal("team-a", metadata.CustomMetadata["owner"]);
            Assert.Equal([1L, 2L], metadata.Versions.Select(v => v.Version).Order());
            Assert.All(metadata.Versions, v => Assert.Equal("active", v.State));
        }
    }

    [Fact]
    public async Task UpdateSecretMetadataAsync_MaxVersionsOutOfRange_Throws400()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["k"] = "1" });

            var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => client.UpdateSecretMetadataAsync("app/db", maxVersions: 0));

            Assert.Equal(400, error.Status);
        }
    }

    [Fact]
    public async Task DeleteUndeleteDestroy_Lifecycle_ChangesWhatGetReturns()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["k"] = "1" });
            await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["k"] = "2" });

            await client.DeleteSecretAsync("app/db");
            await Clients.FailsAsync(() => client.GetSecretAsync("app/db"), 404, "secret_deleted");

            await client.UndeleteSecretAsync("app/db", [2]);
            Assert.Equal("2", (await client.GetSecretAsync("app/db")).Data.GetProperty("k").GetString());

            await client.DeleteSecretAsync("app/db", [1]);
            await client.DestroySecretAsync("app/db", [2]);
            var metadata = await client.GetSecretMetadataAsync("app/db");

            Assert.Equal("deleted", metadata.Versions.Single(v => v.Version == 1).State);
            Assert.Equal("destroyed", metadata.Versions.Single(v => v.Version == 2).State);
            var destroyed = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => client.GetSecretAsync("app/db", 2));
            Assert.Equal(404, destroyed.Status);
        }
    }

    [Fact]
    public async Task DeleteSecretMetadataAsync_Existing_RemovesThePath()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["k"] = "1" });

            await client.DeleteSecretMetadataAsync("app/db");

            await Clients.FailsAsync(() => client.GetSecretMetadataAsync("app/db"), 404, "secret_not_found");
            Assert.Empty(await client.ListSecretsAsync());
            await Clients.FailsAsync(() => client.DeleteSecretMetadataAsync("app/db"), 404, "secret_not_found");
        }
    }

    [Fact]
    public async Task UndeleteSecretAsync_UnknownPath_Throws404()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => client.UndeleteSecretAsync("app/ghost", [1]));

            Assert.Equal(404, error.Status);
        }
    }

    [Fact]
    public async Task SecretRoutes_RootToken_Throw403TenantTokenRequired()
    {
        using var root = _server.Client();

        await Clients.FailsAsync(() => root.GetSecretAsync("app/db"), 403, "tenant_token_required");
    }

    [Fact]
    public async Task SecretRoutes_OtherTenantsPath_IsInvisible()
    {
        var (_, _, first) = await _server.TenantAsync();
        var (_, _, second) = await _server.TenantAsync();
        using (first)
        using (second)
        {
            await first.PutSecretAsync("app/db", new Dictionary<string, string> { ["k"] = "mine" });

            await Clients.FailsAsync(() => second.GetSecretAsync("app/db"), 404, "secret_not_found");
        }
    }
}
