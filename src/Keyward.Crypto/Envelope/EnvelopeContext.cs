using System.Buffers.Binary;
using System.Text;

namespace Keyward.Crypto.Envelope;

/// <summary>
/// What a ciphertext is bound to through AEAD associated data: its purpose, the tenant's internal random uid,
/// the path and the version. A ciphertext copied to another tenant, path, version or purpose fails to decrypt.
/// </summary>
public readonly record struct EnvelopeContext(string Purpose, string TenantUid, string Path, long Version)
{
    public const string SecretPurpose = "secret";

    public static EnvelopeContext ForSecret(string tenantUid, string path, long version)
        => new(SecretPurpose, tenantUid, path, version);

    public const string EnginePurpose = "engine";

    /// <summary>A secrets engine's sealed settings (a connection's password): <c>engine/name/item</c> (names hold no '/').</summary>
    public static EnvelopeContext ForEngine(string tenantUid, string engine, string name, string item, long version)
        => new(EnginePurpose, tenantUid, $"{engine}/{name}/{item}", version);

    public const string WrappingPurpose = "wrapping";

    /// <summary>
    /// A wrapped response (response wrapping): bound to the tenant and the wrapping token's accessor, so a payload
    /// moved to another row or another tenant fails to decrypt.
    /// </summary>
    public static EnvelopeContext ForWrapping(string tenantUid, string accessor)
        => new(WrappingPurpose, tenantUid, accessor, 0);

    /// <summary>
    /// Unambiguous encoding: a domain prefix, then each field length-prefixed, so no two different contexts
    /// can produce the same bytes.
    /// </summary>
    public byte[] Encode(string domain, ReadOnlySpan<byte> header)
    {
        var fields = new[] { domain, Purpose, TenantUid, Path };
        var length = 8 + 2 + header.Length;
        foreach (var field in fields)
        {
            length += 2 + Encoding.UTF8.GetByteCount(field);
        }

        var buffer = new byte[length];
        var offset = 0;
        foreach (var field in fields)
        {
            var count = Encoding.UTF8.GetBytes(field, buffer.AsSpan(offset + 2));
            BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(offset), checked((ushort)count));
            offset += 2 + count;
        }

        BinaryPrimitives.WriteInt64BigEndian(buffer.AsSpan(offset), Version);
        offset += 8;
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(offset), checked((ushort)header.Length));
        header.CopyTo(buffer.AsSpan(offset + 2));
        return buffer;
    }

    public override string ToString() => $"{Purpose}:{TenantUid}:{Path}#{Version}";
}
