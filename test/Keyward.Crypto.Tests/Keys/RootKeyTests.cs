using Keyward.Crypto.Keys;

namespace Keyward.Crypto.Tests.Keys;

public sealed class RootKeyTests
{
    private static readonly byte[] Material = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

    [Fact]
    public void ComputeCheck_KnownKey_MatchesPinnedValue()
    {
        // HMAC(HKDF(root, "keyward/v1/root-check"), "keyward root key check v1"), computed outside .NET.
        using var root = RootKey.Import(Material);

        Assert.Equal("b85fc81555865feb11b90e0d3877d6448fd23b454aec623e836bf9d9cb82b72f", Convert.ToHexStringLower(root.ComputeCheck()));
    }

    [Fact]
    public void MatchesCheck_SameKey_IsTrue()
    {
        using var original = RootKey.Generate();
        var check = original.ComputeCheck();
        using var reconstructed = RootKey.Import(original.Material);

        Assert.True(reconstructed.MatchesCheck(check));
        Assert.True(original.MatchesCheck(check));
    }

    [Fact]
    public void MatchesCheck_AnyOtherKey_IsFalse()
    {
        using var root = RootKey.Import(Material);
        var check = root.ComputeCheck();

        // Every single-bit change of the key…
        for (var bit = 0; bit < 256; bit++)
        {
            var other = Material.ToArray();
            other[bit / 8] ^= (byte)(1 << (bit % 8));
            using var wrong = RootKey.Import(other);
            Assert.False(wrong.MatchesCheck(check), $"key with bit {bit} flipped matched the check");
        }

        // …and random keys.
        for (var i = 0; i < 50; i++)
        {
            using var random = RootKey.Generate();
            Assert.False(random.MatchesCheck(check));
        }
    }

    [Fact]
    public void MatchesCheck_AlteredOrTruncatedCheck_IsFalse()
    {
        using var root = RootKey.Import(Material);
        var check = root.ComputeCheck();

        var flipped = check.ToArray();
        flipped[^1] ^= 1;

        Assert.False(root.MatchesCheck(flipped));
        Assert.False(root.MatchesCheck(check.AsSpan(0, 31)));
        Assert.False(root.MatchesCheck([]));
    }

    [Fact]
    public void DerivedKeys_AreDistinctAndNotTheRoot()
    {
        using var root = RootKey.Import(Material);

        var keys = new[] { root.TenantKeyWrapping, root.AuditChain, root.AuditCheckpoint, root.AuditIdentifiers }
            .Select(k => Convert.ToHexString(k.Bytes)).Append(Convert.ToHexString(root.Material)).ToList();

        Assert.Equal(5, keys.Distinct().Count());
        Assert.Equal("8483be97544fda47b08ac7b9c3a36e6b84ec76d9ff562510fbe6ce2d1474780c", Convert.ToHexStringLower(root.TenantKeyWrapping.Bytes));
    }

    [Fact]
    public void Dispose_DisposesEveryDerivedKey()
    {
        var root = RootKey.Import(Material);
        var derived = new[] { root.TenantKeyWrapping, root.AuditChain, root.AuditCheckpoint, root.AuditIdentifiers };

        root.Dispose();

        Assert.All(derived, k => Assert.True(k.IsDisposed));
        Assert.Throws<ObjectDisposedException>(() => root.Material.Length);
    }

    [Fact]
    public void ToString_IsRedacted()
    {
        using var root = RootKey.Import(Material);

        Assert.Equal("RootKey(redacted)", root.ToString());
    }
}
