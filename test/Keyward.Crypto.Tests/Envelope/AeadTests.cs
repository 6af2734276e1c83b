using System.Text;
using Keyward.Crypto.Envelope;

namespace Keyward.Crypto.Tests.Envelope;

public sealed class AeadTests
{
    private static readonly byte[] Key = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
    private static readonly byte[] AssociatedData = Encoding.UTF8.GetBytes("context");

    [Fact]
    public void Seal_ThenOpen_RoundTrips()
    {
        var plaintext = Encoding.UTF8.GetBytes("attack at dawn");

        var sealedMessage = Aead.Seal(Key, plaintext, AssociatedData);

        Assert.Equal(plaintext.Length + Aead.Overhead, sealedMessage.Length);
        Assert.Equal(plaintext, Aead.Open(Key, sealedMessage, AssociatedData));
    }

    [Fact]
    public void Seal_EmptyPlaintext_RoundTrips()
    {
        var sealedMessage = Aead.Seal(Key, [], AssociatedData);

        Assert.Equal(Aead.Overhead, sealedMessage.Length);
        Assert.Empty(Aead.Open(Key, sealedMessage, AssociatedData));
    }

    [Fact]
    public void Seal_SamePlaintextTwice_UsesFreshNonces()
    {
        var plaintext = new byte[64];

        var a = Aead.Seal(Key, plaintext, AssociatedData);
        var b = Aead.Seal(Key, plaintext, AssociatedData);

        Assert.NotEqual(a[..Aead.NonceSize], b[..Aead.NonceSize]);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Open_AnyFlippedBit_Throws()
    {
        var sealedMessage = Aead.Seal(Key, new byte[40], AssociatedData);

        for (var position = 0; position < sealedMessage.Length; position++)
        {
            for (var bit = 0; bit < 8; bit++)
            {
                var tampered = sealedMessage.ToArray();
                tampered[position] ^= (byte)(1 << bit);
                Assert.Throws<EnvelopeException>(() => Aead.Open(Key, tampered, AssociatedData));
            }
        }
    }

    [Fact]
    public void Open_OtherAssociatedDataOrKey_Throws()
    {
        var sealedMessage = Aead.Seal(Key, new byte[8], AssociatedData);
        var otherKey = Key.ToArray();
        otherKey[0] ^= 1;

        Assert.Throws<EnvelopeException>(() => Aead.Open(Key, sealedMessage, Encoding.UTF8.GetBytes("Context")));
        Assert.Throws<EnvelopeException>(() => Aead.Open(Key, sealedMessage, []));
        Assert.Throws<EnvelopeException>(() => Aead.Open(otherKey, sealedMessage, AssociatedData));
    }

    [Fact]
    public void Open_Truncated_Throws()
    {
        var sealedMessage = Aead.Seal(Key, new byte[8], AssociatedData);

        for (var length = 0; length < sealedMessage.Length; length++)
        {
            Assert.Throws<EnvelopeException>(() => Aead.Open(Key, sealedMessage.AsSpan(0, length), AssociatedData));
        }
    }

    [Fact]
    public void Seal_WrongOutputLength_Throws()
    {
        Assert.Throws<ArgumentException>(() => Aead.Seal(Key, new byte[4], AssociatedData, new byte[4 + Aead.Overhead + 1]));
    }
}
