using System.Net;
using System.Net.Http.Json;
using Keyward.Tests.Common;

namespace Keyward.Storage.Sqlite.Tests;

/// <summary>What the API promises to erase "for good" must not linger in the database file or its write-ahead log.</summary>
public sealed class ErasureTests : IAsyncLifetime
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
    public async Task Destroy_Version_CiphertextBytesAreInNoFile()
    {
        // Arrange
        await _host.PutSecretAsync(_admin, "app/db", new { password = "to-be-destroyed" });
        await _host.PutSecretAsync(_admin, "app/db", new { password = "kept" });
        var uid = (string)RawDatabase.Scalar(_host.DataDirectory, "SELECT uid FROM tenants WHERE id = 'acme'")!;
        var ciphertext = (byte[])RawDatabase.Scalar(
            _host.DataDirectory, "SELECT ciphertext FROM secret_versions WHERE tenant_uid = $u AND path = 'app/db' AND version = 1", ("$u", uid))!;
        Assert.NotEmpty(RawDatabase.FilesContaining(_host.DataDirectory, ciphertext));

        // Act
        using var client = _host.Client(_admin);
        Assert.Equal(HttpStatusCode.NoContent, (await client.PostAsJsonAsync("/v1/secrets/app/db/destroy", new { versions = new[] { 1 } })).StatusCode);

        // Assert
        Assert.Null(RawDatabase.Scalar(
            _host.DataDirectory, "SELECT ciphertext FROM secret_versions WHERE tenant_uid = $u AND path = 'app/db' AND version = 1", ("$u", uid)) as byte[]);
        var files = RawDatabase.FilesContaining(_host.DataDirectory, ciphertext);
        Assert.True(files.Count == 0, "the destroyed ciphertext is still in " + string.Join(", ", files));
    }
}
