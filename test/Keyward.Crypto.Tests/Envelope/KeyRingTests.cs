using Keyward.Crypto.Envelope;
using Keyward.Crypto.Keys;

namespace Keyward.Crypto.Tests.Envelope;

public sealed class KeyRingTests
{
    [Fact]
    public void CurrentVersion_IsTheNewest()
    {
        using var ring = new KeyRing(new Dictionary<int, SecretKey> { [3] = SecretKey.Generate(), [1] = SecretKey.Generate(), [2] = SecretKey.Generate() });

        Assert.Equal(3, ring.CurrentVersion);
        Assert.True(ring.TryGet(3, out var current));
        Assert.Same(current, ring.Current);
        Assert.Equal([1, 2, 3], ring.Versions.Order());
    }

    [Fact]
    public void TryGet_MissingVersion_IsFalse()
    {
        using var ring = new KeyRing(new Dictionary<int, SecretKey> { [1] = SecretKey.Generate() });

        Assert.False(ring.TryGet(2, out _));
        Assert.False(ring.TryGet(0, out _));
    }

    [Fact]
    public void Constructor_Empty_Throws()
    {
        Assert.Throws<ArgumentException>(() => new KeyRing(new Dictionary<int, SecretKey>()));
    }

    [Fact]
    public void Dispose_DisposesEveryKey()
    {
        var keys = new Dictionary<int, SecretKey> { [1] = SecretKey.Generate(), [2] = SecretKey.Generate() };
        var ring = new KeyRing(keys);

        ring.Dispose();

        Assert.All(keys.Values, k => Assert.True(k.IsDisposed));
    }
}
