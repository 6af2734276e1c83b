using System.Buffers.Binary;
using System.Text;
using Keyward.Crypto.Keys;

namespace Keyward.Crypto.Envelope;

/// <summary>
/// Wraps a tenant key-encryption key under the root-derived wrapping key, bound to the tenant uid and the key
/// version, so a wrapped key moved to another tenant or version does not unwrap.
/// </summary>
public static class KeyWrapper
{
    public static byte[] Wrap(SecretKey wrappingKey, SecretKey key, string tenantUid, int version)
        => Aead.Seal(wrappingKey, key.Bytes, AssociatedData(tenantUid, version));

    public static SecretKey Unwrap(SecretKey wrappingKey, ReadOnlySpan<byte> wrapped, string tenantUid, int version)
    {
        var material = Aead.Open(wrappingKey, wrapped, AssociatedData(tenantUid, version));
        try
        {
            return SecretKey.Import(material);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(material);
        }
    }

    private static byte[] AssociatedData(string tenantUid, int version)
    {
        var prefix = "keyward/v1/tenant-kek\0"u8;
        var uid = Encoding.UTF8.GetBytes(tenantUid);
        var buffer = new byte[prefix.Length + uid.Length + 4];
        prefix.CopyTo(buffer);
        uid.CopyTo(buffer, prefix.Length);
        BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(prefix.Length + uid.Length), version);
        return buffer;
    }
}
