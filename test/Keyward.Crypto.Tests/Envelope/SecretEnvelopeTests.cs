using System.Buffers.Binary;
using Keyward.Crypto.Envelope;
using Keyward.Crypto.Keys;

namespace Keyward.Crypto.Tests.Envelope;

public sealed class SecretEnvelopeTests : IDisposable
{
    private const string TenantUid = "0123456789abcdef0123456789abcdef";
    private static readonly EnvelopeContext Context = EnvelopeContext.ForSecret(TenantUid, "app/db/password", 3);

    private readonly SecretKey _k1 = SecretKey.Generate();
    private readonly SecretKey _k2 = SecretKey.Generate();

    public void Dispose()
    {
        _k1.Dispose();
        _k2.Dispose();
    }

    [Fact]
    public void Encrypt_ThenDecrypt_RoundTrips()
    {
        using var ring = Ring((1, _k1));
        var plaintext = Value(256);

        var payload = SecretEnvelope.Encrypt(ring, Context, plaintext);

        Assert.Equal(plaintext, SecretEnvelope.Decrypt(ring, Context, payload));
    }

    [Fact]
    public void Encrypt_Layout_HeaderNamesFormatAndCurrentKeyVersion()
    {
        using var ring = Ring((1, _k1), (7, _k2));
        var plaintext = Value(10);

        var payload = SecretEnvelope.Encrypt(ring, Context, plaintext);

        Assert.Equal(SecretEnvelope.Overhead + plaintext.Length, payload.Length);
        Assert.Equal(5 + 60 + 28, SecretEnvelope.Overhead);
        Assert.Equal(SecretEnvelope.FormatVersion, payload[0]);
        Assert.Equal(7, BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(1)));
        Assert.Equal(7, SecretEnvelope.ReadKeyVersion(payload));
        Assert.Equal(-1, payload.AsSpan().IndexOf(plaintext));
    }

    [Fact]
    public void Encrypt_EmptyPlaintext_RoundTrips()
    {
        using var ring = Ring((1, _k1));

        var payload = SecretEnvelope.Encrypt(ring, Context, []);

        Assert.Empty(SecretEnvelope.Decrypt(ring, Context, payload));
    }

    [Fact]
    public void Decrypt_AnySingleByteFlipped_ThrowsEnvelopeException()
    {
        using var ring = Ring((1, _k1), (2, _k2));
        var payload = SecretEnvelope.Encrypt(ring, Context, Value(256));

        for (var position = 0; position < payload.Length; position++)
        {
            foreach (var mask in new byte[] { 0x01, 0x80, 0xFF })
            {
                var tampered = payload.ToArray();
                tampered[position] ^= mask;
                var error = Record.Exception(() => SecretEnvelope.Decrypt(ring, Context, tampered));
                Assert.True(error is EnvelopeException, $"byte {position} ^ 0x{mask:x2}: {error?.GetType().Name ?? "decrypted"}");
            }
        }
    }

    [Fact]
    public void Decrypt_OtherTenantPathVersionOrPurpose_Throws()
    {
        using var ring = Ring((1, _k1));
        var payload = SecretEnvelope.Encrypt(ring, Context, Value(32));
        var others = new[]
        {
            Context with { TenantUid = "fedcba9876543210fedcba9876543210" },
            Context with { Path = "app/db/Password" },
            Context with { Path = "app/db" },
            Context with { Version = 2 },
            Context with { Version = 4 },
            Context with { Purpose = "metadata" },
        };

        foreach (var other in others)
        {
            Assert.Throws<EnvelopeException>(() => SecretEnvelope.Decrypt(ring, other, payload));
        }
    }

    [Fact]
    public void Decrypt_FieldBoundaryShifted_Throws()
    {
        // Length-prefixed fields: uid "ab" + path "c" must not equal uid "a" + path "bc".
        using var ring = Ring((1, _k1));
        var payload = SecretEnvelope.Encrypt(ring, EnvelopeContext.ForSecret("ab", "c", 1), Value(8));

        Assert.Throws<EnvelopeException>(() => SecretEnvelope.Decrypt(ring, EnvelopeContext.ForSecret("a", "bc", 1), payload));
        Assert.NotEqual(
            EnvelopeContext.ForSecret("ab", "c", 1).Encode("d", []),
            EnvelopeContext.ForSecret("a", "bc", 1).Encode("d", []));
    }

    [Fact]
    public void Decrypt_KeyVersionHeaderEdited_Throws()
    {
        // Both versions are in the ring, so only the header binding can catch the edit.
        using var ring = Ring((1, _k1), (2, _k2));
        var payload = SecretEnvelope.Encrypt(ring, Context, Value(16));
        var edited = payload.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(edited.AsSpan(1), 1);

        Assert.Throws<EnvelopeException>(() => SecretEnvelope.Decrypt(ring, Context, edited));
    }

    [Fact]
    public void Decrypt_OldVersionAfterRotation_StillOpens()
    {
        byte[] payload;
        using (var before = Ring((1, _k1)))
        {
            payload = SecretEnvelope.Encrypt(before, Context, Value(16));
        }

        using var after = Ring((1, _k1), (2, _k2));

        Assert.Equal(1, SecretEnvelope.ReadKeyVersion(payload));
        Assert.Equal(Value(16), SecretEnvelope.Decrypt(after, Context, payload));
        Assert.Equal(2, SecretEnvelope.ReadKeyVersion(SecretEnvelope.Encrypt(after, Context, Value(16))));
    }

    [Fact]
    public void Decrypt_RingLackingTheVersion_Throws()
    {
        using var writer = Ring((1, _k1));
        var payload = SecretEnvelope.Encrypt(writer, Context, Value(16));
        using var other = Ring((2, _k1));

        var error = Assert.Throws<EnvelopeException>(() => SecretEnvelope.Decrypt(other, Context, payload));

        Assert.Contains("version 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decrypt_SameVersionOtherKey_Throws()
    {
        using var writer = Ring((1, _k1));
        var payload = SecretEnvelope.Encrypt(writer, Context, Value(16));
        using var other = Ring((1, _k2));

        Assert.Throws<EnvelopeException>(() => SecretEnvelope.Decrypt(other, Context, payload));
    }

    [Fact]
    public void Decrypt_Truncated_Throws()
    {
        using var ring = Ring((1, _k1));
        var payload = SecretEnvelope.Encrypt(ring, Context, Value(20));

        for (var length = 0; length < payload.Length; length++)
        {
            var truncated = payload[..length];
            Assert.Throws<EnvelopeException>(() => SecretEnvelope.Decrypt(ring, Context, truncated));
        }
    }

    [Fact]
    public void Decrypt_UnknownFormat_Throws()
    {
        using var ring = Ring((1, _k1));
        var payload = SecretEnvelope.Encrypt(ring, Context, Value(20));
        payload[0] = 2;

        var error = Assert.Throws<EnvelopeException>(() => SecretEnvelope.Decrypt(ring, Context, payload));

        Assert.Contains("format", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Encrypt_SamePlaintextTwice_DiffersInBothNonces()
    {
        using var ring = Ring((1, _k1));
        var plaintext = Value(32);

        var a = SecretEnvelope.Encrypt(ring, Context, plaintext);
        var b = SecretEnvelope.Encrypt(ring, Context, plaintext);

        Assert.NotEqual(a[5..17], b[5..17]); // data-key nonce
        Assert.NotEqual(a[65..77], b[65..77]); // value nonce
        Assert.NotEqual(a[77..], b[77..]);
    }

    [Fact]
    public void ReadKeyVersion_Truncated_Throws()
    {
        Assert.Throws<EnvelopeException>(() => SecretEnvelope.ReadKeyVersion(new byte[SecretEnvelope.Overhead - 1]));
    }

    private static KeyRing Ring(params (int Version, SecretKey Key)[] keys) =>
        new(keys.ToDictionary(k => k.Version, k => Copy(k.Key)));

    private static SecretKey Copy(SecretKey key) => SecretKey.Import(key.Bytes);

    private static byte[] Value(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray();
}
