using System.Security.Cryptography;
using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Events;
using Keyward.Core.Policies;
using Keyward.Core.Secrets;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;
using Keyward.Core.Validation;
using Keyward.Crypto.Envelope;

namespace Keyward.Core.Rotation;

/// <summary>The version a rotation staged; <see cref="Epoch"/> is set when it was promoted at once.</summary>
public sealed record RotationResult(long Version, SecretStage Stage, DateTimeOffset CreatedAt, long? Epoch);

/// <summary>
/// What <see cref="RotationService.GuardAsync"/> checked outside any transaction before a promotion: the pending version
/// (its number and its stored ciphertext, which identify it) and the <c>managed_by</c> and <c>verify</c> of the policy it
/// acted on. The promotion's transaction promotes that version or nothing (<see cref="RotationService.ChangedSinceCheckAsync"/>).
/// </summary>
internal sealed record CheckedPending(long Version, byte[] Ciphertext, string? ManagedBy, RotationVerify? Verify);

/// <summary>
/// The rotation lifecycle of a secret's versions (design: docs/designs/0006-rotation.md): stage a <c>pending</c>
/// version (given, or made by the secret's generator), promote it to <c>current</c> (the old current becomes
/// <c>previous</c>, readable for the grace window), roll back (swap current and previous), and rotate-and-promote in
/// one transaction for anomalies, for the N-th use of a <c>max_uses</c> policy and for the scheduler. Each change
/// commits with its audit record and one <c>secret.rotated</c> event, and bumps the path's epoch when the current
/// version changes.
/// </summary>
public sealed class RotationService
{
    public const string AnomalyReason = "anomaly";

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly TenantKeyRings _rings;
    private readonly PromotionGuards _guards;
    private readonly TimeProvider _time;

    public RotationService(IKeywardStore store, GroupCommitter committer, TenantKeyRings rings, PromotionGuards guards, TimeProvider time)
    {
        _store = store;
        _committer = committer;
        _rings = rings;
        _guards = guards;
        _time = time;
    }

    /// <summary>
    /// <c>POST /v1/secrets/{path}/rotate {data?, reason?}</c> (capability <c>rotate</c>): stages a pending version.
    /// With reason <c>anomaly</c> (tenant admin only) it is promoted at once.
    /// </summary>
    public async Task<RotationResult> RotateAsync(Principal caller, string path, ReadOnlyMemory<byte>? data, string? reason, AuditDraft audit)
    {
        audit.Path = path;
        SecretPath.RequireWritable(path);
        var tenant = caller.Require(path, Capability.Rotate);
        var promote = reason switch
        {
            null => false,
            AnomalyReason => true,
            _ => throw KeywardErrors.InvalidField("reason", $"the only reason is \"{AnomalyReason}\" (rotate and promote at once)"),
        };
        if (promote && caller.Kind != TokenKind.Admin)
        {
            // An emergency rotation replaces the value every consumer uses at once: tenant admins and Keyward's own
            // anomaly rules only, never an agent.
            throw KeywardErrors.AdminTokenRequired();
        }

        if (data is { Length: > SecretService.MaxDataBytes })
        {
            throw KeywardErrors.ValueTooLarge(SecretService.MaxDataBytes);
        }

        if (data is { Length: 0 })
        {
            throw KeywardErrors.InvalidField("data", "must be a JSON object");
        }

        if (promote)
        {
            audit.AddDetail("reason", AnomalyReason);
        }

        var ring = await _rings.GetAsync(tenant.Uid);
        return await _committer.ExecuteAsync(audit, async session =>
        {
            var now = _time.GetUtcNow();
            var metadata = await RequireMetadataAsync(session, tenant.Uid, path);
            if (metadata.Rotation?.ManagedBy is { } managedBy && (data is not null || promote))
            {
                // The engine sets only values its generator made, and only through a guarded promotion.
                throw KeywardErrors.ManagedByEngine(path, managedBy, promote
                    ? "an anomaly rotation cannot promote at once; stage with rotate (no data) and promote, which sets the value where it is used first."
                    : "its values come from its generator: rotate without data.");
            }

            metadata = await StageAsync(session, ring, metadata, data, promote, reason ?? "manual", now);
            var version = metadata.LatestVersion;
            audit.Version = version;
            audit.Epoch = metadata.Epoch;
            return new RotationResult(version, promote ? SecretStage.Current : SecretStage.Pending, now, promote ? metadata.Epoch : null);
        });
    }

    /// <summary><c>POST /v1/secrets/{path}/promote {version}</c>: the pending version becomes current.</summary>
    public async Task<(long Version, long Epoch)> PromoteAsync(Principal caller, string path, long? version, AuditDraft audit)
    {
        audit.Path = path;
        SecretPath.Require(path);
        var tenant = caller.Require(path, Capability.Rotate);
        if (version is not { } wanted)
        {
            throw KeywardErrors.MissingField("version");
        }

        if (wanted <= 0)
        {
            throw KeywardErrors.InvalidField("version", "must be a positive integer");
        }

        audit.Version = wanted;

        // Outside any transaction: the verification call and the engine managing the secret check the pending value
        // first; if either cannot, nothing is promoted. The transaction then promotes only what they checked.
        var checkedPending = await GuardAsync(tenant.Uid, path, wanted, caller);
        return await _committer.ExecuteAsync(audit, async session =>
        {
            var metadata = await RequireMetadataAsync(session, tenant.Uid, path);
            switch (await ChangedSinceCheckAsync(session, metadata, checkedPending))
            {
                case PendingChanged:
                    audit.AddDetail("refused", PendingChanged);
                    throw KeywardErrors.NotPending(path, wanted, metadata.PendingVersion);
                case PolicyChanged when metadata.Rotation?.ManagedBy is { } managedBy:
                    audit.AddDetail("refused", PolicyChanged);
                    throw KeywardErrors.ManagedByEngine(path, managedBy, "its rotation policy changed during the promotion; promote again.");
                case PolicyChanged:
                    audit.AddDetail("refused", PolicyChanged);
                    throw KeywardErrors.RotationVerificationFailed(path, "its rotation policy changed while the pending version was checked; promote again.");
            }

            metadata = await MakeCurrentAsync(session, metadata, wanted, "promote", _time.GetUtcNow());
            audit.Epoch = metadata.Epoch;
            return (wanted, metadata.Epoch);
        });
    }

    /// <summary><c>POST /v1/secrets/{path}/rollback</c>: the previous version becomes current again, and the current one previous.</summary>
    public async Task<(long Version, long Epoch)> RollbackAsync(Principal caller, string path, AuditDraft audit)
    {
        audit.Path = path;
        SecretPath.Require(path);
        var tenant = caller.Require(path, Capability.Rotate);
        return await _committer.ExecuteAsync(audit, async session =>
        {
            var metadata = await RequireMetadataAsync(session, tenant.Uid, path);
            if (metadata.Rotation?.ManagedBy is { } managedBy)
            {
                throw KeywardErrors.ManagedByEngine(path, managedBy, "the previous value no longer works where it is used, so it cannot become current again; rotate and promote instead.");
            }

            if (metadata.PreviousVersion is not { } previous)
            {
                throw KeywardErrors.NoPreviousVersion(path);
            }

            await RequireActiveAsync(session, tenant.Uid, path, previous, () => KeywardErrors.NoPreviousVersion(path));
            audit.Version = previous;
            metadata = await MakeCurrentAsync(session, metadata, previous, "rollback", _time.GetUtcNow());
            audit.Epoch = metadata.Epoch;
            return (previous, metadata.Epoch);
        });
    }

    /// <summary>
    /// A read of a secret whose policy has <c>max_uses</c> (<paramref name="version"/>, or the current one when null): in
    /// the read's own transaction (with its audit record) the version is read again and, if it is the current one — however
    /// the caller named it — the use is counted (<see cref="CountUseAsync"/>); the N-th use rotates and promotes in that
    /// same transaction and still gets the value it counted against.
    /// </summary>
    public async Task<SecretRead> CountedReadAsync(Tenant tenant, string path, long? version, AuditDraft audit)
    {
        var ring = await _rings.GetAsync(tenant.Uid);
        return await _committer.ExecuteAsync(audit, async session =>
        {
            var (metadata, stored) = await session.Secrets.ReadAsync(tenant.Uid, path, version) ?? throw KeywardErrors.SecretNotFound(path);
            if (metadata.CurrentVersion == 0)
            {
                throw KeywardErrors.SecretNotFound(path);
            }

            var wanted = version ?? metadata.CurrentVersion;
            audit.Version = wanted;
            audit.Epoch = metadata.Epoch;
            var readable = SecretWrites.RequireReadable(stored, path, wanted, named: version is not null);
            var data = SecretWrites.Open(ring, readable);
            try
            {
                await CountCurrentUseAsync(session, ring, metadata, readable.Version, audit);
                return new SecretRead(path, readable.Version, readable.CreatedAt, data) { Epoch = metadata.Epoch, Stage = metadata.StageOf(readable.Version) };
            }
            catch
            {
                CryptographicOperations.ZeroMemory(data);
                throw;
            }
        });
    }

    /// <summary>
    /// Counts one use of <paramref name="version"/> of a secret whose policy has <c>max_uses</c>, in the caller's transaction
    /// (the one that records the use: a read's, or a gateway call's once its budget allowed it): only a use of the current
    /// version counts — a version pinned to the previous one counts nothing. The N-th use of the current version rotates and
    /// promotes in that transaction. Concurrent uses are serialized on the counter, so exactly every N-th use rotates.
    /// </summary>
    /// <returns>Whether the use rotated the secret.</returns>
    public async Task<bool> CountUseAsync(IWriteSession session, string tenantUid, string path, long version, AuditDraft audit)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (await session.Secrets.GetMetadataAsync(tenantUid, path) is not { } metadata)
        {
            throw KeywardErrors.SecretNotFound(path);
        }

        return await CountCurrentUseAsync(session, await _rings.GetAsync(tenantUid), metadata, version, audit);
    }

    private async Task<bool> CountCurrentUseAsync(IWriteSession session, KeyRing ring, SecretMetadata metadata, long version, AuditDraft audit)
    {
        if (metadata.Rotation?.MaxUses is not { } maxUses || version != metadata.CurrentVersion)
        {
            return false;
        }

        var uses = await session.Secrets.CountUseAsync(metadata.TenantUid, metadata.Path) ?? throw KeywardErrors.SecretNotFound(metadata.Path);
        audit.AddDetail("uses", uses);
        if (uses < maxUses)
        {
            return false;
        }

        var next = await StageAsync(session, ring, metadata, null, promote: true, "max_uses", _time.GetUtcNow());
        audit.AddDetail("rotated_to", next.CurrentVersion);
        return true;
    }

    /// <summary>
    /// Before <paramref name="version"/> (pending) is promoted, outside any transaction: when the policy names a
    /// <c>verify</c> call, the gateway makes it with that value (<see cref="IPromotionVerifier"/>); for a secret managed by
    /// an engine, the engine's <see cref="IPromotionGuard"/> puts the value in place. Either throws to stop the promotion;
    /// 409 <c>not_pending</c> when <paramref name="version"/> is not the pending version (404 for a secret that does not
    /// exist). Returns what it checked: the promotion that follows makes that version current only if
    /// <see cref="ChangedSinceCheckAsync"/> finds it unchanged in its transaction (compare-and-promote), since the pending
    /// version can be restaged while the verification call or the engine is still at work. <paramref name="promoter"/> is
    /// the token promoting (null for the scheduler): the verification call counts against its run budget and rate limit.
    /// </summary>
    internal async Task<CheckedPending> GuardAsync(string tenantUid, string path, long version, Principal? promoter, CancellationToken cancellationToken = default)
    {
        (SecretMetadata Metadata, SecretVersion? Version)? found;
        await using (var session = await _store.ReadAsync(cancellationToken))
        {
            found = await session.Secrets.ReadAsync(tenantUid, path, version, cancellationToken: cancellationToken);
        }

        if (found is not var (metadata, stored))
        {
            throw KeywardErrors.SecretNotFound(path);
        }

        if (metadata.PendingVersion != version)
        {
            throw KeywardErrors.NotPending(path, version, metadata.PendingVersion);
        }

        if (stored is not { DeletedAt: null, DestroyedAt: null, Ciphertext: { } ciphertext })
        {
            throw KeywardErrors.NotPending(path, version, null);
        }

        var policy = metadata.Rotation;
        if (policy?.Verify is not null || policy?.ManagedBy is not null)
        {
            var ring = await _rings.GetAsync(tenantUid, cancellationToken);
            var value = SecretWrites.Open(ring, stored);
            try
            {
                if (policy.Verify is { } verify)
                {
                    await _guards.VerifyAsync(tenantUid, path, version, verify, value, promoter, cancellationToken);
                }

                if (policy.ManagedBy is { } managedBy)
                {
                    await _guards.BeforePromoteAsync(tenantUid, path, managedBy, value, cancellationToken);
                }
            }
            finally
            {
                CryptographicOperations.ZeroMemory(value);
            }
        }

        return new CheckedPending(version, ciphertext, policy?.ManagedBy, policy?.Verify);
    }

    /// <summary>Why a promotion was refused or skipped: another version is pending than the one checked.</summary>
    internal const string PendingChanged = "pending_changed";

    /// <summary>Why a promotion was refused or skipped: the policy's <c>verify</c> or <c>managed_by</c> is not the one the check acted on.</summary>
    internal const string PolicyChanged = "policy_changed";

    /// <summary>
    /// Inside a promotion's transaction (after <paramref name="metadata"/> was read, and locked, in it): null when the
    /// version <paramref name="checkedPending"/> names is still the pending one — the same number and the same stored
    /// ciphertext, so not a version deleted and made again under that number — under the same <c>verify</c> and
    /// <c>managed_by</c>; otherwise <see cref="PendingChanged"/> or <see cref="PolicyChanged"/>, and nothing may be promoted.
    /// </summary>
    internal static async Task<string?> ChangedSinceCheckAsync(IWriteSession session, SecretMetadata metadata, CheckedPending checkedPending)
    {
        if (metadata.PendingVersion != checkedPending.Version
            || await session.Secrets.ReadAsync(metadata.TenantUid, metadata.Path, checkedPending.Version) is not (_, { DeletedAt: null, DestroyedAt: null, Ciphertext: { } ciphertext })
            || !ciphertext.AsSpan().SequenceEqual(checkedPending.Ciphertext))
        {
            return PendingChanged;
        }

        return metadata.Rotation?.ManagedBy != checkedPending.ManagedBy || metadata.Rotation?.Verify != checkedPending.Verify ? PolicyChanged : null;
    }

    /// <summary>
    /// For an engine taking over a secret (inside its transaction): the path must not exist yet or already carry
    /// <paramref name="policy"/>'s <c>managed_by</c> mark (else 409 <c>managed_by_engine</c>). Sets the policy and stages
    /// <paramref name="data"/> as pending; the engine then puts it in place and calls <see cref="PromoteManagedAsync"/>.
    /// The next scheduled rotation is a minute away until then, so a value the engine could not put in place is retried
    /// by the scheduler. Returns the pending version.
    /// </summary>
    public static async Task<long> AdoptAsync(
        IWriteSession session, KeyRing ring, string tenantUid, string path, RotationPolicy policy, ReadOnlyMemory<byte> data, DateTimeOffset now)
    {
        var managedBy = policy.ManagedBy ?? throw new ArgumentException("An adopted secret's policy names its engine.", nameof(policy));
        var metadata = await session.Secrets.GetMetadataAsync(tenantUid, path);
        if (metadata is not null && metadata.Rotation?.ManagedBy != managedBy)
        {
            throw KeywardErrors.Conflict("managed_by_engine", metadata.Rotation?.ManagedBy is { } other
                ? $"'{path}' is already managed by {other}."
                : $"'{path}' already exists; an engine only manages a secret it creates (choose another secret_path, or delete the secret first).");
        }

        metadata ??= new SecretMetadata(tenantUid, path, 0, SecretService.DefaultMaxVersions, new Dictionary<string, string>(), now, now);
        metadata = metadata with { Rotation = policy, NextRotationAt = now + RotationPolicy.MinPeriod, UpdatedAt = now };
        await session.Secrets.UpsertMetadataAsync(metadata); // versions refer to their path's row
        metadata = await StageAsync(session, ring, metadata, data, promote: false, "managed", now);
        return metadata.LatestVersion;
    }

    /// <summary>
    /// For an engine, inside its transaction, after it put the pending <paramref name="version"/> in place: makes it
    /// current. Already current (the scheduler promoted it meanwhile) is done too.
    /// </summary>
    public static async Task<(long Version, long Epoch)> PromoteManagedAsync(IWriteSession session, string tenantUid, string path, long version, DateTimeOffset now)
    {
        var metadata = await session.Secrets.GetMetadataAsync(tenantUid, path) ?? throw KeywardErrors.SecretNotFound(path);
        if (metadata.CurrentVersion == version)
        {
            return (version, metadata.Epoch);
        }

        if (metadata.PendingVersion != version)
        {
            throw KeywardErrors.NotPending(path, version, metadata.PendingVersion);
        }

        metadata = await MakeCurrentAsync(session, metadata, version, "managed", now);
        return (version, metadata.Epoch);
    }

    /// <summary>
    /// For an engine letting go of a secret (inside its transaction): removes the <paramref name="managedBy"/> mark and
    /// the period (the value no longer rotates); the secret and its versions stay. No-op if the mark is another's.
    /// </summary>
    public static async Task ReleaseAsync(IWriteSession session, string tenantUid, string path, string managedBy, DateTimeOffset now)
    {
        if (await session.Secrets.GetMetadataAsync(tenantUid, path) is not { Rotation: { } policy } metadata || policy.ManagedBy != managedBy)
        {
            return;
        }

        await session.Secrets.UpsertMetadataAsync(metadata with
        {
            Rotation = new RotationPolicy(null, null, policy.Grace, policy.Generator),
            NextRotationAt = null,
            UpdatedAt = now,
        });
    }

    /// <summary>
    /// Stages a new version inside <paramref name="session"/>: <paramref name="data"/>, or a value from the secret's
    /// generator (which sees the current value, so fields it does not generate are carried over). A pending version
    /// staged before loses the stage (at most one version is pending). Promoted at once when <paramref name="promote"/>.
    /// </summary>
    internal static async Task<SecretMetadata> StageAsync(
        IWriteSession session, KeyRing ring, SecretMetadata metadata, ReadOnlyMemory<byte>? data, bool promote, string reason, DateTimeOffset now)
    {
        var value = data is null ? await GenerateAsync(session, ring, metadata) : null;
        var version = metadata.LatestVersion + 1;
        try
        {
            ReadOnlySpan<byte> plaintext = value is null ? data!.Value.Span : value;
            await SecretWrites.InsertAsync(session, ring, metadata.TenantUid, metadata.Path, version, plaintext, now);
        }
        finally
        {
            if (value is not null)
            {
                CryptographicOperations.ZeroMemory(value);
            }
        }

        metadata = metadata with { LatestVersion = version, PendingVersion = version, UpdatedAt = now };
        if (promote)
        {
            metadata = metadata.WithCurrent(version, now);
        }

        await session.Secrets.UpsertMetadataAsync(metadata);
        await SecretWrites.PruneAsync(session, metadata);
        await AppendRotatedAsync(session, metadata, version, promote ? SecretStage.Current : SecretStage.Pending, reason, now);
        return metadata;
    }

    /// <summary>Makes <paramref name="version"/> current inside <paramref name="session"/> and records the event.</summary>
    internal static async Task<SecretMetadata> MakeCurrentAsync(IWriteSession session, SecretMetadata metadata, long version, string reason, DateTimeOffset now)
    {
        metadata = metadata.WithCurrent(version, now);
        await session.Secrets.UpsertMetadataAsync(metadata);
        await AppendRotatedAsync(session, metadata, version, SecretStage.Current, reason, now);
        return metadata;
    }

    private static Task AppendRotatedAsync(IWriteSession session, SecretMetadata metadata, long version, SecretStage stage, string reason, DateTimeOffset now) =>
        EventLog.AppendAsync(session, metadata.TenantUid, EventTypes.SecretRotated, now,
            new { path = metadata.Path, version, stage = SecretStages.Name(stage), epoch = metadata.Epoch, reason }, path: metadata.Path);

    private static async Task<byte[]> GenerateAsync(IWriteSession session, KeyRing ring, SecretMetadata metadata)
    {
        var generator = metadata.Rotation?.Generator
            ?? throw KeywardErrors.NoGenerator($"'{metadata.Path}' has no generator: give the new value as data, or set rotation.generator with PUT /v1/secret-metadata/{metadata.Path}");
        byte[] current = [];
        if (await session.Secrets.ReadAsync(metadata.TenantUid, metadata.Path, null) is (_, { DeletedAt: null, Ciphertext: not null } stored))
        {
            current = SecretWrites.Open(ring, stored);
        }

        try
        {
            return generator.Generate(current);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(current);
        }
    }

    private static async Task<SecretMetadata> RequireMetadataAsync(IWriteSession session, string tenantUid, string path)
    {
        var metadata = await session.Secrets.GetMetadataAsync(tenantUid, path);
        return metadata is null || metadata.CurrentVersion == 0 ? throw KeywardErrors.SecretNotFound(path) : metadata;
    }

    private static async Task RequireActiveAsync(IWriteSession session, string tenantUid, string path, long version, Func<KeywardException> otherwise)
    {
        if (await session.Secrets.ReadAsync(tenantUid, path, version) is not (_, { DeletedAt: null, DestroyedAt: null }))
        {
            throw otherwise();
        }
    }
}
