using System.Collections.Concurrent;
using Keyward.Core.Audit;
using Keyward.Core.Diagnostics;
using Keyward.Core.Storage;
using Keyward.Crypto.Envelope;
using Microsoft.Extensions.Logging;

namespace Keyward.Core.Tenants;

/// <summary>
/// Re-encrypts a tenant's old secret versions under its newest key, in bounded batches, each batch one group
/// commit. A replacement only lands if the row is still sealed under the version it was read with, so a
/// concurrent destroy or write is never overwritten. Jobs live in memory: after a restart, start a new one
/// (rewrap is idempotent).
/// </summary>
public sealed class RewrapJobs
{
    public const int BatchSize = 200;

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly TenantKeyRings _rings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, RewrapJob> _jobs = new(StringComparer.Ordinal);

    public RewrapJobs(
        IKeywardStore store, GroupCommitter committer, TenantKeyRings rings, TimeProvider time, ILogger<RewrapJobs> logger)
    {
        _store = store;
        _committer = committer;
        _rings = rings;
        _time = time;
        _logger = logger;
    }

    public RewrapJob? Get(string id) => _jobs.TryGetValue(id, out var job) ? job : null;

    public RewrapJob Start(Tenant tenant, int targetKeyVersion, AuditActor actor)
    {
        var job = new RewrapJob(Ids.NewJobId(), tenant.Id, targetKeyVersion, _time.GetUtcNow());
        _jobs[job.Id] = job;
        _ = Task.Run(() => RunAsync(job, tenant, actor));
        return job;
    }

    private async Task RunAsync(RewrapJob job, Tenant tenant, AuditActor actor)
    {
        try
        {
            long total;
            await using (var session = await _store.ReadAsync())
            {
                total = await session.Secrets.CountForRewrapAsync(tenant.Uid, job.KeyVersion);
            }

            job.Total = total;
            (string Path, long Version)? cursor = null;
            while (true)
            {
                IReadOnlyList<Secrets.RewrapCandidate> batch;
                await using (var session = await _store.ReadAsync())
                {
                    batch = await session.Secrets.ListForRewrapAsync(tenant.Uid, job.KeyVersion, cursor, BatchSize);
                }

                if (batch.Count == 0)
                {
                    break;
                }

                var ring = await _rings.GetAsync(tenant.Uid);
                var replacements = new List<(Secrets.RewrapCandidate Old, byte[] Ciphertext)>(batch.Count);
                foreach (var candidate in batch)
                {
                    var context = EnvelopeContext.ForSecret(tenant.Uid, candidate.Path, candidate.Version);
                    try
                    {
                        var plaintext = SecretEnvelope.Decrypt(ring, context, candidate.Ciphertext);
                        replacements.Add((candidate, SecretEnvelope.Encrypt(ring, context, plaintext)));
                        System.Security.Cryptography.CryptographicOperations.ZeroMemory(plaintext);
                    }
                    catch (EnvelopeException)
                    {
                        job.AddFailed(1);
                    }
                }

                var replaced = await _committer.ExecuteAsync(null, async session =>
                {
                    var count = 0;
                    foreach (var (old, ciphertext) in replacements)
                    {
                        if (await session.Secrets.ReplaceCiphertextAsync(tenant.Uid, old.Path, old.Version, old.KeyVersion, ring.CurrentVersion, ciphertext))
                        {
                            count++;
                        }
                    }

                    return count;
                });
                job.AddDone(replaced);
                cursor = (batch[^1].Path, batch[^1].Version);
                KeywardLog.RewrapProgress(_logger, job.Id, job.TenantId, job.Done, job.Total, job.Failed, "running");
            }

            job.Finish(job.Failed == 0 ? "completed" : "completed_with_failures", _time.GetUtcNow());
        }
        catch (Exception error)
        {
            KeywardLog.RewrapFailed(_logger, job.Id, job.TenantId, error);
            job.Finish("failed", _time.GetUtcNow());
        }

        KeywardLog.RewrapProgress(_logger, job.Id, job.TenantId, job.Done, job.Total, job.Failed, job.State);
        var audit = new AuditDraft(job.Id, "tenant.rewrap.finish") { TenantId = tenant.Id, Actor = actor };
        audit.AddDetail("job_id", job.Id);
        audit.AddDetail("state", job.State);
        audit.AddDetail("rewrapped", job.Done);
        audit.AddDetail("failed", job.Failed);
        try
        {
            await _committer.AuditAsync(audit);
        }
        catch (Exception error)
        {
            KeywardLog.RewrapFailed(_logger, job.Id, job.TenantId, error);
        }
    }
}

/// <summary>Progress of one rewrap, readable while it runs.</summary>
public sealed class RewrapJob
{
    private long _done;
    private long _failed;

    public RewrapJob(string id, string tenantId, int keyVersion, DateTimeOffset startedAt)
    {
        Id = id;
        TenantId = tenantId;
        KeyVersion = keyVersion;
        StartedAt = startedAt;
    }

    public string Id { get; }

    public string TenantId { get; }

    public int KeyVersion { get; }

    public DateTimeOffset StartedAt { get; }

    public DateTimeOffset? FinishedAt { get; private set; }

    public string State { get; private set; } = "running";

    public long Total { get; set; }

    public long Done => Interlocked.Read(ref _done);

    public long Failed => Interlocked.Read(ref _failed);

    internal void AddDone(long count) => Interlocked.Add(ref _done, count);

    internal void AddFailed(long count) => Interlocked.Add(ref _failed, count);

    internal void Finish(string state, DateTimeOffset at)
    {
        FinishedAt = at;
        State = state;
    }
}
