using Keyward.Core.Audit;
using Keyward.Core.Diagnostics;
using Keyward.Core.Errors;
using Keyward.Core.Hosting;
using Keyward.Core.Seal;
using Keyward.Core.Secrets;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Microsoft.Extensions.Logging;

namespace Keyward.Core.Rotation;

/// <summary>
/// Rotates secrets whose policy period has elapsed, on every node, safely when several nodes share one store:
/// <list type="number">
/// <item>claim: one statement marks due secrets as held by this node until now + <see cref="ClaimLifetime"/>; a secret
/// another node holds a live claim on is skipped (SQLite: one writer; PostgreSQL: <c>FOR UPDATE SKIP LOCKED</c>).</item>
/// <item>stage: in its own transaction, if the node still holds the claim and no version is pending, a generated
/// version is staged as <c>pending</c>.</item>
/// <item>check: outside any transaction, the policy's verification call and the engine managing the secret check the
/// pending version (<see cref="RotationService.GuardAsync"/>).</item>
/// <item>promote: in another transaction, if the node still holds the claim and the version checked is still the pending
/// one (compare-and-promote), it becomes current, the next rotation is scheduled a period later and the claim is
/// released. If another version is pending by then, nothing is promoted (audited as skipped, <c>pending_changed</c>)
/// and the claim is released, so the next pass checks the version pending now.</item>
/// </list>
/// A crash between stage and promote leaves the pending version and the old current in place and the secret still
/// due; once the claim lapses a node claims it again, finds the pending version and promotes it instead of staging
/// another, so neither version is lost. Each step checks the claim inside its transaction, so a node that stalled
/// past its claim changes nothing.
/// </summary>
public sealed class RotationScheduler : IAsyncDisposable
{
    /// <summary>The issue asks for at least every 10 s; a pass is cheap (one indexed UPDATE when nothing is due).</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(5);

    /// <summary>How long a claim holds: long enough for a pass, short enough that a dead node's secrets rotate soon.</summary>
    public static readonly TimeSpan ClaimLifetime = TimeSpan.FromSeconds(60);

    public const int BatchSize = 100;

    private static readonly AuditActor SchedulerActor = new("scheduler");

    private readonly GroupCommitter _committer;
    private readonly TenantKeyRings _rings;
    private readonly TenantDirectory _tenants;
    private readonly RotationService _rotation;
    private readonly KeyHierarchy _keys;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly PeriodicLoop _loop = new();

    public RotationScheduler(
        GroupCommitter committer, TenantKeyRings rings, TenantDirectory tenants, RotationService rotation, KeyHierarchy keys,
        TimeProvider time, ILogger<RotationScheduler> logger)
    {
        _rotation = rotation;
        _committer = committer;
        _rings = rings;
        _tenants = tenants;
        _keys = keys;
        _time = time;
        _logger = logger;
    }

    /// <summary>This node's name in claims (random per process).</summary>
    public string NodeId { get; init; } = "node_" + Ids.NewAccessor()[..12];

    /// <summary>Test seam: runs after a stage committed and before the promote (a throw here is a crash in between).</summary>
    internal Func<string, Task>? AfterStage { get; set; }

    /// <summary>Starts a pass every <paramref name="interval"/> (idempotent).</summary>
    public void Start(TimeSpan interval) =>
        _loop.Start(interval, _time, async cancellationToken => await RunOnceAsync(cancellationToken), error => KeywardLog.RotationPassFailed(_logger, error.GetType().Name));

    /// <summary>One pass: claims what is due and rotates it; returns how many secrets it promoted (tests drive it directly).</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken = default)
    {
        if (_keys.State != SealState.Unsealed)
        {
            return 0;
        }

        var now = _time.GetUtcNow();
        var claimed = await _committer.ExecuteAsync(null, session =>
            session.Secrets.ClaimDueRotationsAsync(now, NodeId, now + ClaimLifetime, BatchSize, cancellationToken));
        var promoted = 0;
        foreach (var (tenantUid, path) in claimed)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                if (await RotateClaimedAsync(tenantUid, path))
                {
                    promoted++;
                }
            }
            catch (Exception error) when (error is KeywardException or Crypto.Envelope.EnvelopeException)
            {
                // The claim is kept: the secret is retried once it lapses rather than in a tight loop.
                KeywardLog.ScheduledRotationFailed(_logger, tenantUid, path, error.GetType().Name, (error as KeywardException)?.Code);
            }
        }

        return promoted;
    }

    private async Task<bool> RotateClaimedAsync(string tenantUid, string path)
    {
        var tenant = await _tenants.GetByUidAsync(tenantUid);
        if (tenant is null || tenant.State != TenantState.Active)
        {
            // A locked or departing tenant's secrets are left alone; they stay due and rotate once it is active again.
            await _committer.ExecuteAsync(null, session => session.Secrets.ReleaseRotationClaimAsync(tenantUid, path, NodeId));
            return false;
        }

        var ring = await _rings.GetAsync(tenantUid);
        var stage = Draft(tenant, path, "secret.rotate.stage");
        var staged = await _committer.ExecuteAsync(stage, async session =>
        {
            var now = _time.GetUtcNow();
            if (!await session.Secrets.HoldsRotationClaimAsync(tenantUid, path, NodeId, now)
                || await session.Secrets.GetMetadataAsync(tenantUid, path) is not { } metadata
                || (metadata.CurrentVersion == 0 && !IsAdoptionToFinish(metadata)))
            {
                stage.AddDetail("skipped", "claim_lost");
                return (long?)null;
            }

            if (metadata.PendingVersion is { } pending)
            {
                // Staged by an earlier pass that did not get to promote (or by hand, or by an engine taking the secret
                // over that could not put the value in place): promote that one.
                stage.Version = pending;
                stage.AddDetail("skipped", "already_pending");
                return pending;
            }

            metadata = await RotationService.StageAsync(session, ring, metadata, null, promote: false, "scheduled", now);
            stage.Version = metadata.PendingVersion;
            stage.Epoch = metadata.Epoch;
            return metadata.PendingVersion;
        });

        if (staged is not { } version)
        {
            return false; // the claim was lost (recorded by the stage step): another node has the secret now
        }

        if (AfterStage is { } hook)
        {
            await hook(path);
        }

        // Outside any transaction: the verification call and the engine managing the secret check the pending value. If
        // either cannot, this throws, nothing is promoted and the claim is kept: a later pass tries again once it lapses.
        CheckedPending? checkedPending;
        try
        {
            checkedPending = await _rotation.GuardAsync(tenantUid, path, version, promoter: null);
        }
        catch (KeywardException restaged) when (restaged.Code == "not_pending")
        {
            checkedPending = null; // restaged (or promoted) before it could be checked: the promote step says which
        }

        // Compare-and-promote: only the version checked above becomes current. If another one is pending by now (restaged
        // during the verification call, say), nothing is promoted; the claim is released, so the next pass checks that one.
        var promote = Draft(tenant, path, "secret.promote.scheduled");
        promote.Version = version;
        var done = await _committer.ExecuteAsync(promote, async session =>
        {
            var now = _time.GetUtcNow();
            if (!await session.Secrets.HoldsRotationClaimAsync(tenantUid, path, NodeId, now)
                || await session.Secrets.GetMetadataAsync(tenantUid, path) is not { } metadata
                || (metadata.CurrentVersion == 0 && !IsAdoptionToFinish(metadata)))
            {
                promote.AddDetail("skipped", "claim_lost");
                return null;
            }

            if (metadata.PendingVersion is null)
            {
                promote.AddDetail("skipped", "nothing_pending");
                await session.Secrets.ReleaseRotationClaimAsync(tenantUid, path, NodeId);
                return null;
            }

            if ((checkedPending is null ? RotationService.PendingChanged : await RotationService.ChangedSinceCheckAsync(session, metadata, checkedPending)) is { } changed)
            {
                promote.AddDetail("skipped", changed);
                if (metadata.PendingVersion is { } other && other != version)
                {
                    promote.AddDetail("pending_version", other);
                }

                await session.Secrets.ReleaseRotationClaimAsync(tenantUid, path, NodeId);
                return null;
            }

            metadata = await RotationService.MakeCurrentAsync(session, metadata, version, "scheduled", now);
            await session.Secrets.ReleaseRotationClaimAsync(tenantUid, path, NodeId);
            promote.Epoch = metadata.Epoch;
            return metadata;
        });

        if (done is not null)
        {
            KeywardLog.ScheduledRotation(_logger, tenantUid, path, done.CurrentVersion, done.Epoch);
        }

        return done is not null;
    }

    /// <summary>An engine took the secret over and staged its first value but could not put it in place: the scheduler finishes it.</summary>
    private static bool IsAdoptionToFinish(SecretMetadata metadata) => metadata.Rotation?.ManagedBy is not null && metadata.PendingVersion is not null;

    /// <summary>A record of the scheduler's, whose change is refused in its transaction if the tenant was locked down or offboarded meanwhile.</summary>
    private AuditDraft Draft(Tenant tenant, string path, string operation) =>
        new(Ids.NewRequestId(), operation) { TenantId = tenant.Id, Actor = SchedulerActor, Path = path, Gate = new TenantGate(tenant.Uid, _time.GetUtcNow()) };

    public ValueTask DisposeAsync() => _loop.DisposeAsync();
}
