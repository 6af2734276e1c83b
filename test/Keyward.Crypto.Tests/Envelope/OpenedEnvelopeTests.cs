using System.Security.Cryptography;
using Keyward.Crypto.Envelope;
using Keyward.Crypto.Keys;

namespace Keyward.Crypto.Tests.Envelope;

public sealed class OpenedEnvelopeTests
{
    private static readonly EnvelopeContext Context = EnvelopeContext.ForSecret("uid-1", "app/db", 3);

    private static (KeyRing Ring, byte[] Plaintext, byte[] Payload) Sealed()
    {
        var ring = new KeyRing(new Dictionary<int, SecretKey> { [1] = SecretKey.Generate() });
        var plaintext = RandomNumberGenerator.GetBytes(256);
        return (ring, plaintext, SecretEnvelope.Encrypt(ring, Context, plaintext));
    }

    [Fact]
    public void TryDecrypt_RepeatedReads_EqualAFullDecrypt()
    {
        var (ring, plaintext, payload) = Sealed();
        using var opened = OpenedEnvelope.Open(ring, Context, payload);

        for (var i = 0; i < 3; i++)
        {
            Assert.True(opened.TryDecrypt(Context, payload, out var data));
            Assert.Equal(plaintext, data);
        }

        Assert.Equal(plaintext, SecretEnvelope.Decrypt(ring, Context, payload));
    }

    [Fact]
    public void TryDecrypt_AfterDispose_ReportsFailureInsteadOfDecrypting()
    {
        var (ring, _, payload) = Sealed();
        var opened = OpenedEnvelope.Open(ring, Context, payload);

        opened.Dispose();

        Assert.False(opened.TryDecrypt(Context, payload, out var data));
        Assert.Empty(data);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(70)]
    [InlineData(-1)]
    public void TryDecrypt_TamperedValueOrHeader_Throws(int position)
    {
        var (ring, _, payload) = Sealed();
        using var opened = OpenedEnvelope.Open(ring, Context, payload);
        var tampered = payload.ToArray();
        tampered[position < 0 ? tampered.Length + position : position] ^= 0x01;

        Assert.Throws<EnvelopeException>(() => opened.TryDecrypt(Context, tampered, out _));
    }

    [Fact]
    public void TryDecrypt_ForAnotherPathOrVersion_Throws()
    {
        var (ring, _, payload) = Sealed();
        using var opened = OpenedEnvelope.Open(ring, Context, payload);

        Assert.Throws<EnvelopeException>(() => opened.TryDecrypt(Context with { Path = "app/other" }, payload, out _));
        Assert.Throws<EnvelopeException>(() => opened.TryDecrypt(Context with { Version = 4 }, payload, out _));
    }

    [Fact]
    public void Open_TamperedWrappedKeyOrOtherTenant_Throws()
    {
        var (ring, _, payload) = Sealed();
        var tampered = payload.ToArray();
        tampered[30] ^= 0x01;

        Assert.Throws<EnvelopeException>(() => OpenedEnvelope.Open(ring, Context, tampered));
        Assert.Throws<EnvelopeException>(() => OpenedEnvelope.Open(ring, Context with { TenantUid = "uid-2" }, payload));
    }
}
