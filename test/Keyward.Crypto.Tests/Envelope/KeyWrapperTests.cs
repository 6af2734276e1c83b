using Keyward.Crypto.Envelope;
using Keyward.Crypto.Keys;

namespace Keyward.Crypto.Tests.Envelope;

public sealed class KeyWrapperTests : IDisposable
{
    private const string TenantA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string TenantB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    private readonly SecretKey _wrapping = SecretKey.Generate();
    private readonly SecretKey _key = SecretKey.Generate();

    public void Dispose()
    {
        _wrapping.Dispose();
        _key.Dispose();
    }

    [Fact]
    public void Wrap_ThenUnwrap_ReturnsTheKey()
    {
        var wrapped = KeyWrapper.Wrap(_wrapping, _key, TenantA, 1);

        using var unwrapped = KeyWrapper.Unwrap(_wrapping, wrapped, TenantA, 1);

        Assert.True(unwrapped.FixedTimeEquals(_key));
        Assert.Equal(Aead.Overhead + SecretKey.SizeInBytes, wrapped.Length);
        Assert.Equal(-1, wrapped.AsSpan().IndexOf(_key.Bytes));
    }

    [Fact]
    public void Unwrap_OtherTenant_Throws()
    {
        var wrapped = KeyWrapper.Wrap(_wrapping, _key, TenantA, 1);

        Assert.Throws<EnvelopeException>(() => KeyWrapper.Unwrap(_wrapping, wrapped, TenantB, 1));
    }

    [Fact]
    public void Unwrap_OtherVersion_Throws()
    {
        var wrapped = KeyWrapper.Wrap(_wrapping, _key, TenantA, 2);

        Assert.Throws<EnvelopeException>(() => KeyWrapper.Unwrap(_wrapping, wrapped, TenantA, 1));
        Assert.Throws<EnvelopeException>(() => KeyWrapper.Unwrap(_wrapping, wrapped, TenantA, 3));
    }

    [Fact]
    public void Unwrap_OtherWrappingKey_Throws()
    {
        var wrapped = KeyWrapper.Wrap(_wrapping, _key, TenantA, 1);
        using var other = SecretKey.Generate();

        Assert.Throws<EnvelopeException>(() => KeyWrapper.Unwrap(other, wrapped, TenantA, 1));
    }

    [Fact]
    public void Unwrap_WrappedKeysSwappedBetweenTenants_Throws()
    {
        using var keyB = SecretKey.Generate();
        var wrappedA = KeyWrapper.Wrap(_wrapping, _key, TenantA, 1);
        var wrappedB = KeyWrapper.Wrap(_wrapping, keyB, TenantB, 1);

        Assert.Throws<EnvelopeException>(() => KeyWrapper.Unwrap(_wrapping, wrappedB, TenantA, 1));
        Assert.Throws<EnvelopeException>(() => KeyWrapper.Unwrap(_wrapping, wrappedA, TenantB, 1));
    }

    [Fact]
    public void Unwrap_AnyFlippedByte_Throws()
    {
        var wrapped = KeyWrapper.Wrap(_wrapping, _key, TenantA, 1);

        for (var i = 0; i < wrapped.Length; i++)
        {
            var tampered = wrapped.ToArray();
            tampered[i] ^= 0x04;
            Assert.Throws<EnvelopeException>(() => KeyWrapper.Unwrap(_wrapping, tampered, TenantA, 1));
        }
    }

    [Fact]
    public void Wrap_SameKeyTwice_DiffersByNonce()
    {
        var a = KeyWrapper.Wrap(_wrapping, _key, TenantA, 1);
        var b = KeyWrapper.Wrap(_wrapping, _key, TenantA, 1);

        Assert.NotEqual(a, b);
    }
}
