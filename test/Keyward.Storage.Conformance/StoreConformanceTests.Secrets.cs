using Keyward.Core.Secrets;
using Keyward.Core.Storage;

namespace Keyward.Storage.Conformance;

public abstract partial class StoreConformanceTests
{
    private static SecretMetadata Metadata(string uid, string path, long current = 1, int maxVersions = 10) =>
        new(uid, path, current, maxVersions, new Dictionary<string, string>(), T0, T0);

    private static SecretVersion Version(string uid, string path, long version, int keyVersion = 1) =>
        new(uid, path, version, keyVersion, Ciphertext(path, version), T0.AddSeconds(version), null, null);

    private static byte[] Ciphertext(string path, long version) =>
        System.Text.Encoding.UTF8.GetBytes($"ciphertext of {path}#{version}");

    /// <summary>A path with versions 1..<paramref name="versions"/>, all under key version 1 unless given.</summary>
    private static async Task AddSecretAsync(IKeywardStore store, string uid, string path, int versions, Func<long, int>? keyVersion = null)
    {
        await WriteAsync(store, async s =>
        {
            await s.Secrets.UpsertMetadataAsync(Metadata(uid, path, versions));
            for (var v = 1; v <= versions; v++)
            {
                await s.Secrets.InsertVersionAsync(Version(uid, path, v, keyVersion?.Invoke(v) ?? 1));
            }
        });
    }

    [Fact]
    public async Task Secrets_Metadata_UpsertInsertsThenUpdatesKeepingCreatedAt()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        var metadata = Metadata(t.Uid, "app/db") with { CustomMetadata = new Dictionary<string, string> { ["owner"] = "team-a", ["ü"] = "∆" } };

        Assert.Null(await ReadAsync(store, s => s.Secrets.GetMetadataAsync(t.Uid, "app/db")));
        await WriteAsync(store, s => s.Secrets.UpsertMetadataAsync(metadata));
        var stored = await ReadAsync(store, s => s.Secrets.GetMetadataAsync(t.Uid, "app/db"));
        Assert.NotNull(stored);
        Assert.Equal((t.Uid, "app/db", 1L, 10, T0, T0), (stored.TenantUid, stored.Path, stored.CurrentVersion, stored.MaxVersions, stored.CreatedAt, stored.UpdatedAt));
        Assert.Equal(metadata.CustomMetadata.OrderBy(p => p.Key), stored.CustomMetadata.OrderBy(p => p.Key));

        await WriteAsync(store, s => s.Secrets.UpsertMetadataAsync(metadata with
        {
            CurrentVersion = 4,
            MaxVersions = 2,
            CustomMetadata = new Dictionary<string, string>(),
            CreatedAt = T0.AddDays(5),
            UpdatedAt = T0.AddDays(1),
        }));
        stored = await ReadAsync(store, s => s.Secrets.GetMetadataAsync(t.Uid, "app/db"));
        Assert.NotNull(stored);
        Assert.Equal((4L, 2, T0, T0.AddDays(1)), (stored.CurrentVersion, stored.MaxVersions, stored.CreatedAt, stored.UpdatedAt));
        Assert.Empty(stored.CustomMetadata);
    }

    [Fact]
    public async Task Secrets_ReadSecret_ConcurrentReadsOfSeveralTenants_EachGetsItsOwnRow()
    {
        // Arrange: two tenants with the same paths; in each, secret i has i versions, version 1 pending-free, and
        // "staged" has a current (3), a previous (2) and a pending (4) version.
        var store = await NewStoreAsync();
        var tenants = new[] { await AddTenantAsync(store, "acme"), await AddTenantAsync(store, "globex") };
        const int Secrets = 12;
        foreach (var t in tenants)
        {
            for (var i = 1; i <= Secrets; i++)
            {
                await AddSecretAsync(store, t.Uid, $"app/s{i}", i);
            }

            await AddSecretAsync(store, t.Uid, "staged", 4);
            await WriteAsync(store, s => s.Secrets.UpsertMetadataAsync(Metadata(t.Uid, "staged", 3) with { PreviousVersion = 2, PendingVersion = 4 }));
        }

        // Act: many reads at once (a shared store may answer them together), wanted by version, by stage, or missing.
        var reads = new List<(string Uid, string Path, long? Version, SecretStage Stage, long? Expected)>();
        foreach (var t in tenants)
        {
            for (var i = 1; i <= Secrets; i++)
            {
                reads.Add((t.Uid, $"app/s{i}", null, SecretStage.Current, i));
                reads.Add((t.Uid, $"app/s{i}", 1, SecretStage.Current, 1));
                reads.Add((t.Uid, $"app/s{i}", i + 1, SecretStage.Current, null));
            }

            reads.Add((t.Uid, "staged", null, SecretStage.Previous, 2));
            reads.Add((t.Uid, "staged", null, SecretStage.Pending, 4));
            reads.Add((t.Uid, "missing", null, SecretStage.Current, null));
        }

        var results = await Task.WhenAll(Enumerable.Range(0, 4).SelectMany(_ => reads).Select(r =>
            Task.Run(() => store.ReadSecretAsync(r.Uid, r.Path, r.Version, r.Stage))));

        // Assert: each read got its own tenant's row, its own path, and the version it asked for.
        var expected = Enumerable.Range(0, 4).SelectMany(_ => reads).ToList();
        for (var i = 0; i < results.Length; i++)
        {
            var (uid, path, _, _, version) = expected[i];
            if (path == "missing")
            {
                Assert.Null(results[i]);
                continue;
            }

            var (metadata, stored) = results[i] ?? throw new InvalidOperationException($"{path} was not found");
            Assert.Equal((uid, path), (metadata.TenantUid, metadata.Path));
            Assert.Equal(version, stored?.Version);
            if (stored is not null)
            {
                Assert.Equal((uid, path), (stored.TenantUid, stored.Path));
                Assert.Equal(Ciphertext(path, stored.Version), stored.Ciphertext);
            }
        }
    }

    [Fact]
    public async Task Secrets_Read_CurrentOrGivenVersionWithMetadata()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddSecretAsync(store, t.Uid, "app/db", 3);

        var current = await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/db", null));
        var second = await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/db", 2));
        var missing = await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/db", 9));

        Assert.NotNull(current);
        Assert.Equal(3, current.Value.Metadata.CurrentVersion);
        Assert.NotNull(current.Value.Version);
        Assert.Equal((t.Uid, "app/db", 3L, 1, T0.AddSeconds(3)), (current.Value.Version.TenantUid, current.Value.Version.Path, current.Value.Version.Version, current.Value.Version.KeyVersion, current.Value.Version.CreatedAt));
        Assert.Equal(Ciphertext("app/db", 3), current.Value.Version.Ciphertext);
        Assert.Equal("active", current.Value.Version.State);
        Assert.NotNull(second);
        Assert.Equal(Ciphertext("app/db", 2), second.Value.Version!.Ciphertext);
        Assert.NotNull(missing);
        Assert.Equal(3, missing.Value.Metadata.CurrentVersion);
        Assert.Null(missing.Value.Version);
        Assert.Null(await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/other", null)));
    }

    [Fact]
    public async Task Secrets_Read_MetadataWithoutVersions_HasNoVersion()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await WriteAsync(store, s => s.Secrets.UpsertMetadataAsync(Metadata(t.Uid, "app/db", current: 0)));

        var row = await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/db", null));

        Assert.NotNull(row);
        Assert.Equal(0, row.Value.Metadata.CurrentVersion);
        Assert.Null(row.Value.Version);
    }

    [Fact]
    public async Task Secrets_AreIsolatedPerTenant()
    {
        var store = await NewStoreAsync();
        var a = await AddTenantAsync(store, "a");
        var b = await AddTenantAsync(store, "b");
        await AddSecretAsync(store, a.Uid, "app/db", 2);

        Assert.Null(await ReadAsync(store, s => s.Secrets.ReadAsync(b.Uid, "app/db", null)));
        Assert.Null(await ReadAsync(store, s => s.Secrets.GetMetadataAsync(b.Uid, "app/db")));
        Assert.Empty(await ReadAsync(store, s => s.Secrets.ListVersionsAsync(b.Uid, "app/db")));
        Assert.Empty(await ReadAsync(store, s => s.Secrets.ListPathsAsync(b.Uid, "")));
        Assert.Equal(0, await WriteAsync(store, s => s.Secrets.DestroyAsync(b.Uid, "app/db", [1, 2], T0)));
        Assert.False(await WriteAsync(store, s => s.Secrets.DeleteAllAsync(b.Uid, "app/db")));
        Assert.Equal(2, (await ReadAsync(store, s => s.Secrets.ListVersionsAsync(a.Uid, "app/db"))).Count);
    }

    [Fact]
    public async Task Secrets_ListVersions_OldestFirstWithoutCiphertexts()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddSecretAsync(store, t.Uid, "app/db", 3);

        var versions = await ReadAsync(store, s => s.Secrets.ListVersionsAsync(t.Uid, "app/db"));

        Assert.Equal([1L, 2L, 3L], versions.Select(v => v.Version));
        Assert.All(versions, v => Assert.Null(v.Ciphertext));
        Assert.All(versions, v => Assert.Equal((t.Uid, "app/db", 1), (v.TenantUid, v.Path, v.KeyVersion)));
        Assert.Equal(T0.AddSeconds(2), versions[1].CreatedAt);
    }

    [Fact]
    public async Task Secrets_InsertExistingVersion_IsRefused()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddSecretAsync(store, t.Uid, "app/db", 1);

        var refused = await IsRefusedAsync(store, s => s.Secrets.InsertVersionAsync(Version(t.Uid, "app/db", 1) with { Ciphertext = [0] }));

        Assert.True(refused, "a second row for one (tenant, path, version) was accepted");
        Assert.Equal(Ciphertext("app/db", 1), (await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/db", 1)))!.Value.Version!.Ciphertext);
    }

    [Fact]
    public async Task Secrets_SetDeleted_SoftDeletesAndUndeletesButNeverTouchesDestroyed()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddSecretAsync(store, t.Uid, "app/db", 3);
        await WriteAsync(store, s => s.Secrets.DestroyAsync(t.Uid, "app/db", [3], T0.AddDays(1)));

        Assert.Equal(2, await WriteAsync(store, s => s.Secrets.SetDeletedAsync(t.Uid, "app/db", [1, 2, 3, 42], T0.AddDays(2))));
        var versions = await ReadAsync(store, s => s.Secrets.ListVersionsAsync(t.Uid, "app/db"));
        Assert.Equal(["deleted", "deleted", "destroyed"], versions.Select(v => v.State));
        Assert.Equal(T0.AddDays(2), versions[0].DeletedAt);
        Assert.Null(versions[2].DeletedAt);
        Assert.NotNull((await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/db", 1)))!.Value.Version!.Ciphertext);

        Assert.Equal(1, await WriteAsync(store, s => s.Secrets.SetDeletedAsync(t.Uid, "app/db", [2, 3], null)));
        versions = await ReadAsync(store, s => s.Secrets.ListVersionsAsync(t.Uid, "app/db"));
        Assert.Equal(["deleted", "active", "destroyed"], versions.Select(v => v.State));
    }

    [Fact]
    public async Task Secrets_Destroy_ErasesCiphertextOnce()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddSecretAsync(store, t.Uid, "app/db", 3);

        Assert.Equal(2, await WriteAsync(store, s => s.Secrets.DestroyAsync(t.Uid, "app/db", [1, 2, 7], T0.AddDays(1))));
        Assert.Equal(0, await WriteAsync(store, s => s.Secrets.DestroyAsync(t.Uid, "app/db", [1, 2], T0.AddDays(2))));

        var first = (await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/db", 1)))!.Value.Version!;
        Assert.Null(first.Ciphertext);
        Assert.Equal(T0.AddDays(1), first.DestroyedAt);
        Assert.Equal("destroyed", first.State);
        Assert.Equal(Ciphertext("app/db", 3), (await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/db", 3)))!.Value.Version!.Ciphertext);
    }

    [Fact]
    public async Task Secrets_Prune_RemovesVersionsBelowKeepFrom()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddSecretAsync(store, t.Uid, "app/db", 5);
        await AddSecretAsync(store, t.Uid, "app/other", 5);

        Assert.Equal(3, await WriteAsync(store, s => s.Secrets.PruneAsync(t.Uid, "app/db", 4, [])));
        Assert.Equal(0, await WriteAsync(store, s => s.Secrets.PruneAsync(t.Uid, "app/db", 4, [])));

        Assert.Equal([4L, 5L], (await ReadAsync(store, s => s.Secrets.ListVersionsAsync(t.Uid, "app/db"))).Select(v => v.Version));
        Assert.Equal(5, (await ReadAsync(store, s => s.Secrets.ListVersionsAsync(t.Uid, "app/other"))).Count);
    }

    [Fact]
    public async Task Secrets_DeleteAll_RemovesMetadataAndEveryVersion()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddSecretAsync(store, t.Uid, "app/db", 3);
        await AddSecretAsync(store, t.Uid, "app/db/child", 1);

        Assert.True(await WriteAsync(store, s => s.Secrets.DeleteAllAsync(t.Uid, "app/db")));
        Assert.False(await WriteAsync(store, s => s.Secrets.DeleteAllAsync(t.Uid, "app/db")));

        Assert.Null(await ReadAsync(store, s => s.Secrets.GetMetadataAsync(t.Uid, "app/db")));
        Assert.Empty(await ReadAsync(store, s => s.Secrets.ListVersionsAsync(t.Uid, "app/db")));
        Assert.Equal(1, await ReadAsync(store, s => s.Secrets.CountForRewrapAsync(t.Uid, 99)));
        Assert.Equal(["app/db/child"], await ReadAsync(store, s => s.Secrets.ListPathsAsync(t.Uid, "")));
    }

    public static TheoryData<string, string[]> Prefixes => new()
    {
        { "", ["ap", "app", "app-x/y", "app.x", "app/db", "app/db/x", "app/zz", "apple", "apple/x", "b/app"] },
        { "app", ["app", "app/db", "app/db/x", "app/zz"] },
        { "app/db", ["app/db", "app/db/x"] },
        { "app/db/x", ["app/db/x"] },
        { "apple", ["apple", "apple/x"] },
        { "app-x", ["app-x/y"] },
        { "ap", ["ap"] },
        { "b", ["b/app"] },
        { "app/d", [] },
        { "nothing", [] },
    };

    /// <summary>Prefixes match whole segments ('app' never lists 'apple' or 'app-x'); results are in ordinal order.</summary>
    [Theory]
    [MemberData(nameof(Prefixes))]
    public async Task Secrets_ListPaths_MatchesWholeSegmentsInOrder(string prefix, string[] expected)
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        var other = await AddTenantAsync(store, "other");
        foreach (var path in new[] { "apple/x", "app/db/x", "app", "b/app", "app/db", "app-x/y", "apple", "app.x", "ap", "app/zz" })
        {
            await AddSecretAsync(store, t.Uid, path, 1);
        }

        await AddSecretAsync(store, other.Uid, "app/secret-of-other", 1);

        var paths = await ReadAsync(store, s => s.Secrets.ListPathsAsync(t.Uid, prefix));

        Assert.Equal(expected, paths);
    }

    [Fact]
    public async Task Secrets_ListForRewrap_OlderKeyVersionsInPathVersionOrderAfterCursor()
    {
        // Arrange: key versions 1..3; target 3 → everything under 1 or 2 that still has a ciphertext.
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        var other = await AddTenantAsync(store, "other");
        await AddSecretAsync(store, t.Uid, "b", 3, v => (int)v); // versions 1,2 (key 1,2) old, 3 (key 3) current
        await AddSecretAsync(store, t.Uid, "a", 2, _ => 1);
        await AddSecretAsync(store, t.Uid, "a/x", 2, _ => 2);
        await AddSecretAsync(store, t.Uid, "c", 2, _ => 1);
        await AddSecretAsync(store, other.Uid, "a", 2, _ => 1);
        await WriteAsync(store, async s =>
        {
            await s.Secrets.DestroyAsync(t.Uid, "c", [1], T0); // destroyed: nothing to rewrap
            await s.Secrets.SetDeletedAsync(t.Uid, "c", [2], T0); // soft-deleted: still a ciphertext to keep readable
        });
        (string, long)[] expected = [("a", 1), ("a", 2), ("a/x", 1), ("a/x", 2), ("b", 1), ("b", 2), ("c", 2)];

        // Act: one page with everything, then pages of two following the cursor.
        var all = await ReadAsync(store, s => s.Secrets.ListForRewrapAsync(t.Uid, 3, null, 100));
        var paged = new List<RewrapCandidate>();
        (string Path, long Version)? cursor = null;
        for (var page = 0; page < 10; page++)
        {
            var batch = await ReadAsync(store, s => s.Secrets.ListForRewrapAsync(t.Uid, 3, cursor, 2));
            Assert.InRange(batch.Count, 0, 2);
            if (batch.Count == 0)
            {
                break;
            }

            paged.AddRange(batch);
            cursor = (batch[^1].Path, batch[^1].Version);
        }

        // Assert
        Assert.Equal(expected, all.Select(c => (c.Path, c.Version)));
        Assert.Equal(expected, paged.Select(c => (c.Path, c.Version)));
        Assert.Equal(7, await ReadAsync(store, s => s.Secrets.CountForRewrapAsync(t.Uid, 3)));
        var b2 = all.Single(c => c.Path == "b" && c.Version == 2);
        Assert.Equal(2, b2.KeyVersion);
        Assert.Equal(Ciphertext("b", 2), b2.Ciphertext);
        Assert.Equal([("a", 1L), ("a", 2L), ("b", 1L), ("c", 2L)], (await ReadAsync(store, s => s.Secrets.ListForRewrapAsync(t.Uid, 2, null, 100))).Select(c => (c.Path, c.Version)));
        Assert.Equal(4, await ReadAsync(store, s => s.Secrets.CountForRewrapAsync(t.Uid, 2)));
        Assert.Empty(await ReadAsync(store, s => s.Secrets.ListForRewrapAsync(t.Uid, 1, null, 100)));
        Assert.Equal(0, await ReadAsync(store, s => s.Secrets.CountForRewrapAsync(t.Uid, 1)));
        Assert.Equal([("b", 2L)], (await ReadAsync(store, s => s.Secrets.ListForRewrapAsync(t.Uid, 3, ("b", 1), 1))).Select(c => (c.Path, c.Version)));
    }

    [Fact]
    public async Task Secrets_ReplaceCiphertext_OnlyIfStillUnderTheExpectedKeyVersion()
    {
        var store = await NewStoreAsync();
        var t = await AddTenantAsync(store, "acme");
        await AddSecretAsync(store, t.Uid, "app/db", 3);
        await WriteAsync(store, s => s.Secrets.DestroyAsync(t.Uid, "app/db", [3], T0));

        Assert.True(await WriteAsync(store, s => s.Secrets.ReplaceCiphertextAsync(t.Uid, "app/db", 1, 1, 2, [7, 7])));
        Assert.False(await WriteAsync(store, s => s.Secrets.ReplaceCiphertextAsync(t.Uid, "app/db", 1, 1, 2, [8, 8])), "replaced although already rewrapped");
        Assert.False(await WriteAsync(store, s => s.Secrets.ReplaceCiphertextAsync(t.Uid, "app/db", 2, 5, 6, [8, 8])), "replaced under the wrong expected version");
        Assert.False(await WriteAsync(store, s => s.Secrets.ReplaceCiphertextAsync(t.Uid, "app/db", 3, 1, 2, [8, 8])), "a destroyed version came back");
        Assert.False(await WriteAsync(store, s => s.Secrets.ReplaceCiphertextAsync(t.Uid, "app/db", 9, 1, 2, [8, 8])));

        var v1 = (await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/db", 1)))!.Value.Version!;
        Assert.Equal(2, v1.KeyVersion);
        Assert.Equal(new byte[] { 7, 7 }, v1.Ciphertext);
        var v2 = (await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/db", 2)))!.Value.Version!;
        Assert.Equal(1, v2.KeyVersion);
        Assert.Equal(Ciphertext("app/db", 2), v2.Ciphertext);
        var v3 = (await ReadAsync(store, s => s.Secrets.ReadAsync(t.Uid, "app/db", 3)))!.Value.Version!;
        Assert.Null(v3.Ciphertext);
        Assert.Equal(1, await ReadAsync(store, s => s.Secrets.CountForRewrapAsync(t.Uid, 2)));
    }
}
