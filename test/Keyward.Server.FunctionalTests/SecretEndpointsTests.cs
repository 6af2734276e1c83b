using System.Net;
using System.Net.Http.Json;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests;

public sealed class SecretEndpointsTests : IAsyncLifetime
{
    private KeywardTestHost _host = null!;
    private string _admin = null!;

    public async Task InitializeAsync()
    {
        _host = await KeywardTestHost.StartAsync();
        _admin = await _host.CreateTenantAsync("acme");
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Put_ThenGet_ReturnsDataAndVersion()
    {
        using var client = _host.Client(_admin);
        var write = await Problems.JsonAsync(await client.PutAsJsonAsync("/v1/secrets/app/db", new { data = new { password = "p1" } }));
        Assert.Equal(1, write.GetProperty("version").GetInt64());

        var read = await Problems.JsonAsync(await client.GetAsync("/v1/secrets/app/db"));
        Assert.Equal("app/db", read.GetProperty("path").GetString());
        Assert.Equal(1, read.GetProperty("version").GetInt64());
        Assert.Equal("p1", read.GetProperty("data").GetProperty("password").GetString());
    }

    [Fact]
    public async Task Get_EncodedSlashInTarget_IsInvalidPath()
    {
        using var client = _host.Client(_admin);
        var response = await client.GetAsync("/v1/secrets/app%2Fdb");
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_path");
    }

    [Theory]
    [InlineData("DELETE", "/v1/secrets/app/db?versions=1,7")]
    [InlineData("POST", "/v1/secrets/app/db/undelete")]
    [InlineData("POST", "/v1/secrets/app/db/destroy")]
    public async Task VersionChange_NamingAVersionThatDoesNotExist_Is404AndChangesNothing(string method, string target)
    {
        using var client = _host.Client(_admin);
        await _host.PutSecretAsync(_admin, "app/db", new { password = "p1" });
        using var request = new HttpRequestMessage(new HttpMethod(method), target);
        if (method == "POST")
        {
            request.Content = JsonContent.Create(new { versions = new[] { 1, 7 } });
        }

        await Problems.AssertProblemAsync(await client.SendAsync(request), HttpStatusCode.NotFound, "version_not_found");

        var metadata = await Problems.JsonAsync(await client.GetAsync("/v1/secret-metadata/app/db"));
        Assert.Equal("active", metadata.GetProperty("versions")[0].GetProperty("state").GetString());
        var read = await Problems.JsonAsync(await client.GetAsync("/v1/secrets/app/db"));
        Assert.Equal("p1", read.GetProperty("data").GetProperty("password").GetString());
    }
}
