namespace Keyward.Crypto.Keys;

/// <summary>
/// HKDF labels: every key derived from the root key has its own, so that a key used for one purpose can never
/// be confused with another. Changing a label orphans every record written under it; they are versioned.
/// </summary>
public static class KeyLabels
{
    /// <summary>Checks a reconstructed root key against the stored check value without revealing it.</summary>
    public const string RootCheck = "keyward/v1/root-check";

    /// <summary>Wraps each tenant's key-encryption keys.</summary>
    public const string TenantKeyWrapping = "keyward/v1/tenant-kek-wrap";

    /// <summary>Chains audit records: hash = HMAC(K_audit, prev_hash ‖ record).</summary>
    public const string AuditChain = "keyward/v1/audit-chain";

    /// <summary>MACs audit checkpoints {seq, hash}.</summary>
    public const string AuditCheckpoint = "keyward/v1/audit-checkpoint";

    /// <summary>Keyed hashes of identifiers (presented tokens) that audit records name without revealing.</summary>
    public const string AuditIdentifiers = "keyward/v1/audit-identifiers";

    /// <summary>Root tags of agent sessions for offline attenuation (derived kwd_ tokens): t0 = HMAC(K_att, accessor).</summary>
    public const string Attenuation = "keyward/v1/attenuation";
}
