using System.Net;
using System.Net.Http.Json;
using Keyward.Core.Seal;
using Keyward.Crypto.Envelope;
using Keyward.Crypto.Keys;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Storage.Sqlite.Tests;

/// <summary>Tenant keys at the storage level: offboarding shreds them for good; rotation and rewrap keep every version readable.</summary>
public sealed class TenantKeyLifecycleTests : IAsyncLifetime
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
    public async Task DeleteTenant_CiphertextsRemainButNoKeyLeftCanOpenThem()
    {
        // Arrange
        await _host.PutSecretAsync(_alpha, "app/db", new { password = "alpha-db" });
        await _host.PutSecretAsync(_alpha, "app/db", new { password = "alpha-db-2" });
        await _host.PutSecretAsync(_alpha, "app/api", new { key = "alpha-api" });
        await _host.PutSecretAsync(_beta, "app/db", new { password = "beta-db" });
        using (var root = _host.Client())
        {
            (await root.PostAsync("/v1/tenants/beta/rotate-key", null)).EnsureSuccessStatusCode(); // more keys left over to try
        }

        var alphaUid = Uid("alpha");
        var alphaWrappedKeys = RawDatabase.Rows(Data, "SELECT wrapped_key FROM tenant_keys WHERE tenant_uid = $u", ("$u", alphaUid)).Select(r => (byte[])r[0]!).ToList();
        Assert.Single(alphaWrappedKeys);

        // Act
        using (var root = _host.Client())
        {
            Assert.Equal(HttpStatusCode.NoContent, (await root.DeleteAsync("/v1/tenants/alpha")).StatusCode);
        }

        // Assert: the key rows are gone, the ciphertext rows are not.
        Assert.Equal(0L, RawDatabase.Scalar(Data, "SELECT COUNT(*) FROM tenant_keys WHERE tenant_uid = $u", ("$u", alphaUid)));
        var ciphertexts = RawDatabase.Rows(Data, "SELECT path, version, ciphertext FROM secret_versions WHERE tenant_uid = $u", ("$u", alphaUid));
        Assert.Equal(3, ciphertexts.Count);
        Assert.All(ciphertexts, row => Assert.NotNull(row[2]));
        Assert.Empty(RawDatabase.FilesContaining(Data, alphaWrappedKeys[0]));

        // No key that remains — any tenant's key, any root-derived key, the root key itself — opens them.
        var rootKey = _host.Services.GetRequiredService<KeyHierarchy>().Require();
        var candidates = new List<SecretKey>
        {
            SecretKey.Import(rootKey.Material),
            SecretKey.Import(rootKey.TenantKeyWrapping.Bytes),
            SecretKey.Import(rootKey.AuditChain.Bytes),
            SecretKey.Import(rootKey.AuditCheckpoint.Bytes),
            SecretKey.Import(rootKey.AuditIdentifiers.Bytes),
        };
        var remaining = RawDatabase.Rows(Data, "SELECT tenant_uid, version, wrapped_key FROM tenant_keys");
        Assert.Equal(2, remaining.Count); // beta's versions 1 and 2
        foreach (var row in remaining)
        {
            var (uid, version, wrapped) = ((string)row[0]!, (int)(long)row[1]!, (byte[])row[2]!);
            candidates.Add(KeyWrapper.Unwrap(rootKey.TenantKeyWrapping, wrapped, uid, version));
            Assert.Throws<EnvelopeException>(() => KeyWrapper.Unwrap(rootKey.TenantKeyWrapping, wrapped, alphaUid, version));
        }

        var attempts = 0;
        foreach (var row in ciphertexts)
        {
            var (path, version, ciphertext) = ((string)row[0]!, (long)row[1]!, (byte[])row[2]!);
            var context = EnvelopeContext.ForSecret(alphaUid, path, version);
            foreach (var candidate in candidates)
            {
                using var ring = new KeyRing(new Dictionary<int, SecretKey> { [SecretEnvelope.ReadKeyVersion(ciphertext)] = SecretKey.Import(candidate.Bytes) });
                Assert.Throws<EnvelopeException>(() => SecretEnvelope.Decrypt(ring, context, ciphertext));
                attempts++;
            }
        }

        Assert.Equal(3 * 7, attempts);
        candidates.ForEach(k => k.Dispose());

        // Through the API: alpha's token is dead, the id is retired, beta is untouched.
        using var alpha = _host.Client(_alpha);
        await Problems.AssertProblemAsync(await alpha.GetAsync("/v1/secrets/app/db"), HttpStatusCode.Unauthorized, "token_revoked");
        using var rootClient = _host.Client();
        var tenant = await Problems.JsonAsync(await rootClient.GetAsync("/v1/tenants/alpha"));
        Assert.Equal("retired", tenant.GetProperty("state").GetString());
        await Problems.AssertProblemAsync(await rootClient.PostAsJsonAsync("/v1/tenants", new { id = "alpha" }), HttpStatusCode.Conflict, "tenant_id_retired");
        using var beta = _host.Client(_beta);
        var read = await Problems.JsonAsync(await beta.GetAsync("/v1/secrets/app/db"));
        Assert.Equal("beta-db", read.GetProperty("data").GetProperty("password").GetString());
    }

    [Fact]
    public async Task RotateThenRewrap_OldVersionsStayReadableAndEveryRowEndsUnderTheNewestKey()
    {
        // Arrange: versions under key 1, one of them destroyed.
        await _host.PutSecretAsync(_alpha, "app/a", new { v = "a1" });
        await _host.PutSecretAsync(_alpha, "app/b", new { v = "b1" });
        await _host.PutSecretAsync(_alpha, "app/b", new { v = "b2" });
        await _host.PutSecretAsync(_alpha, "app/c", new { v = "c1" });
        await _host.PutSecretAsync(_beta, "app/a", new { v = "beta-a1" });
        using var alpha = _host.Client(_alpha);
        using var root = _host.Client();
        Assert.Equal(HttpStatusCode.NoContent, (await alpha.PostAsJsonAsync("/v1/secrets/app/c/destroy", new { versions = new[] { 1 } })).StatusCode);
        var uid = Uid("alpha");

        // Act 1: rotate, then write under the new key.
        var rotated = await Problems.JsonAsync(await root.PostAsync("/v1/tenants/alpha/rotate-key", null));
        Assert.Equal(2, rotated.GetProperty("key_version").GetInt32());
        await _host.PutSecretAsync(_alpha, "app/a", new { v = "a2" });
        await _host.PutSecretAsync(_alpha, "app/d", new { v = "d1" });

        // Assert 1: old and new versions side by side, each readable.
        Assert.Equal(1, KeyVersion(uid, "app/a", 1));
        Assert.Equal(2, KeyVersion(uid, "app/a", 2));
        Assert.Equal(2, KeyVersion(uid, "app/d", 1));
        await AssertValuesAsync(alpha);
        var before = Ciphertexts(uid);

        // Act 2: rewrap and wait for the job.
        var job = await RewrapAsync(root, "alpha");

        // Assert 2
        Assert.Equal(("completed", 3L, 0L, 2), (job.GetProperty("state").GetString(), job.GetProperty("done").GetInt64(), job.GetProperty("failed").GetInt64(), job.GetProperty("key_version").GetInt32()));
        var after = Ciphertexts(uid);
        Assert.All(after.Where(r => r.Ciphertext is not null), r =>
        {
            Assert.Equal(2, r.KeyVersion);
            Assert.Equal(2, SecretEnvelope.ReadKeyVersion(r.Ciphertext));
        });
        Assert.Null(after.Single(r => r.Path == "app/c").Ciphertext);
        Assert.NotEqual(before.Single(r => r.Path == "app/a" && r.Version == 1).Ciphertext, after.Single(r => r.Path == "app/a" && r.Version == 1).Ciphertext);
        Assert.Equal(before.Single(r => r.Path == "app/d").Ciphertext, after.Single(r => r.Path == "app/d").Ciphertext);
        await AssertValuesAsync(alpha);
        Assert.Equal(1, KeyVersion(Uid("beta"), "app/a", 1)); // another tenant's rows are not touched

        // Act 3: a second rotation and rewrap moves everything again.
        Assert.Equal(3, (await Problems.JsonAsync(await root.PostAsync("/v1/tenants/alpha/rotate-key", null))).GetProperty("key_version").GetInt32());
        var second = await RewrapAsync(root, "alpha");
        Assert.Equal(("completed", 5L), (second.GetProperty("state").GetString(), second.GetProperty("done").GetInt64()));
        Assert.All(Ciphertexts(uid).Where(r => r.Ciphertext is not null), r => Assert.Equal(3, r.KeyVersion));
        await AssertValuesAsync(alpha);

        // A job is visible only under its own tenant.
        await Problems.AssertProblemAsync(
            await root.GetAsync($"/v1/tenants/beta/rewrap/{second.GetProperty("job_id").GetString()}"), HttpStatusCode.NotFound, "job_not_found");
    }

    private static async Task AssertValuesAsync(HttpClient alpha)
    {
        foreach (var (url, expected) in new[]
        {
            ("/v1/secrets/app/a?version=1", "a1"), ("/v1/secrets/app/a", "a2"), ("/v1/secrets/app/b?version=1", "b1"),
            ("/v1/secrets/app/b", "b2"), ("/v1/secrets/app/d", "d1"),
        })
        {
            var read = await Problems.JsonAsync(await alpha.GetAsync(url));
            Assert.Equal(expected, read.GetProperty("data").GetProperty("v").GetString());
        }

        Assert.Equal(HttpStatusCode.NotFound, (await alpha.GetAsync("/v1/secrets/app/c?version=1")).StatusCode);
    }

    private static async Task<System.Text.Json.JsonElement> RewrapAsync(HttpClient root, string tenant)
    {
        var started = await Problems.JsonAsync(await root.PostAsync($"/v1/tenants/{tenant}/rewrap", null), HttpStatusCode.Accepted);
        var jobId = started.GetProperty("job_id").GetString();
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var job = await Problems.JsonAsync(await root.GetAsync($"/v1/tenants/{tenant}/rewrap/{jobId}"));
            if (job.GetProperty("state").GetString() != "running")
            {
                return job;
            }

            await Task.Delay(25);
        }

        throw new TimeoutException($"rewrap job {jobId} did not finish");
    }

    private string Uid(string id) => (string)RawDatabase.Scalar(Data, "SELECT uid FROM tenants WHERE id = $id", ("$id", id))!;

    private int KeyVersion(string uid, string path, long version) => (int)(long)RawDatabase.Scalar(
        Data, "SELECT key_version FROM secret_versions WHERE tenant_uid = $u AND path = $p AND version = $v", ("$u", uid), ("$p", path), ("$v", version))!;

    private List<(string Path, long Version, int KeyVersion, byte[]? Ciphertext)> Ciphertexts(string uid) =>
        RawDatabase.Rows(Data, "SELECT path, version, key_version, ciphertext FROM secret_versions WHERE tenant_uid = $u ORDER BY path, version", ("$u", uid))
            .Select(r => ((string)r[0]!, (long)r[1]!, (int)(long)r[2]!, (byte[]?)r[3]))
            .ToList();
}
