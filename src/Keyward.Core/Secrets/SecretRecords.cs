namespace Keyward.Core.Secrets;

/// <summary>
/// Per-path metadata: the newest version number, the version cap and plaintext custom metadata (never secrets).
/// </summary>
public sealed record SecretMetadata(
    string TenantUid,
    string Path,
    long CurrentVersion,
    int MaxVersions,
    IReadOnlyDictionary<string, string> CustomMetadata,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>
/// One stored version. <see cref="Ciphertext"/> is the envelope (see <c>SecretEnvelope</c>) bound to tenant uid,
/// path and version; null once destroyed. <see cref="KeyVersion"/> names the tenant key it is sealed under.
/// </summary>
public sealed record SecretVersion(
    string TenantUid,
    string Path,
    long Version,
    int KeyVersion,
    byte[]? Ciphertext,
    DateTimeOffset CreatedAt,
    DateTimeOffset? DeletedAt,
    DateTimeOffset? DestroyedAt)
{
    public string State => DestroyedAt is not null ? "destroyed" : DeletedAt is not null ? "deleted" : "active";
}

/// <summary>A ciphertext to re-encrypt under the tenant's newest key.</summary>
public sealed record RewrapCandidate(string Path, long Version, int KeyVersion, byte[] Ciphertext);

/// <summary>Storage port for versioned secrets.</summary>
public interface ISecretStore
{
    Task<SecretMetadata?> GetMetadataAsync(string tenantUid, string path, CancellationToken cancellationToken = default);

    Task UpsertMetadataAsync(SecretMetadata metadata, CancellationToken cancellationToken = default);

    /// <summary>Removes the metadata and every version of a path.</summary>
    Task<bool> DeleteAllAsync(string tenantUid, string path, CancellationToken cancellationToken = default);

    /// <summary>The hot read: metadata and one version (the current one when <paramref name="version"/> is null) in one round trip.</summary>
    Task<(SecretMetadata Metadata, SecretVersion? Version)?> ReadAsync(
        string tenantUid, string path, long? version, CancellationToken cancellationToken = default);

    /// <summary>Versions of a path without their ciphertexts, oldest first.</summary>
    Task<IReadOnlyList<SecretVersion>> ListVersionsAsync(string tenantUid, string path, CancellationToken cancellationToken = default);

    Task InsertVersionAsync(SecretVersion version, CancellationToken cancellationToken = default);

    /// <summary>Soft-deletes (<paramref name="at"/> set) or undeletes (null) versions that are not destroyed; returns how many changed.</summary>
    Task<int> SetDeletedAsync(string tenantUid, string path, IReadOnlyCollection<long> versions, DateTimeOffset? at, CancellationToken cancellationToken = default);

    /// <summary>Erases ciphertexts for good; returns how many were destroyed now.</summary>
    Task<int> DestroyAsync(string tenantUid, string path, IReadOnlyCollection<long> versions, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Deletes versions older than <paramref name="keepFrom"/> (the max-versions cap).</summary>
    Task<int> PruneAsync(string tenantUid, string path, long keepFrom, CancellationToken cancellationToken = default);

    /// <summary>Paths equal to or under <paramref name="prefix"/> (whole segments; empty = all), ordered.</summary>
    Task<IReadOnlyList<string>> ListPathsAsync(string tenantUid, string prefix, CancellationToken cancellationToken = default);

    /// <summary>Live ciphertexts under key versions older than <paramref name="keyVersion"/>, in (path, version) order after the cursor.</summary>
    Task<IReadOnlyList<RewrapCandidate>> ListForRewrapAsync(
        string tenantUid, int keyVersion, (string Path, long Version)? after, int limit, CancellationToken cancellationToken = default);

    Task<long> CountForRewrapAsync(string tenantUid, int keyVersion, CancellationToken cancellationToken = default);

    /// <summary>Replaces a ciphertext only if it is still sealed under <paramref name="expectedKeyVersion"/>.</summary>
    Task<bool> ReplaceCiphertextAsync(
        string tenantUid, string path, long version, int expectedKeyVersion, int newKeyVersion, byte[] ciphertext,
        CancellationToken cancellationToken = default);
}
