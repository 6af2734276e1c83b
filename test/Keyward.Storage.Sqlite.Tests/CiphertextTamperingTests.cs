using System.Net;
using Keyward.Tests.Common;

namespace Keyward.Storage.Sqlite.Tests;

/// <summary>
/// Someone who can write the database file but holds no key moves or edits ciphertext rows. Every such row must
/// fail authentication: the read answers 500 <c>undecryptable</c> and never returns another row's value.
/// </summary>
public sealed class CiphertextTamperingTests : IAsyncLifetime
{
    private KeywardTestHost _host = null!;
    private string _alpha = null!;
    private string _beta = null!;

    public async Task InitializeAsync()
    {
        _host = await KeywardTestHost.StartAsync();
        _alpha = await _host.CreateTenantAsync("alpha");
        _beta = await _host.CreateTenantAsync("beta");
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private string Data => _host.DataDirectory;

    [Fact]
    public async Task Read_CiphertextCopiedFromAnotherTenantSamePathAndVersion_IsUndecryptable()
    {
        // Arrange
        await _host.PutSecretAsync(_alpha, "app/db", new { password = "alpha-only-value" });
        await _host.PutSecretAsync(_beta, "app/db", new { password = "beta-own-value" });
        var alphaUid = TenantUid("alpha");
        var betaUid = TenantUid("beta");
        Assert.NotEqual(alphaUid, betaUid);

        // Act: beta's row now holds alpha's ciphertext, byte for byte.
        SetCiphertext(betaUid, "app/db", 1, Ciphertext(alphaUid, "app/db", 1));

        // Assert
        using var beta = _host.Client(_beta);
        var response = await beta.GetAsync("/v1/secrets/app/db");
        var text = await response.Content.ReadAsStringAsync();
        await Problems.AssertProblemAsync(response, HttpStatusCode.InternalServerError, "undecryptable");
        Assert.DoesNotContain("alpha-only-value", text, StringComparison.Ordinal);
        Assert.DoesNotContain("beta-own-value", text, StringComparison.Ordinal);

        // Alpha's own row still reads.
        using var alpha = _host.Client(_alpha);
        var read = await Problems.JsonAsync(await alpha.GetAsync("/v1/secrets/app/db"));
        Assert.Equal("alpha-only-value", read.GetProperty("data").GetProperty("password").GetString());
    }

    [Fact]
    public async Task Read_CiphertextCopiedToAnotherPath_IsUndecryptable()
    {
        await _host.PutSecretAsync(_alpha, "app/db", new { password = "db-value" });
        await _host.PutSecretAsync(_alpha, "app/other", new { password = "other-value" });
        var uid = TenantUid("alpha");

        SetCiphertext(uid, "app/other", 1, Ciphertext(uid, "app/db", 1));

        await AssertUndecryptableAsync(_alpha, "/v1/secrets/app/other", "db-value");
    }

    [Fact]
    public async Task Read_CiphertextCopiedToAnotherVersion_IsUndecryptable()
    {
        await _host.PutSecretAsync(_alpha, "app/db", new { password = "old-value" });
        await _host.PutSecretAsync(_alpha, "app/db", new { password = "new-value" });
        var uid = TenantUid("alpha");

        // A rollback attempt: the current version's row gets the old version's ciphertext.
        SetCiphertext(uid, "app/db", 2, Ciphertext(uid, "app/db", 1));

        await AssertUndecryptableAsync(_alpha, "/v1/secrets/app/db", "old-value");
        await AssertUndecryptableAsync(_alpha, "/v1/secrets/app/db?version=2", "old-value");
        using var alpha = _host.Client(_alpha);
        var first = await Problems.JsonAsync(await alpha.GetAsync("/v1/secrets/app/db?version=1"));
        Assert.Equal("old-value", first.GetProperty("data").GetProperty("password").GetString());
    }

    [Fact]
    public async Task Read_CiphertextWithAFlippedByte_IsUndecryptable()
    {
        await _host.PutSecretAsync(_alpha, "app/db", new { password = "flip-me-value" });
        var uid = TenantUid("alpha");
        var original = Ciphertext(uid, "app/db", 1);

        // Format byte, key-version header, wrapped data key (nonce, body, tag), value (nonce, body, tag).
        foreach (var position in new[] { 0, 1, 4, 5, 20, 64, 65, 80, original.Length - 17, original.Length - 1 })
        {
            var tampered = original.ToArray();
            tampered[position] ^= 0x01;
            SetCiphertext(uid, "app/db", 1, tampered);

            await AssertUndecryptableAsync(_alpha, "/v1/secrets/app/db", "flip-me-value", $"byte {position}");
        }

        SetCiphertext(uid, "app/db", 1, original);
        using var alpha = _host.Client(_alpha);
        Assert.Equal(HttpStatusCode.OK, (await alpha.GetAsync("/v1/secrets/app/db")).StatusCode);
    }

    [Fact]
    public async Task Read_CiphertextTruncatedOrEmpty_IsUndecryptable()
    {
        await _host.PutSecretAsync(_alpha, "app/db", new { password = "short-value" });
        var uid = TenantUid("alpha");
        var original = Ciphertext(uid, "app/db", 1);

        foreach (var length in new[] { original.Length - 1, 93, 65, 5, 0 })
        {
            SetCiphertext(uid, "app/db", 1, original[..length]);

            await AssertUndecryptableAsync(_alpha, "/v1/secrets/app/db", "short-value", $"length {length}");
        }
    }

    [Fact]
    public async Task Read_Undecryptable_IsAuditedAsAnError()
    {
        await _host.PutSecretAsync(_alpha, "app/db", new { password = "audited-value" });
        var uid = TenantUid("alpha");
        var tampered = Ciphertext(uid, "app/db", 1);
        tampered[^1] ^= 0xFF;
        SetCiphertext(uid, "app/db", 1, tampered);
        await AssertUndecryptableAsync(_alpha, "/v1/secrets/app/db", "audited-value");

        using var alpha = _host.Client(_alpha);
        var audit = await Problems.JsonAsync(await alpha.GetAsync("/v1/audit?limit=1000"));
        var record = audit.GetProperty("records").EnumerateArray().Last(r => r.GetProperty("operation").GetString() == "secret.read");

        Assert.Equal("error", record.GetProperty("outcome").GetString());
        Assert.Equal(500, record.GetProperty("status").GetInt32());
        Assert.Equal("app/db", record.GetProperty("path").GetString());
        Assert.DoesNotContain("audited-value", audit.GetRawText(), StringComparison.Ordinal);
    }

    private async Task AssertUndecryptableAsync(string token, string url, string mustNotAppear, string context = "")
    {
        using var client = _host.Client(token);
        var response = await client.GetAsync(url);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.InternalServerError, $"{context}: {(int)response.StatusCode} {text}");
        await Problems.AssertProblemAsync(response, HttpStatusCode.InternalServerError, "undecryptable");
        Assert.DoesNotContain(mustNotAppear, text, StringComparison.Ordinal);
    }

    private string TenantUid(string id) => (string)RawDatabase.Scalar(Data, "SELECT uid FROM tenants WHERE id = $id", ("$id", id))!;

    private byte[] Ciphertext(string uid, string path, long version) =>
        (byte[])RawDatabase.Scalar(Data, "SELECT ciphertext FROM secret_versions WHERE tenant_uid = $u AND path = $p AND version = $v", ("$u", uid), ("$p", path), ("$v", version))!;

    private void SetCiphertext(string uid, string path, long version, byte[] ciphertext) =>
        Assert.Equal(1, RawDatabase.Execute(
            Data,
            "UPDATE secret_versions SET ciphertext = $c WHERE tenant_uid = $u AND path = $p AND version = $v",
            ("$c", ciphertext), ("$u", uid), ("$p", path), ("$v", version)));
}
