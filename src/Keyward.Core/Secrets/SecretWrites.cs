using Keyward.Core.Errors;
using Keyward.Core.Storage;
using Keyward.Crypto.Envelope;

namespace Keyward.Core.Secrets;

/// <summary>
/// The steps every change of a secret's versions shares, inside the changing transaction: seal and insert a version,
/// open one, and apply the max-versions cap without dropping a version that holds a stage.
/// </summary>
internal static class SecretWrites
{
    /// <summary>Seals <paramref name="data"/> under the tenant's current key, bound to tenant uid, path and version, and inserts it.</summary>
    public static Task InsertAsync(IWriteSession session, KeyRing ring, string tenantUid, string path, long version, ReadOnlySpan<byte> data, DateTimeOffset at)
    {
        var ciphertext = SecretEnvelope.Encrypt(ring, EnvelopeContext.ForSecret(tenantUid, path, version), data);
        return session.Secrets.InsertVersionAsync(new SecretVersion(tenantUid, path, version, ring.CurrentVersion, ciphertext, at, null, null));
    }

    /// <summary>
    /// The stored version a read asked for, if it can be read: missing → 404 <c>version_not_found</c>; destroyed → 404
    /// <c>version_destroyed</c> when the caller <paramref name="named"/> the version, else <c>secret_deleted</c> (a read of
    /// the current version never falls back to another); soft-deleted → 404 <c>secret_deleted</c>.
    /// </summary>
    public static SecretVersion RequireReadable(SecretVersion? stored, string path, long wanted, bool named)
    {
        if (stored is null)
        {
            throw KeywardErrors.VersionNotFound(path, wanted);
        }

        if (stored.DestroyedAt is not null)
        {
            throw named ? KeywardErrors.VersionDestroyed(path, wanted) : KeywardErrors.SecretDeleted(path, wanted);
        }

        return stored.DeletedAt is not null || stored.Ciphertext is null ? throw KeywardErrors.SecretDeleted(path, wanted) : stored;
    }

    /// <summary>The plaintext of a stored version that is neither deleted nor destroyed (the caller zeroes it).</summary>
    public static byte[] Open(KeyRing ring, SecretVersion stored)
    {
        if (stored.DeletedAt is not null || stored.Ciphertext is null)
        {
            throw KeywardErrors.SecretDeleted(stored.Path, stored.Version);
        }

        try
        {
            return SecretEnvelope.Decrypt(ring, EnvelopeContext.ForSecret(stored.TenantUid, stored.Path, stored.Version), stored.Ciphertext);
        }
        catch (EnvelopeException)
        {
            throw KeywardErrors.Undecryptable(stored.Path, stored.Version);
        }
    }

    /// <summary>Deletes versions beyond the newest <c>max_versions</c>, keeping every version that holds a stage.</summary>
    public static async Task PruneAsync(IWriteSession session, SecretMetadata metadata)
    {
        var keepFrom = metadata.LatestVersion - metadata.MaxVersions + 1;
        if (keepFrom > 1)
        {
            long[] staged = [.. new[] { metadata.CurrentVersion, metadata.PendingVersion ?? 0, metadata.PreviousVersion ?? 0 }.Where(v => v > 0 && v < keepFrom)];
            await session.Secrets.PruneAsync(metadata.TenantUid, metadata.Path, keepFrom, staged);
        }
    }
}
