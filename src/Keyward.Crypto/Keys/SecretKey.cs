using System.Security.Cryptography;

namespace Keyward.Crypto.Keys;

/// <summary>
/// A 256-bit key held in a pinned buffer so that the garbage collector never copies it, and zeroed on
/// <see cref="Dispose"/>. Every key in Keyward's hierarchy lives in one of these while the server is unsealed.
/// </summary>
public sealed class SecretKey : IDisposable
{
    /// <summary>All keys in the hierarchy are AES-256 / HMAC-SHA256 keys.</summary>
    public const int SizeInBytes = 32;

    private readonly byte[] _buffer;
    private ThreadLocal<AesGcm>? _ciphers;
    private bool _disposed;

    private SecretKey()
    {
        _buffer = GC.AllocateUninitializedArray<byte>(SizeInBytes, pinned: true);
    }

    /// <summary>Copies <paramref name="material"/> into a new pinned key. The caller still owns (and should zero) its copy.</summary>
    public static SecretKey Import(ReadOnlySpan<byte> material)
    {
        if (material.Length != SizeInBytes)
        {
            throw new ArgumentException($"A key is exactly {SizeInBytes} bytes.", nameof(material));
        }

        var key = new SecretKey();
        material.CopyTo(key._buffer);
        return key;
    }

    /// <summary>A fresh random key from the platform's CSPRNG.</summary>
    public static SecretKey Generate()
    {
        var key = new SecretKey();
        RandomNumberGenerator.Fill(key._buffer);
        return key;
    }

    /// <summary>HKDF-SHA256 expansion of this key under a label of its own (one label per purpose).</summary>
    public SecretKey Derive(string label)
    {
        ArgumentException.ThrowIfNullOrEmpty(label);
        var derived = new SecretKey();
        Span<byte> info = stackalloc byte[System.Text.Encoding.UTF8.GetByteCount(label)];
        System.Text.Encoding.UTF8.GetBytes(label, info);
        HKDF.DeriveKey(HashAlgorithmName.SHA256, Bytes, derived._buffer, salt: ReadOnlySpan<byte>.Empty, info);
        return derived;
    }

    public ReadOnlySpan<byte> Bytes
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _buffer;
        }
    }

    public bool IsDisposed => _disposed;

    /// <summary>
    /// This thread's AES-256-GCM context for this key. Long-lived keys (tenant key versions, the wrapping key) are
    /// used on every request; building a native cipher context and key schedule per call cost more than the
    /// encryption itself. One context per thread, because a context is not safe to share; all are freed on dispose.
    /// </summary>
    internal AesGcm Cipher
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var ciphers = Volatile.Read(ref _ciphers);
            if (ciphers is null)
            {
                var created = new ThreadLocal<AesGcm>(() => new AesGcm(Bytes, Envelope.Aead.TagSize), trackAllValues: true);
                ciphers = Interlocked.CompareExchange(ref _ciphers, created, null) ?? created;
                if (!ReferenceEquals(ciphers, created))
                {
                    created.Dispose();
                }
            }

            return ciphers.Value!;
        }
    }

    /// <summary>Constant-time comparison of two keys.</summary>
    public bool FixedTimeEquals(SecretKey other) => CryptographicOperations.FixedTimeEquals(Bytes, other.Bytes);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (Interlocked.Exchange(ref _ciphers, null) is { } ciphers)
        {
            foreach (var cipher in ciphers.Values)
            {
                cipher.Dispose();
            }

            ciphers.Dispose();
        }

        CryptographicOperations.ZeroMemory(_buffer);
    }

    /// <summary>Never prints key material.</summary>
    public override string ToString() => "SecretKey(redacted)";
}
