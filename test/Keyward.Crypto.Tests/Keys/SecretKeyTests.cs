using System.Security.Cryptography;
using System.Text;
using Keyward.Crypto.Keys;

namespace Keyward.Crypto.Tests.Keys;

public sealed class SecretKeyTests
{
    private static readonly byte[] Material = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

    [Fact]
    public void Derive_SameKeyAndLabel_IsDeterministic()
    {
        using var a = SecretKey.Import(Material);
        using var b = SecretKey.Import(Material);

        using var first = a.Derive("keyward/v1/x");
        using var second = b.Derive("keyward/v1/x");

        Assert.True(first.FixedTimeEquals(second));
    }

    [Fact]
    public void Derive_DifferentLabels_GiveDifferentKeys()
    {
        using var key = SecretKey.Import(Material);
        var labels = new[]
        {
            KeyLabels.RootCheck, KeyLabels.TenantKeyWrapping, KeyLabels.AuditChain, KeyLabels.AuditCheckpoint, KeyLabels.AuditIdentifiers,
            "a", "b", "keyward/v1/audit-chain ", "Keyward/v1/audit-chain",
        };

        var derived = labels.Select(l => Convert.ToHexString(DeriveBytes(key, l))).ToList();

        Assert.Equal(labels.Length, derived.Distinct().Count());
        Assert.DoesNotContain(Convert.ToHexString(Material), derived);
    }

    [Fact]
    public void Derive_DifferentParentKeys_GiveDifferentKeys()
    {
        var other = Material.ToArray();
        other[31] ^= 1;
        using var a = SecretKey.Import(Material);
        using var b = SecretKey.Import(other);

        Assert.NotEqual(DeriveBytes(a, "label"), DeriveBytes(b, "label"));
    }

    [Theory]
    [InlineData(KeyLabels.TenantKeyWrapping, "8483be97544fda47b08ac7b9c3a36e6b84ec76d9ff562510fbe6ce2d1474780c")]
    [InlineData(KeyLabels.AuditChain, "c172157a18cf2d61de4d4285f33b6f248a5728ac4f5fe33be8209e076760b957")]
    public void Derive_KnownKey_MatchesPinnedHkdfSha256(string label, string expectedHex)
    {
        // Pinned outside .NET (Python hmac: HKDF-SHA256, empty salt, info = label, 32 bytes): every stored record
        // depends on these keys, so the derivation must never change silently.
        using var key = SecretKey.Import(Material);

        Assert.Equal(expectedHex, Convert.ToHexStringLower(DeriveBytes(key, label)));
        Assert.Equal(expectedHex, Convert.ToHexStringLower(ReferenceHkdf(Material, label)));
    }

    [Fact]
    public void Derive_EmptyLabel_Throws()
    {
        using var key = SecretKey.Generate();

        Assert.Throws<ArgumentException>(() => key.Derive(""));
        Assert.Throws<ArgumentNullException>(() => key.Derive(null!));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    [InlineData(31)]
    [InlineData(33)]
    public void Import_WrongLength_Throws(int length)
    {
        Assert.Throws<ArgumentException>(() => SecretKey.Import(new byte[length]));
    }

    [Fact]
    public void Import_CopiesMaterial_CallerChangesDoNotAffectKey()
    {
        var material = Material.ToArray();
        using var key = SecretKey.Import(material);

        material[0] ^= 0xFF;

        Assert.Equal(Material, key.Bytes.ToArray());
    }

    [Fact]
    public void Generate_TwoKeys_Differ()
    {
        using var a = SecretKey.Generate();
        using var b = SecretKey.Generate();

        Assert.Equal(SecretKey.SizeInBytes, a.Bytes.Length);
        Assert.False(a.FixedTimeEquals(b));
    }

    [Fact]
    public void Dispose_ZeroesBufferAndRefusesFurtherUse()
    {
        var key = SecretKey.Import(Enumerable.Repeat((byte)0xA7, 32).ToArray());
        var view = key.Bytes; // The pinned buffer itself, still reachable after dispose.
        Assert.Equal(32, view.Length);
        Assert.True(view.IndexOfAnyExcept((byte)0) >= 0);

        key.Dispose();

        Assert.True(view.IndexOfAnyExcept((byte)0) < 0, "the key buffer was not zeroed");
        Assert.True(key.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => key.Bytes.Length);
        Assert.Throws<ObjectDisposedException>(() => key.Derive("x"));
        key.Dispose(); // Idempotent.
    }

    [Fact]
    public void ToString_IsRedacted()
    {
        using var key = SecretKey.Import(Material);

        var text = key.ToString();

        Assert.Equal("SecretKey(redacted)", text);
        Assert.DoesNotContain("0001020304", text, StringComparison.Ordinal);
    }

    [Fact]
    public void FixedTimeEquals_SameAndDifferentMaterial()
    {
        using var a = SecretKey.Import(Material);
        using var b = SecretKey.Import(Material);
        using var c = SecretKey.Generate();

        Assert.True(a.FixedTimeEquals(b));
        Assert.False(a.FixedTimeEquals(c));
    }

    private static byte[] DeriveBytes(SecretKey key, string label)
    {
        using var derived = key.Derive(label);
        return derived.Bytes.ToArray();
    }

    /// <summary>RFC 5869 by hand: PRK = HMAC(zeros, IKM); OKM = HMAC(PRK, info ‖ 0x01) (one block of 32 bytes).</summary>
    private static byte[] ReferenceHkdf(byte[] ikm, string label)
    {
        var prk = HMACSHA256.HashData(new byte[32], ikm);
        byte[] info = [.. Encoding.UTF8.GetBytes(label), 0x01];
        return HMACSHA256.HashData(prk, info);
    }
}
