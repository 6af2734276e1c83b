using Keyward.Core.Audit;
using Keyward.Core.Policies;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;

namespace Keyward.Core.Rotation;

/// <summary>
/// The anomaly rules' rotation: when a rule locks down a subtree and the tenant asked for it
/// (<see cref="AnomalySettings.RotateExposed"/>), every secret the compromised tokens could read and that has a
/// generator gets a new value, promoted at once (reason <c>anomaly</c>), in the lockdown's own transaction. What the
/// tokens could read is taken from their rules, not from what the audit log shows they read: a compromised agent may
/// have read through a derived token or a path the log does not tie to it, and rotating too much is the safe error.
/// Secrets an engine manages (<see cref="RotationPolicy.ManagedBy"/>, a static database login) are skipped: their value
/// changes only through a promotion the engine allowed first, outside any transaction — rotate them with rotate + promote.
/// </summary>
public sealed class ExposureRotation
{
    /// <summary>At most this many secrets are rotated by one lockdown (the rest is reported in the audit record).</summary>
    public const int MaxSecrets = 1_000;

    private readonly TenantKeyRings _rings;

    public ExposureRotation(TenantKeyRings rings)
    {
        _rings = rings;
    }

    /// <summary>
    /// Inside <paramref name="session"/>: stages and promotes a generated value for every secret of the tenant that
    /// one of <paramref name="exposedBy"/> allows to read and that has a generator. Records <c>rotated_exposed</c>
    /// (and <c>rotated_exposed_skipped</c> when over <see cref="MaxSecrets"/>) on <paramref name="audit"/>. The group
    /// committer drops the cached secret rows around the commit.
    /// </summary>
    internal async Task<int> RotateAsync(
        IWriteSession session, string tenantUid, IReadOnlyList<RuleSet> exposedBy, DateTimeOffset now, AuditDraft audit)
    {
        var ring = await _rings.GetAsync(tenantUid);
        var rotated = 0;
        var skipped = 0;
        var managed = 0;
        foreach (var path in await session.Secrets.ListPathsAsync(tenantUid, ""))
        {
            if (!exposedBy.Any(rules => rules.Allows(path, Capability.Read)))
            {
                continue;
            }

            if (await session.Secrets.GetMetadataAsync(tenantUid, path) is not { Rotation.Generator: not null, CurrentVersion: > 0 } metadata)
            {
                continue;
            }

            if (metadata.Rotation?.ManagedBy is not null)
            {
                // An engine owns the value where it is used (a database login): only a guarded promotion may change it,
                // and that cannot run inside this transaction. Rotate it with rotate + promote.
                managed++;
                continue;
            }

            if (rotated == MaxSecrets)
            {
                skipped++;
                continue;
            }

            await RotationService.StageAsync(session, ring, metadata, data: null, promote: true, RotationService.AnomalyReason, now);
            rotated++;
        }

        audit.AddDetail("rotated_exposed", rotated);
        if (skipped > 0)
        {
            audit.AddDetail("rotated_exposed_skipped", skipped);
        }

        if (managed > 0)
        {
            audit.AddDetail("rotated_exposed_managed_skipped", managed);
        }

        return rotated;
    }
}
