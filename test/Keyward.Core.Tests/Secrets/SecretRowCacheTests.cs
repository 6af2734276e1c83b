using System.Security.Cryptography;
using Keyward.Core.Seal;
using Keyward.Core.Secrets;
using Keyward.Crypto.Envelope;
using Keyward.Crypto.Keys;

namespace Keyward.Core.Tests.Secrets;

public sealed class SecretRowCacheTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static (SecretMetadata, SecretVersion?) Row(long version, int bytes = 64) => (
        new SecretMetadata("uid", "app/db", version, 10, new Dictionary<string, string>(), T0, T0),
        new SecretVersion("uid", "app/db", version, 1, new byte[bytes], T0, null, null));

    [Fact]
    public void TryGet_AfterAddUnderCurrentGeneration_ReturnsTheRow()
    {
        var cache = new SecretRowCache();
        cache.Add("uid", "app/db", SecretRowCache.Slot(null), Row(1), cache.Generation);

        Assert.True(cache.TryGet("uid", "app/db", SecretRowCache.Slot(null), out var entry));
        Assert.Equal(1, entry.Row.Metadata.CurrentVersion);
        Assert.False(cache.TryGet("uid", "app/db", 1, out _));
        Assert.False(cache.TryGet("other", "app/db", SecretRowCache.Slot(null), out _));
    }

    [Fact]
    public void ValidatingWithAStore_ServesOnlyRowsOfTheNewestStoreGenerationSeen_WithThatGeneration()
    {
        // Arrange: a node on a shared store caches two rows read under store generation 7
        var cache = new SecretRowCache();
        cache.ValidateWithStore();
        cache.Add("uid", "app/a", SecretRowCache.Slot(null), Row(1), cache.Generation, storeGeneration: 7);
        cache.Add("uid", "app/b", SecretRowCache.Slot(null), Row(1), cache.Generation, storeGeneration: 7);
        Assert.True(cache.TryGet("uid", "app/a", SecretRowCache.Slot(null), out var before));
        Assert.Equal(7, before.StoreGeneration);

        // Act: a row read later under generation 9 (a secret changed somewhere); then one read, late, under 8
        cache.Add("uid", "app/c", SecretRowCache.Slot(null), Row(2), cache.Generation, storeGeneration: 9);
        cache.Add("uid", "app/d", SecretRowCache.Slot(null), Row(2), cache.Generation, storeGeneration: 8);

        // Assert: only the generation-9 row is served; the older ones are not, whatever their path
        Assert.True(cache.TryGet("uid", "app/c", SecretRowCache.Slot(null), out var after));
        Assert.Equal(9, after.StoreGeneration);
        Assert.False(cache.TryGet("uid", "app/a", SecretRowCache.Slot(null), out _));
        Assert.False(cache.TryGet("uid", "app/b", SecretRowCache.Slot(null), out _));
        Assert.False(cache.TryGet("uid", "app/d", SecretRowCache.Slot(null), out _));
    }

    [Fact]
    public void TryGet_AfterAnInvalidation_MissesSoTheStoreIsReadAgain()
    {
        var cache = new SecretRowCache();
        cache.Add("uid", "app/db", SecretRowCache.Slot(null), Row(1), cache.Generation);

        cache.Invalidate();

        Assert.False(cache.TryGet("uid", "app/db", SecretRowCache.Slot(null), out _));
    }

    [Fact]
    public void Add_OfARowReadBeforeAConcurrentChangeCommitted_IsNeverServed()
    {
        // A reader takes the generation and reads the old row; the committer drops the cache before the commit, commits,
        // drops it again; the reader then caches what it read — under either generation it took, it is never served.
        var cache = new SecretRowCache();
        var generationBeforeRead = cache.Generation;
        cache.Invalidate();
        cache.Add("uid", "app/db", SecretRowCache.Slot(null), Row(1), generationBeforeRead);
        Assert.False(cache.TryGet("uid", "app/db", SecretRowCache.Slot(null), out _));
        var generationDuringCommit = cache.Generation;
        cache.Add("uid", "app/db", SecretRowCache.Slot(null), Row(1), generationDuringCommit);

        cache.Invalidate();

        Assert.False(cache.TryGet("uid", "app/db", SecretRowCache.Slot(null), out _));
    }

    [Fact]
    public void Add_LargerThanTheValueBound_IsNotCached()
    {
        var cache = new SecretRowCache();

        cache.Add("uid", "app/db", SecretRowCache.Slot(null), Row(1, SecretRowCache.MaxCachedValueBytes + 1), cache.Generation);

        Assert.False(cache.TryGet("uid", "app/db", SecretRowCache.Slot(null), out _));
    }

    [Fact]
    public void Add_BeyondTheEntryBound_StartsOverInsteadOfGrowing()
    {
        var cache = new SecretRowCache();
        for (var i = 0; i < SecretRowCache.MaxEntries; i++)
        {
            cache.Add("uid", "p" + i, SecretRowCache.Slot(null), Row(1), cache.Generation);
        }

        cache.Add("uid", "last", SecretRowCache.Slot(null), Row(1), cache.Generation);

        Assert.True(cache.TryGet("uid", "last", SecretRowCache.Slot(null), out _));
        Assert.False(cache.TryGet("uid", "p0", SecretRowCache.Slot(null), out _));
    }

    [Fact]
    public void Remove_DropsOnlyThatEntry()
    {
        var cache = new SecretRowCache();
        cache.Add("uid", "app/db", SecretRowCache.Slot(null), Row(1), cache.Generation);
        cache.Add("uid", "app/db", 1, Row(1), cache.Generation);

        cache.Remove("uid", "app/db", SecretRowCache.Slot(null));

        Assert.False(cache.TryGet("uid", "app/db", SecretRowCache.Slot(null), out _));
        Assert.True(cache.TryGet("uid", "app/db", 1, out _));
    }

    private static (KeyRing Ring, EnvelopeContext Context, (SecretMetadata, SecretVersion?) Row) SealedRow(string tenantUid = "uid")
    {
        var ring = new KeyRing(new Dictionary<int, SecretKey> { [1] = SecretKey.Generate() });
        var context = EnvelopeContext.ForSecret(tenantUid, "app/db", 1);
        var payload = SecretEnvelope.Encrypt(ring, context, RandomNumberGenerator.GetBytes(64));
        return (ring, context, (
            new SecretMetadata(tenantUid, "app/db", 1, 10, new Dictionary<string, string>(), T0, T0),
            new SecretVersion(tenantUid, "app/db", 1, 1, payload, T0, null, null)));
    }

    [Fact]
    public void RemoveTenant_DisposesTheOpenedKeysOfThatTenantOnly()
    {
        var cache = new SecretRowCache();
        var (ring, context, row) = SealedRow("uid");
        var (otherRing, otherContext, otherRow) = SealedRow("other");
        cache.Add("uid", "app/db", SecretRowCache.Slot(null), row, cache.Generation);
        cache.Add("other", "app/db", SecretRowCache.Slot(null), otherRow, cache.Generation);
        Assert.True(cache.TryGet("uid", "app/db", SecretRowCache.Slot(null), out var entry));
        Assert.True(cache.TryGet("other", "app/db", SecretRowCache.Slot(null), out var otherEntry));
        var opened = entry.Opened(ring, context, row.Item2!.Ciphertext);
        var otherOpened = otherEntry.Opened(otherRing, otherContext, otherRow.Item2!.Ciphertext);

        cache.RemoveTenant("uid");

        Assert.False(opened.TryDecrypt(context, row.Item2.Ciphertext, out _));
        Assert.False(cache.TryGet("uid", "app/db", SecretRowCache.Slot(null), out _));
        Assert.True(otherOpened.TryDecrypt(otherContext, otherRow.Item2.Ciphertext, out _));
    }

    [Fact]
    public async Task Seal_DropsEveryEntryAndDisposesOpenedKeys()
    {
        var keys = new KeyHierarchy();
        keys.Install(new SealConfig(1, 1, 1, new byte[32], T0), RootKey.Generate());
        var cache = new SecretRowCache(keys);
        var (ring, context, row) = SealedRow();
        cache.Add("uid", "app/db", SecretRowCache.Slot(null), row, cache.Generation);
        Assert.True(cache.TryGet("uid", "app/db", SecretRowCache.Slot(null), out var entry));
        var opened = entry.Opened(ring, context, row.Item2!.Ciphertext);

        await keys.SealAsync(0, TimeSpan.Zero, TimeProvider.System);

        Assert.False(cache.TryGet("uid", "app/db", SecretRowCache.Slot(null), out _));
        Assert.False(opened.TryDecrypt(context, row.Item2.Ciphertext, out _));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void OnASharedStore_ANewerStoreGenerationOrAnotherNodesChange_DisposesTheOpenedKeysHeld(bool newerGeneration)
    {
        // Arrange: a row cached under store generation 3, its data key opened by a read
        var cache = new SecretRowCache();
        cache.ValidateWithStore();
        var (ring, context, row) = SealedRow();
        cache.Add("uid", "app/db", SecretRowCache.Slot(null), row, cache.Generation, storeGeneration: 3);
        Assert.True(cache.TryGet("uid", "app/db", SecretRowCache.Slot(null), out var entry));
        var opened = entry.Opened(ring, context, row.Item2!.Ciphertext);

        // Act: another row read under generation 4, or another node's change reported
        if (newerGeneration)
        {
            cache.Add("uid", "app/other", SecretRowCache.Slot(null), Row(1), cache.Generation, storeGeneration: 4);
        }
        else
        {
            cache.DropAll();
        }

        // Assert: the key is gone from memory now, not when the entry would have been replaced
        Assert.False(opened.TryDecrypt(context, row.Item2.Ciphertext, out _));
        Assert.False(cache.TryGet("uid", "app/db", SecretRowCache.Slot(null), out _));
    }

    [Fact]
    public void Add_ReplacingAnEntry_DisposesTheOldOpenedKey()
    {
        var cache = new SecretRowCache();
        var (ring, context, row) = SealedRow();
        cache.Add("uid", "app/db", SecretRowCache.Slot(null), row, cache.Generation);
        Assert.True(cache.TryGet("uid", "app/db", SecretRowCache.Slot(null), out var entry));
        var opened = entry.Opened(ring, context, row.Item2!.Ciphertext);

        cache.Add("uid", "app/db", SecretRowCache.Slot(null), row, cache.Generation);

        Assert.False(opened.TryDecrypt(context, row.Item2.Ciphertext, out _));
    }
}
