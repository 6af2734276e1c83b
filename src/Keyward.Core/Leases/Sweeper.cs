using Keyward.Core.Diagnostics;
using Keyward.Core.Errors;
using Keyward.Core.Events;
using Keyward.Core.Hosting;
using Keyward.Core.Seal;
using Keyward.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Keyward.Core.Leases;

/// <summary>
/// The background sweeper: revokes expired leases, deletes tokens and leases that can no longer matter, prunes old
/// events, and runs pending clean-ups outside Keyward (retried with backoff until they succeed) — each step in
/// bounded batches, so that a sweep never holds the writer long. Idle while sealed.
/// </summary>
public sealed class Sweeper : IAsyncDisposable
{
    public const int BatchSize = 1000;

    public const int CleanupBatchSize = 50;

    /// <summary>Clean-ups of one batch running at once (each holds a connection to the database it cleans up).</summary>
    public const int CleanupParallelism = 8;

    /// <summary>Bounds one pass: at most this many batches of clean-ups.</summary>
    public const int MaxCleanupBatches = 40;

    /// <summary>Expired tokens stay this long, so that their use is answered "expired" (and attributed) rather than "invalid".</summary>
    public static readonly TimeSpan ExpiredTokenRetention = TimeSpan.FromHours(1);

    /// <summary>Revoked leases (with their clean-up done) stay this long for listing and investigation.</summary>
    public static readonly TimeSpan RevokedLeaseRetention = TimeSpan.FromHours(24);

    /// <summary>Events are kept this long; a client that reconnects later must resynchronize.</summary>
    public static readonly TimeSpan EventRetention = TimeSpan.FromHours(24);

    public static readonly TimeSpan MaxCleanupBackoff = TimeSpan.FromMinutes(5);

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly KeyHierarchy _keys;
    private readonly LeaseEngines _engines;
    private readonly Tenants.LockdownRevocations _revocations;
    private readonly Tenants.TenantService _tenants;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly PeriodicLoop _loop = new();
    private IStoreLeadership? _lead;

    public Sweeper(
        IKeywardStore store, GroupCommitter committer, KeyHierarchy keys, LeaseEngines engines, Tenants.LockdownRevocations revocations,
        Tenants.TenantService tenants, TimeProvider time, ILogger<Sweeper> logger)
    {
        _tenants = tenants;
        _revocations = revocations;
        _store = store;
        _committer = committer;
        _keys = keys;
        _engines = engines;
        _time = time;
        _logger = logger;
    }

    /// <summary>Starts sweeping every <paramref name="interval"/> (idempotent).</summary>
    public void Start(TimeSpan interval) => _loop.Start(
        interval, _time,
        async cancellationToken =>
        {
            if (_keys.State == SealState.Unsealed && await LeadsAsync(cancellationToken))
            {
                await SweepOnceAsync(cancellationToken);
            }
        },
        error => KeywardLog.SweepFailed(_logger, error.GetType().Name));

    /// <summary>
    /// Whether this node sweeps: always on an embedded store; on a shared one only the node holding the sweeper's
    /// leadership, so that clean-ups outside the store (dropping a database login) never run twice at once.
    /// </summary>
    private async Task<bool> LeadsAsync(CancellationToken cancellationToken)
    {
        if (_store is not ISharedStore shared)
        {
            return true;
        }

        if (_lead is not null && !await _lead.StillHeldAsync(cancellationToken))
        {
            await _lead.DisposeAsync();
            _lead = null;
        }

        _lead ??= await shared.TryLeadAsync("sweeper", cancellationToken);
        return _lead is not null;
    }

    /// <summary>One pass; returns what it did (tests drive it directly).</summary>
    public async Task<SweepResult> SweepOnceAsync(CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        var (expired, tokens, leases, events) = await _committer.ExecuteAsync(null, async session =>
        {
            var expiredLeases = await session.Leases.RevokeExpiredAsync(now, BatchSize, _engines.External);
            foreach (var lease in expiredLeases.Where(l => l.Engine != LeaseEngines.TokenEngine))
            {
                await EventLog.AppendAsync(session, lease.TenantUid, EventTypes.LeaseRevoked, now,
                    new { lease_id = lease.LeaseId, path = lease.Path, engine = lease.Engine, reason = "expired" },
                    path: lease.Path, subjectAccessor: lease.OwnerAccessor);
            }

            var sweptTokens = await session.Tokens.SweepExpiredAsync(now - ExpiredTokenRetention, BatchSize);
            // A derived token's revocation matters only while its session could still act.
            await session.Tokens.SweepDerivedRevocationsAsync(now, BatchSize);
            var sweptLeases = await session.Leases.SweepAsync(now - RevokedLeaseRetention, BatchSize);
            var prunedEvents = await session.Events.PruneAsync(now - EventRetention, BatchSize);
            return (expiredLeases.Count, sweptTokens, sweptLeases, prunedEvents);
        });

        // Wrapped responses: expired payloads erased; rows deleted once a late second unwrap no longer matters.
        var (erasedWraps, deletedWraps) = await _committer.ExecuteAsync(null, async session =>
            (await session.Wraps.EraseExpiredAsync(now, BatchSize), await session.Wraps.SweepAsync(now - Wrapping.WrappingService.Retention, BatchSize)));

        await _revocations.ResumePendingAsync();
        var cleaned = await RunCleanupsAsync(now, cancellationToken);

        // An offboarded tenant's keys outlive it only until its last login outside Keyward is gone.
        await _tenants.DestroyRetainedKeysAsync(cancellationToken);
        return new SweepResult(expired, tokens, leases, events, cleaned) { ErasedWraps = erasedWraps, DeletedWraps = deletedWraps };
    }

    /// <summary>
    /// Clean-ups outside Keyward run outside any transaction, <see cref="CleanupParallelism"/> at a time, in batches
    /// until none is due (at most <see cref="MaxCleanupBatches"/> per pass); each outcome is recorded afterwards. A
    /// failed one is due again only after its backoff, so a pass never retries it.
    /// </summary>
    private async Task<int> RunCleanupsAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var done = 0;
        for (var batch = 0; batch < MaxCleanupBatches; batch++)
        {
            IReadOnlyList<LeaseRecord> due;
            await using (var session = await _store.ReadAsync(cancellationToken))
            {
                due = await session.Leases.ListDueCleanupsAsync(now, CleanupBatchSize, cancellationToken);
            }

            await Parallel.ForEachAsync(
                due,
                new ParallelOptions { MaxDegreeOfParallelism = CleanupParallelism, CancellationToken = cancellationToken },
                async (lease, token) =>
                {
                    if (await CleanUpAsync(lease, token))
                    {
                        Interlocked.Increment(ref done);
                    }
                });

            if (due.Count < CleanupBatchSize)
            {
                break;
            }
        }

        return done;
    }

    private async Task<bool> CleanUpAsync(LeaseRecord lease, CancellationToken cancellationToken)
    {
        var engine = _engines.Find(lease.Engine);
        string? failure = null;
        if (engine is null)
        {
            failure = "engine_not_registered";
        }
        else
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(30));
                await engine.CleanUpAsync(lease, timeout.Token);
            }
            catch (Exception error) when (!cancellationToken.IsCancellationRequested)
            {
                // A refusal of Keyward's own making names its step and SQLSTATE, never data; any other error only by its type.
                failure = error is KeywardException refusal ? $"{refusal.Code}: {refusal.Message}" : error.GetType().Name;
            }
        }

        DateTimeOffset? next = null;
        if (failure is not null)
        {
            // Doubling, with up to a quarter more at random: clean-ups that failed together do not all retry together.
            var seconds = Math.Min(Math.Pow(2, lease.CleanupAttempts), MaxCleanupBackoff.TotalSeconds);
            var backoff = TimeSpan.FromSeconds(seconds * (1 + (Random.Shared.NextDouble() / 4)));
            next = _time.GetUtcNow() + backoff;
            KeywardLog.LeaseCleanupFailed(_logger, lease.LeaseId, lease.CleanupAttempts + 1, failure, next.Value);
        }

        await _committer.ExecuteAsync(null, session => session.Leases.RecordCleanupAsync(lease.LeaseId, failure is null, next, failure));
        return failure is null;
    }

    public async ValueTask DisposeAsync()
    {
        await _loop.DisposeAsync();
        if (_lead is not null)
        {
            await _lead.DisposeAsync();
            _lead = null;
        }
    }
}

/// <summary>One sweep's work: leases expired, tokens and leases deleted, events pruned, clean-ups completed.</summary>
public readonly record struct SweepResult(int ExpiredLeases, int DeletedTokens, int DeletedLeases, int PrunedEvents, int CleanupsDone)
{
    /// <summary>Wrapped responses whose payload was erased at expiry.</summary>
    public int ErasedWraps { get; init; }

    /// <summary>Wrapped responses deleted after <see cref="Wrapping.WrappingService.Retention"/>.</summary>
    public int DeletedWraps { get; init; }
}
