using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Keyward.Crypto.Shamir;

/// <summary>
/// One unseal key share as handed to an operator: base64 of
/// <c>[format 1][set id, 4 bytes][x][y, 32 bytes]</c>. The set id names the initialization the share came from,
/// so a share from another server (or an earlier init) is refused at once with a clear message instead of
/// silently producing a wrong key.
/// </summary>
public sealed class KeyShare : IDisposable
{
    public const byte FormatVersion = 1;
    private const int HeaderLength = 1 + 4 + 1;

    public KeyShare(uint setId, byte x, byte[] y)
    {
        ArgumentNullException.ThrowIfNull(y);
        SetId = setId;
        X = x;
        Y = y;
    }

    public uint SetId { get; }

    public byte X { get; }

    public byte[] Y { get; }

    public string Encode()
    {
        var buffer = new byte[HeaderLength + Y.Length];
        try
        {
            buffer[0] = FormatVersion;
            BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(1), SetId);
            buffer[5] = X;
            Y.CopyTo(buffer, HeaderLength);
            return Convert.ToBase64String(buffer);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer);
        }
    }

    /// <summary>Parses an encoded share; the reason for a refusal never repeats the input.</summary>
    public static bool TryParse(string? text, int secretLength, out KeyShare? share, out string? reason)
    {
        share = null;
        reason = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            reason = "the key is empty";
            return false;
        }

        var expected = HeaderLength + secretLength;
        var buffer = new byte[expected + 3];
        try
        {
            if (!Convert.TryFromBase64String(text.Trim(), buffer, out var written))
            {
                reason = "the key is not valid base64 or has the wrong length";
                return false;
            }

            if (written != expected)
            {
                reason = "the key has the wrong length";
                return false;
            }

            if (buffer[0] != FormatVersion)
            {
                reason = $"unknown key share format {buffer[0]}";
                return false;
            }

            if (buffer[5] == 0)
            {
                reason = "the key share is malformed";
                return false;
            }

            share = new KeyShare(
                BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(1)),
                buffer[5],
                buffer.AsSpan(HeaderLength, secretLength).ToArray());
            return true;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer);
        }
    }

    public void Dispose() => CryptographicOperations.ZeroMemory(Y);

    public override string ToString() => $"KeyShare(set {SetId:x8}, x {X}, redacted)";
}
