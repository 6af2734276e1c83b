using System.Security.Cryptography;
using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Events;
using Keyward.Core.Policies;
using Keyward.Core.Rotation;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;
using Keyward.Core.Validation;
using Keyward.Crypto.Envelope;

namespace Keyward.Core.Secrets;

/// <summary>A decrypted read. <see cref="Data"/> is the UTF-8 JSON object as written; zero it after use.</summary>
public sealed record SecretRead(string Path, long Version, DateTimeOffset CreatedAt, byte[] Data)
{
    /// <summary>The path's epoch as of the read.</summary>
    public long Epoch { get; init; }

    /// <summary>The stage the version holds, if any.</summary>
    public SecretStage? Stage { get; init; }

    /// <summary>
    /// A use (<see cref="SecretService.GetForUseAsync"/>) of the current version of a secret whose policy has <c>max_uses</c>:
    /// not counted yet. The caller counts it with <see cref="Rotation.RotationService.CountUseAsync"/> in the transaction
    /// that records the use, once nothing else refuses it.
    /// </summary>
    public bool CountsUse { get; init; }
}

/// <summary>The version a write made current, and the path's new epoch.</summary>
public sealed record SecretWrite(long Version, DateTimeOffset CreatedAt, long Epoch);

/// <summary>
/// Versioned secrets of the caller's tenant: check-and-set writes, reads of current or given versions, soft
/// delete, undelete, destroy, metadata and listing. Every value is sealed with <see cref="SecretEnvelope"/> under
/// the tenant's current key and bound to tenant uid, path and version.
/// </summary>
public sealed class SecretService
{
    /// <summary>A secret's data is at most 64 KiB of JSON.</summary>
    public const int MaxDataBytes = 64 * 1024;

    public const int DefaultMaxVersions = 10;
    public const int MaxMaxVersions = 1000;
    public const int MaxCustomMetadataEntries = 64;
    public const int MaxCustomMetadataKeyLength = 128;
    public const int MaxCustomMetadataValueLength = 512;
    public const int MaxVersionsPerCall = 1000;

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly TenantKeyRings _rings;
    private readonly SecretRowCache _rows;
    private readonly RotationService _rotation;
    private readonly TimeProvider _time;

    public SecretService(IKeywardStore store, GroupCommitter committer, TenantKeyRings rings, SecretRowCache rows, RotationService rotation, TimeProvider time)
    {
        _rotation = rotation;
        _store = store;
        _committer = committer;
        _rings = rings;
        _rows = rows;
        _time = time;
    }

    /// <summary>
    /// Writes a new current version (the old current becomes previous, the epoch grows). A pending version keeps its
    /// stage.
    /// </summary>
    public async Task<SecretWrite> PutAsync(Principal caller, string path, ReadOnlyMemory<byte> data, long? cas, AuditDraft audit)
    {
        audit.Path = path;
        SecretPath.RequireWritable(path);
        var tenant = caller.Require(path, Capability.Write);
        if (data.Length > MaxDataBytes)
        {
            throw KeywardErrors.ValueTooLarge(MaxDataBytes);
        }

        if (cas is < 0)
        {
            throw KeywardErrors.InvalidField("cas", "must be 0 or a version number");
        }

        var ring = await _rings.GetAsync(tenant.Uid);
        return await _committer.ExecuteAsync(audit, async session =>
        {
            var now = _time.GetUtcNow();
            var metadata = await session.Secrets.GetMetadataAsync(tenant.Uid, path);
            if (metadata?.Rotation?.ManagedBy is { } managedBy)
            {
                throw KeywardErrors.ManagedByEngine(path, managedBy, "its value changes only by rotate and promote (which sets it where it is used first).");
            }

            var current = metadata?.CurrentVersion ?? 0;
            if (cas is { } expected && expected != current)
            {
                throw KeywardErrors.CasMismatch(path, expected, current);
            }

            metadata ??= new SecretMetadata(tenant.Uid, path, 0, DefaultMaxVersions, new Dictionary<string, string>(), now, now);
            var version = metadata.LatestVersion + 1;
            metadata = metadata.WithCurrent(version, now);
            audit.Version = version;
            audit.Epoch = metadata.Epoch;
            await session.Secrets.UpsertMetadataAsync(metadata);
            await SecretWrites.InsertAsync(session, ring, tenant.Uid, path, version, data.Span, now);
            await SecretWrites.PruneAsync(session, metadata);
            await EventLog.AppendAsync(session, tenant.Uid, EventTypes.SecretWritten, now, new { path, version, epoch = metadata.Epoch }, path: path);
            return new SecretWrite(version, now, metadata.Epoch);
        });
    }

    /// <summary>
    /// Reads version <paramref name="version"/>, or the version holding <paramref name="stage"/> (current by default).
    /// <c>previous</c> is served only within the grace window after it stopped being current. A read of the current
    /// version of a secret whose policy counts uses goes through <see cref="RotationService.CountedReadAsync"/>.
    /// </summary>
    public Task<SecretRead> GetAsync(
        Principal caller, string path, long? version, SecretStage? stage, AuditDraft audit, CancellationToken cancellationToken = default) =>
        GetAsync(caller, path, version, stage, Capability.Read, audit, cancellationToken);

    /// <summary>
    /// The gateway's read: the value to inject, on <c>use</c> (which never implies <c>read</c>, and which <c>read</c> does
    /// not imply either). Only the current version, or the previous one within its grace window
    /// (<paramref name="previous"/>). A use of the current version counts like a read against <c>max_uses</c>, but not
    /// here: <see cref="SecretRead.CountsUse"/> tells the caller to count it where it records the use.
    /// </summary>
    /// <param name="caller">Who calls.</param>
    /// <param name="integration">The integration the value is injected for: a derived token's <c>tool</c> caveat must name it.</param>
    /// <param name="path">The integration's secret.</param>
    /// <param name="previous">The previous version (within its grace window) instead of the current one.</param>
    /// <param name="audit">The call's record.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public Task<SecretRead> GetForUseAsync(
        Principal caller, string integration, string path, bool previous, AuditDraft audit, CancellationToken cancellationToken = default) =>
        GetAsync(caller, path, null, previous ? SecretStage.Previous : SecretStage.Current, Capability.Use, audit, cancellationToken, integration);

    private async Task<SecretRead> GetAsync(
        Principal caller, string path, long? version, SecretStage? stage, Capability capability, AuditDraft audit, CancellationToken cancellationToken,
        string? integration = null)
    {
        audit.Path = path;
        SecretPath.Require(path);
        var tenant = integration is null ? caller.Require(path, capability) : caller.RequireCall(integration, path);
        if (version is <= 0)
        {
            throw KeywardErrors.InvalidField("version", "must be a positive integer");
        }

        if (version is not null && stage is not null)
        {
            throw KeywardErrors.InvalidRequest("Ask for a version or a stage, not both.");
        }

        var wantedStage = stage ?? SecretStage.Current;
        var slot = SecretRowCache.Slot(version, wantedStage);
        (SecretMetadata Metadata, SecretVersion? Version)? found;
        SecretRowCache.Entry? cached = null;
        if (MayServeCachedRow(capability, audit) && _rows.TryGet(tenant.Uid, path, slot, out var entry))
        {
            cached = entry;
            found = entry.Row;
            if (_rows.ValidatesWithStore)
            {
                // Another node may have changed the row since: the audit record commits only if the store says not.
                audit.CachedRowGeneration = entry.StoreGeneration;
            }
        }
        else
        {
            var generation = _rows.Generation;
            long storeGeneration = 0;
            // One statement (metadata joined to the version), which a shared store may share with concurrent reads.
            if (_store is ISharedStore shared)
            {
                (found, storeGeneration) = await shared.ReadSecretWithGenerationAsync(tenant.Uid, path, version, wantedStage, cancellationToken);
            }
            else
            {
                found = await _store.ReadSecretAsync(tenant.Uid, path, version, wantedStage, cancellationToken);
            }

            if (found is { } fresh)
            {
                _rows.Add(tenant.Uid, path, slot, fresh, generation, storeGeneration);
            }
        }

        if (found is not { } row || row.Metadata.CurrentVersion == 0)
        {
            throw KeywardErrors.SecretNotFound(path);
        }

        var metadata = row.Metadata;
        var wanted = version ?? metadata.VersionOf(wantedStage) ?? throw KeywardErrors.StageNotFound(path, SecretStages.Name(wantedStage));
        var countsUse = metadata.Rotation?.MaxUses is not null && wanted == metadata.CurrentVersion;
        if (countsUse && capability == Capability.Read)
        {
            // Every read of the current version counts, however it is named (no version, ?version=N, ?stage=current):
            // in a transaction that reads the row again, the cached row only chose this way. A use (the gateway) is
            // counted by its caller, in the transaction that records the call once its budget allowed it.
            audit.CachedRowGeneration = null;
            return await _rotation.CountedReadAsync(tenant, path, version, audit);
        }

        audit.Version = wanted;
        audit.Epoch = metadata.Epoch;
        if (version is null && wantedStage == SecretStage.Previous && metadata.PreviousSince + metadata.EffectiveGrace < _time.GetUtcNow())
        {
            throw KeywardErrors.GraceExpired(path, wanted);
        }

        var stored = SecretWrites.RequireReadable(row.Version, path, wanted, named: version is not null);

        var ring = await _rings.GetAsync(tenant.Uid, cancellationToken);
        var context = EnvelopeContext.ForSecret(tenant.Uid, path, wanted);
        try
        {
            // A cached row keeps its opened data key; a fresh one is decrypted in full (and opened on its next read).
            if (cached is null || !cached.Opened(ring, context, stored.Ciphertext).TryDecrypt(context, stored.Ciphertext, out var data))
            {
                data = SecretEnvelope.Decrypt(ring, context, stored.Ciphertext);
            }

            return new SecretRead(path, wanted, stored.CreatedAt, data) { Epoch = metadata.Epoch, Stage = metadata.StageOf(wanted), CountsUse = countsUse };
        }
        catch (EnvelopeException)
        {
            _rows.Remove(tenant.Uid, path, slot);
            throw KeywardErrors.Undecryptable(path, wanted);
        }
    }

    /// <summary>
    /// Whether this read may be answered from a cached row. On a shared store only a plain read may: its audit record's
    /// commit checks the row is still current and the request runs again if not (<see cref="AuditDraft.CachedRowGeneration"/>);
    /// a gateway use acts on the value before any such second chance, so it always reads the store there.
    /// </summary>
    private bool MayServeCachedRow(Capability capability, AuditDraft audit) =>
        !_rows.ValidatesWithStore || (capability == Capability.Read && !audit.AvoidCachedRows);

    /// <summary>Names under a prefix (whole segments) that the caller may list. Never values.</summary>
    public async Task<IReadOnlyList<string>> ListAsync(Principal caller, string? prefix, AuditDraft audit, CancellationToken cancellationToken = default)
    {
        var normalized = SecretPath.RequirePrefix(prefix);
        audit.Path = normalized.Length == 0 ? null : normalized;
        var tenant = caller.RequireTenant();
        IReadOnlyList<string> paths;
        await using (var session = await _store.ReadAsync(cancellationToken))
        {
            paths = await session.Secrets.ListPathsAsync(tenant.Uid, normalized, cancellationToken);
        }

        return paths.Where(p => caller.Can(p, Capability.List)).ToArray();
    }

    public async Task<(SecretMetadata Metadata, IReadOnlyList<SecretVersion> Versions)> GetMetadataAsync(
        Principal caller, string path, AuditDraft audit, CancellationToken cancellationToken = default)
    {
        audit.Path = path;
        SecretPath.Require(path);
        var tenant = caller.RequireTenant();
        if (!caller.Can(path, Capability.Read) && !caller.Can(path, Capability.List))
        {
            throw KeywardErrors.PermissionDenied("read", path);
        }

        await using var session = await _store.ReadAsync(cancellationToken);
        var metadata = await session.Secrets.GetMetadataAsync(tenant.Uid, path, cancellationToken) ?? throw KeywardErrors.SecretNotFound(path);
        var versions = await session.Secrets.ListVersionsAsync(tenant.Uid, path, cancellationToken);
        return (metadata, versions);
    }

    /// <summary>
    /// Sets max_versions, custom metadata and the rotation policy (null leaves each as it is). A new or changed period
    /// schedules the next rotation a period from now.
    /// </summary>
    public async Task PutMetadataAsync(
        Principal caller, string path, int? maxVersions, IReadOnlyDictionary<string, string>? customMetadata, RotationPolicy? rotation, AuditDraft audit)
    {
        audit.Path = path;
        SecretPath.RequireWritable(path);
        var tenant = caller.Require(path, Capability.Write);
        if (maxVersions is < 1 or > MaxMaxVersions)
        {
            throw KeywardErrors.InvalidField("max_versions", $"must be between 1 and {MaxMaxVersions}");
        }

        if (customMetadata is not null)
        {
            ValidateCustomMetadata(customMetadata);
        }

        await _committer.ExecuteAsync(audit, async session =>
        {
            var now = _time.GetUtcNow();
            var existing = await session.Secrets.GetMetadataAsync(tenant.Uid, path);
            if (existing?.Rotation?.ManagedBy is { } managedBy)
            {
                // Its policy is the engine's (and max_uses would rotate inside a read's transaction, past the engine).
                throw KeywardErrors.ManagedByEngine(path, managedBy, "its metadata is set by the engine (change or delete the engine's configuration).");
            }

            var metadata = existing ?? new SecretMetadata(tenant.Uid, path, 0, DefaultMaxVersions, new Dictionary<string, string>(), now, now);
            metadata = metadata with
            {
                MaxVersions = maxVersions ?? metadata.MaxVersions,
                CustomMetadata = customMetadata ?? metadata.CustomMetadata,
                UpdatedAt = now,
            };
            if (rotation is not null)
            {
                var periodChanged = rotation.Period != metadata.Rotation?.Period;
                metadata = metadata with
                {
                    Rotation = rotation,
                    NextRotationAt = rotation.Period is not { } period ? null : periodChanged ? now + period : metadata.NextRotationAt,
                };
                audit.AddDetail("rotation", rotation.Describe());
            }

            await session.Secrets.UpsertMetadataAsync(metadata);
            await SecretWrites.PruneAsync(session, metadata);
        });
    }

    /// <summary>Soft delete: the latest version when none are named.</summary>
    public Task DeleteAsync(Principal caller, string path, IReadOnlyList<long>? versions, AuditDraft audit) =>
        ChangeVersionsAsync(caller, path, versions, Capability.Delete, audit, latestByDefault: true, (EventTypes.SecretDeleted, "delete"),
            (session, uid, list, now) => session.Secrets.SetDeletedAsync(uid, path, list, now));

    public Task UndeleteAsync(Principal caller, string path, IReadOnlyList<long>? versions, AuditDraft audit) =>
        ChangeVersionsAsync(caller, path, versions, Capability.Write, audit, latestByDefault: false, (EventTypes.SecretWritten, "undelete"),
            (session, uid, list, _) => session.Secrets.SetDeletedAsync(uid, path, list, null));

    /// <summary>
    /// Erases ciphertexts for good: the rows lose their ciphertext, and the engine then purges the freed bytes
    /// from its free pages and log so no copy lingers on disk.
    /// </summary>
    public async Task DestroyAsync(Principal caller, string path, IReadOnlyList<long>? versions, AuditDraft audit)
    {
        await ChangeVersionsAsync(caller, path, versions, Capability.Delete, audit, latestByDefault: false, (EventTypes.SecretDeleted, "destroy"),
            (session, uid, list, now) => session.Secrets.DestroyAsync(uid, path, list, now));
        await _store.PurgeDeletedDataAsync();
    }

    /// <summary>Removes the path with its metadata and every version.</summary>
    public async Task DeleteMetadataAsync(Principal caller, string path, AuditDraft audit)
    {
        audit.Path = path;
        SecretPath.Require(path);
        var tenant = caller.Require(path, Capability.Delete);
        await _committer.ExecuteAsync(audit, async session =>
        {
            if (await session.Secrets.GetMetadataAsync(tenant.Uid, path) is { Rotation.ManagedBy: { } managedBy })
            {
                throw KeywardErrors.ManagedByEngine(path, managedBy, "delete the engine's configuration that manages it first.");
            }

            if (!await session.Secrets.DeleteAllAsync(tenant.Uid, path))
            {
                throw KeywardErrors.SecretNotFound(path);
            }

            await EventLog.AppendAsync(session, tenant.Uid, EventTypes.SecretDeleted, _time.GetUtcNow(), new { path, action = "delete_all" }, path: path);
        });
        await _store.PurgeDeletedDataAsync();
    }

    private async Task ChangeVersionsAsync(
        Principal caller,
        string path,
        IReadOnlyList<long>? versions,
        Capability capability,
        AuditDraft audit,
        bool latestByDefault,
        (string Type, string Action) @event,
        Func<IWriteSession, string, IReadOnlyCollection<long>, DateTimeOffset, Task<int>> change)
    {
        audit.Path = path;
        SecretPath.Require(path);
        var tenant = caller.Require(path, capability);
        if (versions is null or { Count: 0 })
        {
            if (!latestByDefault)
            {
                throw KeywardErrors.MissingField("versions");
            }
        }
        else if (versions.Count > MaxVersionsPerCall || versions.Any(v => v <= 0))
        {
            throw KeywardErrors.InvalidField("versions", $"must be 1 to {MaxVersionsPerCall} positive version numbers");
        }

        await _committer.ExecuteAsync(audit, async session =>
        {
            var metadata = await session.Secrets.GetMetadataAsync(tenant.Uid, path);
            if (metadata is null || metadata.CurrentVersion == 0)
            {
                throw KeywardErrors.SecretNotFound(path);
            }

            IReadOnlyCollection<long> targets = versions is { Count: > 0 } ? versions.Distinct().ToArray() : [metadata.CurrentVersion];
            var stored = (await session.Secrets.ListVersionsAsync(tenant.Uid, path)).Select(v => v.Version).ToHashSet();
            if (targets.FirstOrDefault(v => !stored.Contains(v)) is var missing and > 0)
            {
                // Naming a version that does not exist (never written, or pruned) changes nothing and says so.
                throw KeywardErrors.VersionNotFound(path, missing);
            }

            if (targets.Count == 1)
            {
                audit.Version = targets.First();
            }

            audit.AddDetail("versions", string.Join(',', targets));
            var now = _time.GetUtcNow();
            await change(session, tenant.Uid, targets, now);
            await EventLog.AppendAsync(session, tenant.Uid, @event.Type, now, new { path, versions = targets, action = @event.Action }, path: path);
        });
    }

    private static void ValidateCustomMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        if (metadata.Count > MaxCustomMetadataEntries)
        {
            throw KeywardErrors.InvalidField("custom_metadata", $"at most {MaxCustomMetadataEntries} entries");
        }

        foreach (var (key, value) in metadata)
        {
            if (key.Length is 0 or > MaxCustomMetadataKeyLength)
            {
                throw KeywardErrors.InvalidField("custom_metadata", $"keys are 1 to {MaxCustomMetadataKeyLength} characters");
            }

            if (value is null || value.Length > MaxCustomMetadataValueLength)
            {
                throw KeywardErrors.InvalidField("custom_metadata", $"values are strings of at most {MaxCustomMetadataValueLength} characters");
            }
        }
    }

    /// <summary>Best-effort wipe of a plaintext buffer once the response is written.</summary>
    public static void Wipe(byte[] plaintext) => CryptographicOperations.ZeroMemory(plaintext);
}
