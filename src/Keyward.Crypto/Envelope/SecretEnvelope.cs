using System.Buffers.Binary;
using System.Security.Cryptography;
using Keyward.Crypto.Keys;

namespace Keyward.Crypto.Envelope;

/// <summary>
/// Envelope encryption of one stored value: a fresh random data key per value, itself sealed under the tenant's
/// current key-encryption key. Layout (format 1):
/// <code>
/// [0]       format (1)
/// [1..4]    KEK version, int32 big-endian
/// [5..64]   wrapped data key: AES-GCM(KEK, dek, AD = ctx ‖ header)   nonce 12 ‖ ct 32 ‖ tag 16
/// [65..]    value: AES-GCM(dek, plaintext, AD = ctx ‖ header)         nonce 12 ‖ ct ‖ tag 16
/// </code>
/// The header is bound into both associated data, so editing the key version breaks authentication too.
/// </summary>
public static class SecretEnvelope
{
    public const byte FormatVersion = 1;
    private const int HeaderLength = 5;
    private const int WrappedKeyLength = Aead.Overhead + SecretKey.SizeInBytes;
    private const string DataKeyDomain = "keyward/v1/dek";
    private const string ValueDomain = "keyward/v1/value";

    public static int Overhead => HeaderLength + WrappedKeyLength + Aead.Overhead;

    public static byte[] Encrypt(KeyRing ring, EnvelopeContext context, ReadOnlySpan<byte> plaintext)
    {
        ArgumentNullException.ThrowIfNull(ring);
        var output = new byte[Overhead + plaintext.Length];
        output[0] = FormatVersion;
        BinaryPrimitives.WriteInt32BigEndian(output.AsSpan(1), ring.CurrentVersion);
        var header = output.AsSpan(0, HeaderLength).ToArray();

        Span<byte> dataKey = stackalloc byte[SecretKey.SizeInBytes];
        RandomNumberGenerator.Fill(dataKey);
        try
        {
            Aead.Seal(ring.Current, dataKey, context.Encode(DataKeyDomain, header), output.AsSpan(HeaderLength, WrappedKeyLength));
            Aead.Seal(dataKey, plaintext, context.Encode(ValueDomain, header), output.AsSpan(HeaderLength + WrappedKeyLength));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }

        return output;
    }

    public static byte[] Decrypt(KeyRing ring, EnvelopeContext context, ReadOnlySpan<byte> payload)
    {
        var dataKey = UnwrapDataKey(ring, context, payload);
        try
        {
            using var cipher = new AesGcm(dataKey, Aead.TagSize);
            return DecryptValue(cipher, context, payload);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }
    }

    /// <summary>The payload's data key, unwrapped with the ring version its header names. The caller zeroes it.</summary>
    internal static byte[] UnwrapDataKey(KeyRing ring, EnvelopeContext context, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(ring);
        var version = ReadKeyVersion(payload);
        if (!ring.TryGet(version, out var keyEncryptionKey))
        {
            throw new EnvelopeException($"The ciphertext names key version {version}, which this key ring does not hold.");
        }

        return Aead.Open(keyEncryptionKey, payload.Slice(HeaderLength, WrappedKeyLength), context.Encode(DataKeyDomain, payload[..HeaderLength]));
    }

    internal static byte[] DecryptValue(AesGcm dataKey, EnvelopeContext context, ReadOnlySpan<byte> payload)
    {
        ReadKeyVersion(payload);
        return Aead.Open(dataKey, payload[(HeaderLength + WrappedKeyLength)..], context.Encode(ValueDomain, payload[..HeaderLength]));
    }

    /// <summary>The key-encryption-key version a payload was sealed under (for rewrap progress).</summary>
    public static int ReadKeyVersion(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < Overhead)
        {
            throw new EnvelopeException("The ciphertext is truncated.");
        }

        if (payload[0] != FormatVersion)
        {
            throw new EnvelopeException($"Unknown envelope format {payload[0]}.");
        }

        return BinaryPrimitives.ReadInt32BigEndian(payload[1..]);
    }
}
