using System.Security.Cryptography;

namespace Keyward.Crypto.Keys;

/// <summary>
/// The root of the key hierarchy, held only in memory while unsealed. At rest it exists only as Shamir shares
/// (and, in the unattended mode the operator opts into, a key file). Everything else is derived from it.
/// </summary>
public sealed class RootKey : IDisposable
{
    private static readonly byte[] CheckMessage = "keyward root key check v1"u8.ToArray();

    private readonly SecretKey _key;

    private RootKey(SecretKey key)
    {
        _key = key;
        TenantKeyWrapping = key.Derive(KeyLabels.TenantKeyWrapping);
        AuditChain = key.Derive(KeyLabels.AuditChain);
        AuditCheckpoint = key.Derive(KeyLabels.AuditCheckpoint);
        AuditIdentifiers = key.Derive(KeyLabels.AuditIdentifiers);
        Attenuation = key.Derive(KeyLabels.Attenuation);
    }

    public static RootKey Generate() => new(SecretKey.Generate());

    public static RootKey Import(ReadOnlySpan<byte> material) => new(SecretKey.Import(material));

    public SecretKey TenantKeyWrapping { get; }

    public SecretKey AuditChain { get; }

    public SecretKey AuditCheckpoint { get; }

    public SecretKey AuditIdentifiers { get; }

    /// <summary>K_att: keys the root tags of agent sessions from which holders derive attenuated tokens offline.</summary>
    public SecretKey Attenuation { get; }

    /// <summary>Raw root key bytes, for splitting into shares at initialization only.</summary>
    public ReadOnlySpan<byte> Material => _key.Bytes;

    /// <summary>
    /// A value stored beside the seal configuration that proves a reconstructed key is the right one:
    /// HMAC(HKDF(root, "root-check"), constant). It reveals nothing about the key.
    /// </summary>
    public byte[] ComputeCheck()
    {
        using var checkKey = _key.Derive(KeyLabels.RootCheck);
        return HMACSHA256.HashData(checkKey.Bytes, CheckMessage);
    }

    public bool MatchesCheck(ReadOnlySpan<byte> storedCheck)
    {
        var check = ComputeCheck();
        return CryptographicOperations.FixedTimeEquals(check, storedCheck);
    }

    public void Dispose()
    {
        TenantKeyWrapping.Dispose();
        AuditChain.Dispose();
        AuditCheckpoint.Dispose();
        AuditIdentifiers.Dispose();
        Attenuation.Dispose();
        _key.Dispose();
    }

    public override string ToString() => "RootKey(redacted)";
}
