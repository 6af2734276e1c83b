using Keyward.Core.Diagnostics;
using Keyward.Crypto.Keys;
using Microsoft.Extensions.Logging;

namespace Keyward.Core.Audit;

/// <summary>
/// The audit chain's writing side, as the group committer appends each batch: records encoded and chained onto the head
/// (<c>hash = HMAC(K_audit, prev_hash ‖ record)</c>), a MAC'd checkpoint every <see cref="CheckpointEveryRecords"/> records or
/// <see cref="CheckpointInterval"/> while records are written, the head written with its MAC, and a head read from the store
/// checked against its MAC. It keeps no store and no transaction: the committer decides when a batch commits and tells it
/// (<see cref="Committed"/>). Used by the committer's one writer thread only.
/// </summary>
public sealed class AuditAppender
{
    /// <summary>A checkpoint at least every this many records…</summary>
    public const int CheckpointEveryRecords = 1000;

    /// <summary>…and at least this often while records are being written.</summary>
    public static readonly TimeSpan CheckpointInterval = TimeSpan.FromSeconds(10);

    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private long _lastCheckpointSeq = -1;
    private long _lastCheckpointTicks;
    private long _headSeq;

    public AuditAppender(TimeProvider time, ILogger logger)
    {
        _time = time;
        _logger = logger;
        _lastCheckpointTicks = time.GetTimestamp();
    }

    /// <summary>Whether an idle tick should write a checkpoint: records were committed since the last one, and its interval passed.</summary>
    public bool IdleCheckpointDue => _headSeq > _lastCheckpointSeq && IntervalElapsed();

    /// <summary>
    /// Starts a batch chained onto <paramref name="head"/> (read under the store's head lock, or the one this node
    /// committed last). Dispose the batch when the attempt ends, committed or not.
    /// </summary>
    public Batch Begin(RootKey root, AuditHead head, bool headReadFromStore)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (headReadFromStore)
        {
            CheckHeadMac(root, head);
        }

        if (_lastCheckpointSeq < 0)
        {
            // First batch since start: checkpoints count from here.
            _lastCheckpointSeq = head.Seq;
        }

        return new Batch(this, root, head);
    }

    /// <summary>The batch committed: its head is this node's, and its checkpoint (if any) is logged (event 3001) as an outside anchor.</summary>
    public void Committed(AuditHead head, AuditCheckpoint? checkpoint)
    {
        _headSeq = head.Seq;
        if (checkpoint is not null)
        {
            _lastCheckpointSeq = checkpoint.Seq;
            _lastCheckpointTicks = _time.GetTimestamp();
            KeywardLog.AuditCheckpoint(
                _logger, checkpoint.Seq, Convert.ToHexStringLower(checkpoint.Hash), Convert.ToHexStringLower(checkpoint.Mac), Instants.Format(checkpoint.Time));
        }
    }

    private bool IntervalElapsed() => _time.GetElapsedTime(_lastCheckpointTicks) >= CheckpointInterval;

    /// <summary>
    /// Logs a head read from the store that its MAC does not vouch for (none: a store last written before head MACs, or a
    /// rewritten row; or one that does not verify). The batch still chains on it — refusing would stop every request —
    /// and its commit MACs the new head; the warning and an anchored verification are what tell a cut tail.
    /// </summary>
    private void CheckHeadMac(RootKey root, AuditHead head)
    {
        if (head.Seq == 0)
        {
            return;
        }

        if (head.Mac is null)
        {
            KeywardLog.AuditHeadUnauthenticated(_logger, head.Seq, "has no MAC");
        }
        else if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(AuditChain.HeadMac(root.AuditCheckpoint, head.Seq, head.Hash), head.Mac))
        {
            KeywardLog.AuditHeadUnauthenticated(_logger, head.Seq, "has a MAC that does not verify");
        }
    }

    /// <summary>One batch's records, chained in order onto the head it began with.</summary>
    public sealed class Batch : IDisposable
    {
        private readonly AuditAppender _owner;
        private readonly RootKey _root;
        private readonly AuditChain.Hasher _chain;

        internal Batch(AuditAppender owner, RootKey root, AuditHead head)
        {
            _owner = owner;
            _root = root;
            _chain = new AuditChain.Hasher(root.AuditChain);
            Head = head;
        }

        /// <summary>The head after the records appended so far.</summary>
        public AuditHead Head { get; private set; }

        public List<AuditEntry> Records { get; } = [];

        /// <summary>Encodes <paramref name="audit"/> as the next record, chained onto the head.</summary>
        public void Append(AuditDraft audit, DateTimeOffset now)
        {
            ArgumentNullException.ThrowIfNull(audit);
            var seq = Head.Seq + 1;
            var body = AuditChain.Encode(seq, now, audit);
            var hash = _chain.Hash(Head.Hash, body);
            Records.Add(new AuditEntry(seq, audit.TenantId, now, audit.Actor.AgentId, audit.Path, body, Head.Hash, hash));
            Head = new AuditHead(seq, hash);
        }

        /// <summary>
        /// Closes the batch: a checkpoint of the new head when one is due, and the head with its MAC (rewritten to hide a
        /// cut tail, it no longer verifies). Returns both, to be written with the records.
        /// </summary>
        public (AuditCheckpoint? Checkpoint, AuditHead Head) Close(DateTimeOffset now)
        {
            var head = Head;
            AuditCheckpoint? checkpoint = null;
            var last = _owner._lastCheckpointSeq;
            if (head.Seq > last && (head.Seq / CheckpointEveryRecords > last / CheckpointEveryRecords || _owner.IntervalElapsed()))
            {
                checkpoint = new AuditCheckpoint(head.Seq, head.Hash, now, AuditChain.CheckpointMac(_root.AuditCheckpoint, head.Seq, head.Hash, now));
            }

            return (checkpoint, head with { Mac = AuditChain.HeadMac(_root.AuditCheckpoint, head.Seq, head.Hash) });
        }

        public void Dispose() => _chain.Dispose();
    }
}
