using System.Security.Cryptography;

namespace Keyward.Crypto.Envelope;

/// <summary>
/// A sealed value's data key, unwrapped once and kept as an AES-GCM context so that repeated reads of the same
/// version skip the unwrap and the context set-up (most of a decryption's cost). Used under a lock (a context is
/// not thread-safe); after <see cref="Dispose"/> every use reports failure, and callers fall back to
/// <see cref="SecretEnvelope.Decrypt"/>. Holds no more than the tenant key ring it was opened with already can.
/// </summary>
public sealed class OpenedEnvelope : IDisposable
{
    private readonly Lock _gate = new();
    private readonly AesGcm _cipher;
    private bool _disposed;

    private OpenedEnvelope(AesGcm cipher) => _cipher = cipher;

    /// <summary>Unwraps the data key of <paramref name="payload"/>; throws <see cref="EnvelopeException"/> if it does not authenticate.</summary>
    public static OpenedEnvelope Open(KeyRing ring, EnvelopeContext context, ReadOnlySpan<byte> payload)
    {
        var dataKey = SecretEnvelope.UnwrapDataKey(ring, context, payload);
        try
        {
            return new OpenedEnvelope(new AesGcm(dataKey, Aead.TagSize));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }
    }

    /// <summary>Decrypts the payload this key was opened from; false once disposed. Throws on tampering.</summary>
    public bool TryDecrypt(EnvelopeContext context, ReadOnlySpan<byte> payload, out byte[] plaintext)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                plaintext = [];
                return false;
            }

            plaintext = SecretEnvelope.DecryptValue(_cipher, context, payload);
            return true;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _disposed = true;
                _cipher.Dispose();
            }
        }
    }
}
