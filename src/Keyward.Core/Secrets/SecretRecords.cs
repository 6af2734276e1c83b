using Keyward.Core.Rotation;

namespace Keyward.Core.Secrets;

/// <summary>
/// Per-path metadata: the current version, the version cap and plaintext custom metadata (never secrets), plus the
/// rotation lifecycle: which versions hold the <c>pending</c> and <c>previous</c> stages, the epoch (it grows with every
/// write, promotion and rollback), when the previous version stopped being current (its grace window starts then),
/// the rotation policy, the uses of the current version and when the scheduler rotates it next.
/// </summary>
public sealed record SecretMetadata(
    string TenantUid,
    string Path,
    long CurrentVersion,
    int MaxVersions,
    IReadOnlyDictionary<string, string> CustomMetadata,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    private readonly long _latestVersion;

    /// <summary>The highest version number given out (a pending version is newer than the current one).</summary>
    public long LatestVersion
    {
        get => Math.Max(_latestVersion, Math.Max(CurrentVersion, PendingVersion ?? 0));
        init => _latestVersion = value;
    }

    public long? PendingVersion { get; init; }

    public long? PreviousVersion { get; init; }

    /// <summary>When <see cref="PreviousVersion"/> stopped being current.</summary>
    public DateTimeOffset? PreviousSince { get; init; }

    public long Epoch { get; init; }

    public RotationPolicy? Rotation { get; init; }

    /// <summary>Successful reads of the current version since it became current (counted when the policy has max_uses).</summary>
    public long Uses { get; init; }

    /// <summary>When the scheduler rotates this secret next (the policy's period after the current version became current).</summary>
    public DateTimeOffset? NextRotationAt { get; init; }

    /// <summary>How long the previous version stays readable by stage after it stopped being current.</summary>
    public TimeSpan EffectiveGrace => Rotation?.EffectiveGrace ?? RotationPolicy.DefaultGrace;

    /// <summary>The stage a version holds, or null.</summary>
    public SecretStage? StageOf(long version) =>
        version == CurrentVersion ? SecretStage.Current
        : version == PendingVersion ? SecretStage.Pending
        : version == PreviousVersion ? SecretStage.Previous
        : null;

    /// <summary>The version holding <paramref name="stage"/>, or null.</summary>
    public long? VersionOf(SecretStage stage) => stage switch
    {
        SecretStage.Current => CurrentVersion == 0 ? null : CurrentVersion,
        SecretStage.Pending => PendingVersion,
        _ => PreviousVersion,
    };

    /// <summary>
    /// This metadata with <paramref name="version"/> made current at <paramref name="at"/>: the old current becomes
    /// previous (its grace window starts), the epoch grows, the use count restarts and the next scheduled rotation is
    /// a period away.
    /// </summary>
    public SecretMetadata WithCurrent(long version, DateTimeOffset at) => this with
    {
        CurrentVersion = version,
        LatestVersion = Math.Max(LatestVersion, version),
        PendingVersion = PendingVersion == version ? null : PendingVersion,
        PreviousVersion = CurrentVersion == 0 || CurrentVersion == version ? PreviousVersion : CurrentVersion,
        PreviousSince = CurrentVersion == 0 || CurrentVersion == version ? PreviousSince : at,
        Epoch = Epoch + 1,
        Uses = 0,
        NextRotationAt = Rotation?.Period is { } period ? at + period : null,
        UpdatedAt = at,
    };
}

/// <summary>The stages a version can hold; at most one version holds each.</summary>
public enum SecretStage
{
    Current,
    Previous,
    Pending,
}

public static class SecretStages
{
    public static string Name(SecretStage stage) => stage switch
    {
        SecretStage.Current => "current",
        SecretStage.Previous => "previous",
        _ => "pending",
    };

    public static bool TryParse(string? text, out SecretStage stage)
    {
        switch (text)
        {
            case "current":
                stage = SecretStage.Current;
                return true;
            case "previous":
                stage = SecretStage.Previous;
                return true;
            case "pending":
                stage = SecretStage.Pending;
                return true;
            default:
                stage = default;
                return false;
        }
    }
}

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
    /// <summary>
    /// In a write session, reads the metadata for a change (engines with row locks lock the row: every read-modify-write
    /// of a secret's metadata — writes, promotions, rollbacks, counted uses — is serialized per path).
    /// </summary>
    Task<SecretMetadata?> GetMetadataAsync(string tenantUid, string path, CancellationToken cancellationToken = default);

    Task UpsertMetadataAsync(SecretMetadata metadata, CancellationToken cancellationToken = default);

    /// <summary>Removes the metadata and every version of a path.</summary>
    Task<bool> DeleteAllAsync(string tenantUid, string path, CancellationToken cancellationToken = default);

    /// <summary>
    /// The hot read: metadata and one version in one round trip — version <paramref name="version"/>, or when it is
    /// null the version holding <paramref name="stage"/> (null Version when no version holds it).
    /// </summary>
    Task<(SecretMetadata Metadata, SecretVersion? Version)?> ReadAsync(
        string tenantUid, string path, long? version, SecretStage stage = SecretStage.Current, CancellationToken cancellationToken = default);

    /// <summary>
    /// Counts one use of the current version atomically (one conditional UPDATE, which also locks the row for the rest
    /// of the transaction in engines with row locks) and returns the uses so far, or null when the path has no metadata.
    /// </summary>
    Task<long?> CountUseAsync(string tenantUid, string path, CancellationToken cancellationToken = default);

    /// <summary>
    /// Claims up to <paramref name="limit"/> secrets whose scheduled rotation is due at <paramref name="now"/> and that
    /// nobody holds a live claim on, for <paramref name="node"/> until <paramref name="until"/>; returns what was claimed.
    /// Two nodes never claim the same secret at once (SQLite: one writer; PostgreSQL: <c>FOR UPDATE SKIP LOCKED</c>). An
    /// expired claim (its node died) is claimed again.
    /// </summary>
    Task<IReadOnlyList<(string TenantUid, string Path)>> ClaimDueRotationsAsync(
        DateTimeOffset now, string node, DateTimeOffset until, int limit, CancellationToken cancellationToken = default);

    /// <summary>Whether <paramref name="node"/> still holds a live claim on the secret at <paramref name="now"/> (the fence each step checks).</summary>
    Task<bool> HoldsRotationClaimAsync(string tenantUid, string path, string node, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>Gives up <paramref name="node"/>'s claim on the secret (no-op if it holds none).</summary>
    Task ReleaseRotationClaimAsync(string tenantUid, string path, string node, CancellationToken cancellationToken = default);

    /// <summary>Versions of a path without their ciphertexts, oldest first.</summary>
    Task<IReadOnlyList<SecretVersion>> ListVersionsAsync(string tenantUid, string path, CancellationToken cancellationToken = default);

    Task InsertVersionAsync(SecretVersion version, CancellationToken cancellationToken = default);

    /// <summary>Soft-deletes (<paramref name="at"/> set) or undeletes (null) versions that are not destroyed; returns how many changed.</summary>
    Task<int> SetDeletedAsync(string tenantUid, string path, IReadOnlyCollection<long> versions, DateTimeOffset? at, CancellationToken cancellationToken = default);

    /// <summary>Erases ciphertexts for good; returns how many were destroyed now.</summary>
    Task<int> DestroyAsync(string tenantUid, string path, IReadOnlyCollection<long> versions, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Deletes versions older than <paramref name="keepFrom"/> (the max-versions cap), except those in <paramref name="keep"/> (versions holding a stage).</summary>
    Task<int> PruneAsync(string tenantUid, string path, long keepFrom, IReadOnlyCollection<long> keep, CancellationToken cancellationToken = default);

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
