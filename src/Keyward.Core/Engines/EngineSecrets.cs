using Keyward.Core.Errors;
using Keyward.Crypto.Envelope;

namespace Keyward.Core.Engines;

/// <summary>Seals and opens an engine configuration's secret fields under the tenant's key ring, like a secret's value.</summary>
public static class EngineSecrets
{
    public static byte[] Seal(KeyRing ring, string tenantUid, string engine, string name, string item, long version, ReadOnlySpan<byte> plaintext) =>
        SecretEnvelope.Encrypt(ring, EnvelopeContext.ForEngine(tenantUid, engine, name, item, version), plaintext);

    /// <summary>The plaintext (the caller zeroes it); a row without sealed fields opens to nothing.</summary>
    public static byte[] Open(KeyRing ring, EngineConfig config)
    {
        if (config.Sealed is null)
        {
            return [];
        }

        try
        {
            return SecretEnvelope.Decrypt(ring, EnvelopeContext.ForEngine(config.TenantUid, config.Engine, config.Name, config.Item, config.Version), config.Sealed);
        }
        catch (EnvelopeException)
        {
            throw KeywardErrors.Undecryptable($"{config.Engine}/{config.Name}", config.Version);
        }
    }
}
