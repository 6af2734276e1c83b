using System.Security.Cryptography;
using Keyward.Crypto.Keys;

namespace Keyward.Crypto.Envelope;

/// <summary>
/// AES-256-GCM with a fresh random 96-bit nonce per message. Output layout: <c>nonce(12) ‖ ciphertext ‖ tag(16)</c>.
/// </summary>
public static class Aead
{
    public const int NonceSize = 12;
    public const int TagSize = 16;
    public const int Overhead = NonceSize + TagSize;

    public static byte[] Seal(ReadOnlySpan<byte> key, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        var output = new byte[Overhead + plaintext.Length];
        Seal(key, plaintext, associatedData, output);
        return output;
    }

    /// <summary>Seals under a one-off key (a fresh data key): the cipher context lives for this call only.</summary>
    public static void Seal(ReadOnlySpan<byte> key, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData, Span<byte> output)
    {
        using var aes = new AesGcm(key, TagSize);
        Seal(aes, plaintext, associatedData, output);
    }

    /// <summary>Seals under a long-lived key, on this thread's cached cipher context.</summary>
    public static void Seal(SecretKey key, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData, Span<byte> output)
    {
        ArgumentNullException.ThrowIfNull(key);
        Seal(key.Cipher, plaintext, associatedData, output);
    }

    public static byte[] Seal(SecretKey key, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        var output = new byte[Overhead + plaintext.Length];
        Seal(key, plaintext, associatedData, output);
        return output;
    }

    /// <summary>Decrypts and authenticates under a one-off key; throws <see cref="EnvelopeException"/> on any tampering.</summary>
    public static byte[] Open(ReadOnlySpan<byte> key, ReadOnlySpan<byte> sealedMessage, ReadOnlySpan<byte> associatedData)
    {
        using var aes = new AesGcm(key, TagSize);
        return Open(aes, sealedMessage, associatedData);
    }

    /// <summary>Decrypts and authenticates under a long-lived key, on this thread's cached cipher context.</summary>
    public static byte[] Open(SecretKey key, ReadOnlySpan<byte> sealedMessage, ReadOnlySpan<byte> associatedData)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Open(key.Cipher, sealedMessage, associatedData);
    }

    private static void Seal(AesGcm aes, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData, Span<byte> output)
    {
        if (output.Length != Overhead + plaintext.Length)
        {
            throw new ArgumentException("Output must be exactly plaintext + nonce + tag long.", nameof(output));
        }

        var nonce = output[..NonceSize];
        RandomNumberGenerator.Fill(nonce);
        aes.Encrypt(nonce, plaintext, output.Slice(NonceSize, plaintext.Length), output[^TagSize..], associatedData);
    }

    internal static byte[] Open(AesGcm aes, ReadOnlySpan<byte> sealedMessage, ReadOnlySpan<byte> associatedData)
    {
        if (sealedMessage.Length < Overhead)
        {
            throw new EnvelopeException("The ciphertext is truncated.");
        }

        var plaintext = new byte[sealedMessage.Length - Overhead];
        try
        {
            aes.Decrypt(
                sealedMessage[..NonceSize],
                sealedMessage.Slice(NonceSize, plaintext.Length),
                sealedMessage[^TagSize..],
                plaintext,
                associatedData);
            return plaintext;
        }
        catch (AuthenticationTagMismatchException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw new EnvelopeException("The ciphertext failed authentication (tampered, or bound to another tenant, path or version).");
        }
    }
}
