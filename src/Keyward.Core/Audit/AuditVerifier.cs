using System.Text.Json;
using Keyward.Core.Storage;
using Keyward.Crypto.Keys;

namespace Keyward.Core.Audit;

/// <summary>The result of walking the whole chain.</summary>
public sealed record AuditVerification(
    long Records,
    bool Ok,
    long? FirstBadSeq,
    long? TruncatedAfter,
    int Checkpoints,
    long? LastCheckpointSeq,
    string? Problem);

/// <summary>
/// Walks the chain from the first record: every seq present and in order, every prev_hash linking to the record
/// before, every hash recomputed with K_audit, every indexed column agreeing with its canonical body; then every
/// checkpoint's MAC checked and its {seq, hash} found in the chain. An edit, a deleted middle record, a chain
/// recomputed without the key and a cut-off tail (below the newest checkpoint or the head) are each reported
/// with the sequence number where the chain stops being trustworthy.
/// </summary>
public static class AuditVerifier
{
    public const int PageSize = 1000;

    public static async Task<AuditVerification> VerifyAsync(IKeywardStore store, RootKey root, CancellationToken cancellationToken = default)
    {
        await using var session = await store.ReadAsync(cancellationToken);
        var checkpoints = await session.Audit.ListCheckpointsAsync(cancellationToken);
        var head = await session.Audit.GetHeadAsync(cancellationToken);
        var bySeq = new Dictionary<long, AuditCheckpoint>();
        long? firstBad = null;
        string? problem = null;

        void Bad(long seq, string why)
        {
            if (firstBad is null || seq < firstBad)
            {
                firstBad = seq;
                problem = why;
            }
        }

        foreach (var checkpoint in checkpoints)
        {
            var mac = AuditChain.CheckpointMac(root.AuditCheckpoint, checkpoint.Seq, checkpoint.Hash, checkpoint.Time);
            if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(mac, checkpoint.Mac))
            {
                Bad(checkpoint.Seq, "a checkpoint's MAC does not verify");
                continue;
            }

            bySeq[checkpoint.Seq] = checkpoint;
        }

        using var chain = new AuditChain.Hasher(root.AuditChain);
        var previous = AuditHead.Genesis.Hash;
        long expected = 1;
        long records = 0;
        long last = 0;
        var after = 0L;
        while (true)
        {
            var page = await session.Audit.QueryAsync(new AuditQuery(null, after, PageSize, null, null), cancellationToken);
            foreach (var entry in page)
            {
                records++;
                if (entry.Seq != expected)
                {
                    Bad(expected, $"record {expected} is missing");
                }
                else if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(entry.PrevHash, previous))
                {
                    Bad(entry.Seq, "prev_hash does not link to the record before");
                }
                else if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
                    chain.Hash(previous, entry.Body), entry.Hash))
                {
                    Bad(entry.Seq, "the record's hash does not verify under the audit key");
                }
                else if (!ColumnsMatchBody(entry))
                {
                    Bad(entry.Seq, "the record's indexed columns disagree with its body");
                }

                if (bySeq.TryGetValue(entry.Seq, out var checkpoint)
                    && !System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(checkpoint.Hash, entry.Hash))
                {
                    Bad(entry.Seq, "the record differs from the checkpoint taken at it");
                }

                previous = entry.Hash;
                expected = entry.Seq + 1;
                last = entry.Seq;
            }

            if (page.Count < PageSize)
            {
                break;
            }

            after = page[^1].Seq;
        }

        long? truncatedAfter = null;
        var newestCheckpoint = bySeq.Count == 0 ? (long?)null : bySeq.Keys.Max();
        if ((newestCheckpoint is { } c && c > last) || head.Seq > last)
        {
            truncatedAfter = last;
            problem ??= "records after the last one present were cut off";
        }

        return new AuditVerification(records, firstBad is null && truncatedAfter is null, firstBad, truncatedAfter, checkpoints.Count, newestCheckpoint, problem);
    }

    private static bool ColumnsMatchBody(AuditEntry entry)
    {
        try
        {
            using var document = JsonDocument.Parse(entry.Body);
            var root = document.RootElement;
            var tenant = root.GetProperty("tenant");
            var path = root.GetProperty("path");
            var agent = root.GetProperty("actor").GetProperty("agent_id");
            return root.GetProperty("seq").GetInt64() == entry.Seq
                && (tenant.ValueKind == JsonValueKind.Null ? entry.TenantId is null : tenant.GetString() == entry.TenantId)
                && (path.ValueKind == JsonValueKind.Null ? entry.Path is null : path.GetString() == entry.Path)
                && (agent.ValueKind == JsonValueKind.Null ? entry.AgentId is null : agent.GetString() == entry.AgentId);
        }
        catch (Exception error) when (error is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return false;
        }
    }
}
