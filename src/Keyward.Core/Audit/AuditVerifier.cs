using System.Text.Json;
using Keyward.Core.Storage;
using Keyward.Crypto.Keys;

namespace Keyward.Core.Audit;

/// <summary>
/// The result of walking the whole chain. <see cref="HeadMac"/>: <c>ok</c> (the head verifies under the key),
/// <c>missing</c> (records but a head without a MAC: a store last written before head MACs — the next commit writes
/// one — or a head row rewritten or removed), <c>bad</c> (a MAC that does not verify: the head row was rewritten), or
/// <c>none</c> (an empty chain). <see cref="Anchors"/>: the outside checkpoints whose MAC verified (and were checked
/// against the chain); <see cref="BadAnchorLines"/>: the anchor file's lines that claim to be a checkpoint but do not
/// verify or cannot be read (reported, never trusted).
/// </summary>
public sealed record AuditVerification(
    long Records,
    bool Ok,
    long? FirstBadSeq,
    long? TruncatedAfter,
    int Checkpoints,
    long? LastCheckpointSeq,
    string? Problem,
    string HeadMac = AuditVerifier.HeadMacOk,
    int Anchors = 0,
    long? LastAnchorSeq = null,
    IReadOnlyList<int>? BadAnchorLines = null);

/// <summary>
/// Walks the chain from the first record: every seq present and in order, every prev_hash linking to the record
/// before, every hash recomputed with K_audit, every indexed column agreeing with its canonical body; then every
/// checkpoint's MAC checked and its {seq, hash} found in the chain, and the head's MAC checked and its {seq, hash}
/// found in the chain. An edit, a deleted middle record, a chain recomputed without the key and a cut-off tail (below
/// the newest checkpoint, the head, or a checkpoint kept outside the store — an anchor) are each reported with the
/// sequence number where the chain stops being trustworthy.
/// </summary>
/// <remarks>
/// What the store alone cannot tell: someone who can write the database can cut off the newest records with their
/// checkpoints and put back a head row copied from an older copy of the store (its MAC verifies). Only an anchor — a
/// checkpoint that left the machine, in the server log or an audit sink — tells that one: the store then ends below
/// it (<c>truncated_after</c>), or holds a different record at its seq (<c>first_bad_seq</c>, when the server wrote on
/// after the cut).
/// </remarks>
public static class AuditVerifier
{
    public const int PageSize = 1000;

    public const string HeadMacOk = "ok";

    public const string HeadMacMissing = "missing";

    public const string HeadMacBad = "bad";

    public const string HeadMacNone = "none";

    public static Task<AuditVerification> VerifyAsync(IKeywardStore store, RootKey root, CancellationToken cancellationToken = default) =>
        VerifyAsync(store, root, null, cancellationToken);

    public static async Task<AuditVerification> VerifyAsync(
        IKeywardStore store, RootKey root, AuditAnchorFile? anchors, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(root);
        anchors ??= AuditAnchorFile.Empty;
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
            if (checkpoint.Hash.Length != AuditHead.Genesis.Hash.Length
                || !MacMatches(AuditChain.CheckpointMac(root.AuditCheckpoint, checkpoint.Seq, checkpoint.Hash, checkpoint.Time), checkpoint.Mac))
            {
                Bad(checkpoint.Seq, "a checkpoint's MAC does not verify");
                continue;
            }

            bySeq[checkpoint.Seq] = checkpoint;
        }

        // Anchors: only those whose MAC verifies are trusted; the others are reported by line.
        var anchored = new Dictionary<long, List<AuditAnchor>>();
        var badAnchorLines = new SortedSet<int>(anchors.UnreadableLines);
        foreach (var anchor in anchors.Checkpoints)
        {
            if (!MacMatches(AuditChain.CheckpointMac(root.AuditCheckpoint, anchor.Seq, anchor.Hash, anchor.Time), anchor.Mac))
            {
                badAnchorLines.Add(anchor.Line);
                continue;
            }

            if (!anchored.TryGetValue(anchor.Seq, out var atSeq))
            {
                anchored[anchor.Seq] = atSeq = [];
            }

            atSeq.Add(anchor);
        }

        using var chain = new AuditChain.Hasher(root.AuditChain);
        var previous = AuditHead.Genesis.Hash;
        long expected = 1;
        long records = 0;
        long last = 0;
        var after = 0L;
        byte[]? hashAtHead = null;
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

                if (anchored.TryGetValue(entry.Seq, out var anchorsAt)
                    && anchorsAt.Find(a => !System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(a.Hash, entry.Hash)) is { } differs)
                {
                    Bad(entry.Seq, $"the record differs from the anchored checkpoint at it (anchor line {differs.Line})");
                }

                if (entry.Seq == head.Seq)
                {
                    hashAtHead = entry.Hash;
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

        var headMac = HeadMacState(root, head, records);
        if (headMac == HeadMacOk && head.Seq <= last && hashAtHead is not null
            && !System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(hashAtHead, head.Hash))
        {
            Bad(head.Seq, "the record differs from the audit head");
        }

        long? truncatedAfter = null;
        var newestCheckpoint = bySeq.Count == 0 ? (long?)null : bySeq.Keys.Max();
        var newestAnchor = anchored.Count == 0 ? (long?)null : anchored.Keys.Max();
        if ((newestCheckpoint is { } c && c > last) || head.Seq > last)
        {
            truncatedAfter = last;
            problem ??= "records after the last one present were cut off";
        }

        if (newestAnchor is { } anchorSeq && anchorSeq > last)
        {
            truncatedAfter = last;
            problem ??= $"records after the last one present were cut off: an anchored checkpoint (line {anchored[anchorSeq][0].Line}) is at seq {anchorSeq}";
        }

        problem ??= headMac switch
        {
            HeadMacMissing => "the audit head has no MAC: a store last written before head MACs (the next commit writes one), or a head row rewritten or removed",
            HeadMacBad => "the audit head's MAC does not verify: the head row was rewritten, and records after it may have been cut off",
            _ => badAnchorLines.Count > 0
                ? $"anchor line {badAnchorLines.Min} claims a checkpoint that does not verify under this store's key (not trusted)"
                : null,
        };

        var ok = firstBad is null && truncatedAfter is null && headMac is HeadMacOk or HeadMacNone && badAnchorLines.Count == 0;
        return new AuditVerification(
            records, ok, firstBad, truncatedAfter, checkpoints.Count, newestCheckpoint, problem,
            headMac, anchored.Sum(a => a.Value.Count), newestAnchor, [.. badAnchorLines]);
    }

    /// <summary>The head's MAC: <see cref="HeadMacNone"/> for an empty chain, else whether it is there and verifies.</summary>
    private static string HeadMacState(RootKey root, AuditHead head, long records)
    {
        if (head.Seq == 0 && records == 0)
        {
            return HeadMacNone;
        }

        if (head.Mac is null || head.Seq == 0)
        {
            return HeadMacMissing;
        }

        return MacMatches(AuditChain.HeadMac(root.AuditCheckpoint, head.Seq, head.Hash), head.Mac) ? HeadMacOk : HeadMacBad;
    }

    private static bool MacMatches(byte[] expected, byte[] actual) =>
        System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(expected, actual);

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
