using System.Diagnostics;
using System.Threading.Channels;
using Keyward.Core.Audit;
using Keyward.Core.Diagnostics;
using Keyward.Core.Errors;
using Keyward.Core.Seal;
using Keyward.Core.Tenants;
using Microsoft.Extensions.Logging;

namespace Keyward.Core.Storage;

/// <summary>
/// Group commit: every change and every audit record goes through one queue; a single writer drains it into one
/// transaction per batch, each operation inside its own savepoint, and commits once — so many concurrent requests
/// share one fsync. An operation's audit record is appended in the same transaction as its change, chained to the
/// previous record; a caller's task completes only after the commit is durable. If the commit fails, no operation
/// of the batch is acknowledged.
/// </summary>
public sealed class GroupCommitter : IAsyncDisposable
{
    /// <summary>Bounds a transaction's size; beyond this the next batch starts right away.</summary>
    public const int MaxBatch = 512;

    /// <summary>A checkpoint at least every this many records (<see cref="AuditAppender"/>)…</summary>
    public const int CheckpointEveryRecords = AuditAppender.CheckpointEveryRecords;

    /// <summary>…and at least this often while records are being written.</summary>
    public static readonly TimeSpan CheckpointInterval = AuditAppender.CheckpointInterval;

    private readonly IKeywardStore _store;
    private readonly KeyHierarchy _keys;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<WorkItem> _queue = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Thread _writer;
    private readonly Task _checkpointTimer;
    /// <summary>After another node moved the head under an assumed one, batches read it for this long.</summary>
    private static readonly TimeSpan AssumeHeadPause = TimeSpan.FromSeconds(1);

    private readonly AuditAppender _appender;
    private AuditHead? _committedHead;
    private long _assumeHeadAfter;
    private long _latestEventId;
    private long _commits;
    private long _commitTicks;
    private long _batchTicks;
    private long _operations;
    private long _auditRecords;
    private long _cachedReadsRedone;

    private readonly IStoreCache[] _caches;

    /// <param name="store">The store every batch commits to.</param>
    /// <param name="keys">The key hierarchy (the audit chain's keys).</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">Where commit failures and checkpoints are logged.</param>
    /// <param name="caches">The node's caches of stored rows: each is invalidated before and after the commit of a batch
    /// that changed what it watches (<see cref="IWriteSession.Changes"/>), whatever operation made the change.</param>
    public GroupCommitter(IKeywardStore store, KeyHierarchy keys, TimeProvider time, ILogger<GroupCommitter> logger, IEnumerable<IStoreCache>? caches = null)
    {
        _caches = caches?.ToArray() ?? [];
        _store = store;
        _keys = keys;
        _time = time;
        _logger = logger;
        _appender = new AuditAppender(time, logger);
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "Keyward group committer" };
        _writer.Start();
        _checkpointTimer = Task.Run(CheckpointLoopAsync);
    }

    /// <summary>Raised on the writer thread after each durable commit (event streams wake up on it). Must be cheap.</summary>
    public event Action? Committed;

    /// <summary>
    /// The newest event id in the store as of this node's last commit (0 before its first): a stream positioned at or
    /// past it has nothing new from this node, so a commit that wrote only audit records need not wake it into a
    /// query. Events other nodes commit are not seen here (streams also poll, see <see cref="Events.EventStream"/>).
    /// </summary>
    public long LatestEventId => Interlocked.Read(ref _latestEventId);

    /// <summary>Commit statistics since start (for metrics and the read benchmark's fsync figure).</summary>
    public CommitStats Stats => new(
        Interlocked.Read(ref _commits),
        TimeSpan.FromSeconds(Interlocked.Read(ref _commitTicks) / (double)Stopwatch.Frequency),
        TimeSpan.FromSeconds(Interlocked.Read(ref _batchTicks) / (double)Stopwatch.Frequency),
        Interlocked.Read(ref _operations),
        Interlocked.Read(ref _auditRecords),
        Interlocked.Read(ref _cachedReadsRedone));

    /// <summary>
    /// Runs <paramref name="work"/> in the next batch's transaction and appends <paramref name="audit"/> (if any)
    /// with its outcome. Completes after the commit; throws the operation's own error after its failure was audited.
    /// </summary>
    /// <param name="audit">The operation's record, or null.</param>
    /// <param name="work">The change.</param>
    /// <param name="gate">The tenant check the change passes in its transaction before it runs (refused otherwise: 423 or
    /// 401); by default the audit draft's, which authentication set from a tenant's token. Give it where the work acts for
    /// a tenant without such a draft (a system task, a second transaction of a request whose record is committed).</param>
    public Task<T> ExecuteAsync<T>(AuditDraft? audit, Func<IWriteSession, Task<T>> work, TenantGate? gate = null)
    {
        ArgumentNullException.ThrowIfNull(work);
        var item = new WorkItem<T>(audit, work) { Gate = gate ?? audit?.Gate };
        Enqueue(item);
        return item.Completion.Task;
    }

    public Task ExecuteAsync(AuditDraft? audit, Func<IWriteSession, Task> work, TenantGate? gate = null) =>
        ExecuteAsync<bool>(
            audit,
            async session =>
            {
                await work(session);
                return true;
            },
            gate);

    /// <summary>Makes an audit record durable on its own (reads, refusals).</summary>
    public Task AuditAsync(AuditDraft audit)
    {
        ArgumentNullException.ThrowIfNull(audit);
        var item = new WorkItem<bool>(audit, null);
        Enqueue(item);
        return item.Completion.Task;
    }

    /// <summary>Completes once everything queued before it is committed.</summary>
    public Task FlushAsync()
    {
        var item = new WorkItem<bool>(null, null);
        Enqueue(item);
        return item.Completion.Task;
    }

    private void Enqueue(WorkItem item)
    {
        if (item.Audit is { } audit && !audit.TryTake())
        {
            // One request, one record: a draft queued twice would be written twice (say, ok and then denied).
            item.Refuse(new InvalidOperationException($"The audit record of '{audit.Operation}' is queued or written already; a draft is committed once."));
            return;
        }

        if (!_queue.Writer.TryWrite(item))
        {
            item.Fail(KeywardErrors.StoreUnavailable());
        }
    }

    /// <summary>
    /// The writer, on a thread of its own: blocked while idle; under load it never queues behind request work on
    /// the thread pool. Store calls complete synchronously on SQLite; on an engine with real asynchronous I/O this
    /// one thread waits for them, which is what a single writer does anyway.
    /// </summary>
    private void WriteLoop()
    {
        var batch = new List<WorkItem>(MaxBatch);
        var reader = _queue.Reader;
        while (WaitForWork(reader))
        {
            // Everything queued while the previous batch was committing goes into this one: under load the batches
            // grow by themselves, idle a single operation commits at once.
            batch.Clear();
            Drain(reader, batch);
            CommitBatchAsync(batch).GetAwaiter().GetResult();
        }
    }

    private static bool WaitForWork(ChannelReader<WorkItem> reader)
    {
        var wait = reader.WaitToReadAsync(CancellationToken.None);
        return wait.IsCompletedSuccessfully ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }

    private static void Drain(ChannelReader<WorkItem> reader, List<WorkItem> batch)
    {
        while (batch.Count < MaxBatch && reader.TryRead(out var item))
        {
            batch.Add(item);
        }
    }

    private async Task CommitBatchAsync(List<WorkItem> batch)
    {
        // A batch of audit records alone (reads, refusals) may chain onto the head this node committed last without
        // reading it first; if another node moved the head meanwhile, nothing was committed and the batch goes again,
        // reading the head under its lock.
        var outcome = await TryCommitBatchAsync(batch, assumeHead: true);
        if (outcome == BatchOutcome.GenerationMoved)
        {
            // A secret changed since those rows were cached: their reads run again from the store; the rest goes on.
            FailCachedReadsNotAt(batch, generation: null);
            outcome = await TryCommitBatchAsync(batch, assumeHead: true);
        }

        if (outcome == BatchOutcome.HeadMoved)
        {
            _assumeHeadAfter = _time.GetTimestamp() + (long)(AssumeHeadPause.TotalSeconds * _time.TimestampFrequency);
            await TryCommitBatchAsync(batch, assumeHead: false);
        }
    }

    private enum BatchOutcome
    {
        Done,
        HeadMoved,
        GenerationMoved,
    }

    private static long? NewestCachedRowGeneration(List<WorkItem> batch)
    {
        long? newest = null;
        foreach (var item in batch)
        {
            if (item.Audit?.CachedRowGeneration is { } generation && (newest is null || generation > newest))
            {
                newest = generation;
            }
        }

        return newest;
    }

    /// <summary>
    /// Fails, without writing anything of them, the operations that answered from a cached row read under another
    /// secret generation than <paramref name="generation"/> (any, when null), and takes them out of the batch; their
    /// requests run them again reading the store.
    /// </summary>
    private void FailCachedReadsNotAt(List<WorkItem> batch, long? generation) =>
        Interlocked.Add(ref _cachedReadsRedone, batch.RemoveAll(item =>
        {
            if (item.Audit?.CachedRowGeneration is not { } relied || relied == generation)
            {
                return false;
            }

            item.Fail(new StaleCachedReadException());
            return true;
        }));

    /// <summary>
    /// The head this node committed last, if the batch may assume it (see <see cref="CommitBatchAsync"/>): only audit
    /// records, no work and no events, so that the head stays the first row the transaction locks.
    /// </summary>
    private AuditHead? AssumableHead(List<WorkItem> batch) =>
        _committedHead is { Seq: > 0 } head
        && _time.GetTimestamp() >= _assumeHeadAfter
        && batch.TrueForAll(i => !i.HasWork && i.Audit?.Events is null)
            ? head
            : null;

    private async Task<BatchOutcome> TryCommitBatchAsync(List<WorkItem> batch, bool assumeHead)
    {
        var tick = batch.Exists(i => i.IsCheckpointTick);
        if (batch.TrueForAll(i => i.IsBarrier) && !(tick && _appender.IdleCheckpointDue))
        {
            // Flush markers and idle ticks: nothing to write.
            batch.ForEach(i => i.Complete());
            return BatchOutcome.Done;
        }

        Crypto.Keys.RootKey root;
        try
        {
            root = _keys.Require();
        }
        catch (KeywardException sealedError)
        {
            foreach (var item in batch)
            {
                if (item.IsBarrier)
                {
                    item.Complete();
                }
                else
                {
                    item.Fail(sealedError);
                }
            }

            return BatchOutcome.Done;
        }

        IWriteSession? session = null;
        AuditAppender.Batch? chain = null;
        var changes = StoreChanges.None;
        var batchStarted = Stopwatch.GetTimestamp();
        try
        {
            session = await _store.WriteAsync();
            var assumed = assumeHead ? AssumableHead(batch) : null;
            chain = _appender.Begin(root, assumed ?? await session.Audit.GetHeadAsync(), headReadFromStore: assumed is null);

            // Reads answered from rows cached from a shared store vouch for one secret generation; one read under an
            // older generation than another's is outdated already.
            var cachedRowGeneration = NewestCachedRowGeneration(batch);
            if (cachedRowGeneration is { } newest)
            {
                FailCachedReadsNotAt(batch, newest);
            }

            if (assumed is null && cachedRowGeneration is not null)
            {
                // Under the head's lock, before this batch's own changes: reads from cached rows stand if no secret
                // changed since the rows were read, and their records go first, as of this moment.
                FailCachedReadsNotAt(batch, await session.SecretGenerationAsync());
                var vouched = batch.FindAll(i => i.Audit?.CachedRowGeneration is not null);
                batch.RemoveAll(i => i.Audit?.CachedRowGeneration is not null);
                batch.InsertRange(0, vouched);
            }
            var now = _time.GetUtcNow();
            foreach (var item in batch)
            {
                if (item.HasWork)
                {
                    await RunInSavepointAsync(session, item);
                }

                if (item.Audit is { } audit)
                {
                    if (audit.Events is { } events)
                    {
                        foreach (var record in events)
                        {
                            await session.Events.AppendAsync(record);
                        }
                    }

                    chain.Append(audit, now);
                }
            }

            var (checkpoint, head) = chain.Close(now);

            // The caches of what the batch changed are made stale before the commit and again after it: a reader that took
            // a generation before the commit and read the store before it cannot keep what it read.
            changes = session.Changes;
            InvalidateCaches(changes);

            // The records, the checkpoint, the new head and COMMIT: one round trip on an engine that can batch them.
            var started = Stopwatch.GetTimestamp();
            var commit = await session.CommitAuditedAsync(chain.Records, checkpoint, head, assumed, assumed is null ? null : cachedRowGeneration);
            if (commit.LatestEventId is not { } latestEventId)
            {
                // Another node moved the head, or a secret changed under a cached row: nothing of this attempt was committed.
                return cachedRowGeneration is { } relied && commit.SecretGeneration != relied ? BatchOutcome.GenerationMoved : BatchOutcome.HeadMoved;
            }

            var committed = Stopwatch.GetTimestamp();
            Interlocked.Add(ref _commitTicks, committed - started);
            Interlocked.Add(ref _batchTicks, committed - batchStarted);
            Interlocked.Increment(ref _commits);
            Interlocked.Add(ref _operations, batch.Count);
            _committedHead = head;
            _appender.Committed(head, checkpoint);

            foreach (var item in batch)
            {
                if (item.Audit is not null)
                {
                    item.Audit.MarkWritten();
                    Interlocked.Increment(ref _auditRecords);
                }
            }

            Interlocked.Exchange(ref _latestEventId, latestEventId);
            // The caches' second drop, before any operation of the batch is acknowledged.
            InvalidateCaches(changes);
            changes = StoreChanges.None;
            batch.ForEach(i => i.Complete());
            Committed?.Invoke();
            return BatchOutcome.Done;
        }
        catch (Exception error)
        {
            _committedHead = null;
            // Nothing of this batch is durable: no operation is acknowledged, and the chain head is re-read next time.
            KeywardLog.CommitFailed(_logger, batch.Count, error);
            var failure = error is KeywardException { Status: 503 } unavailable ? unavailable : KeywardErrors.StoreUnavailable();
            batch.ForEach(i => i.Fail(failure));
            return BatchOutcome.Done;
        }
        finally
        {
            chain?.Dispose();
            if (session is not null)
            {
                await session.DisposeAsync();
            }

            // A batch that failed or gave up (nothing of it committed): its caches were dropped before the attempt; once more
            // costs little and leaves nothing read during the attempt behind.
            InvalidateCaches(changes);
        }
    }

    private void InvalidateCaches(StoreChanges changes)
    {
        if (changes == StoreChanges.None)
        {
            return;
        }

        foreach (var cache in _caches)
        {
            if ((cache.Watches & changes) != 0)
            {
                cache.Invalidate();
            }
        }
    }

    /// <summary>
    /// One operation in its own savepoint: its failure rolls back only its own changes, and is recorded on the
    /// item (and its audit draft) to be reported once the batch — with the failure's audit record — is committed.
    /// </summary>
    private async Task RunInSavepointAsync(IWriteSession session, WorkItem item)
    {
        await session.SavepointAsync();
        try
        {
            if (item.Gate is { } gate)
            {
                // Inside the transaction, before the change: a kill switch committed earlier is seen here.
                await gate.RequireOpenAsync(session);
            }

            await item.RunAsync(session);
            await session.ReleaseSavepointAsync();
            item.Audit?.Succeeded();
        }
        catch (Exception error)
        {
            // Any failure of one operation, cancellation included, is that operation's alone — unless it is a
            // refusal that asks for its changes to stand (a replay's revocation).
            if (error is RefusalKeepingChanges keeping)
            {
                error = keeping.Refusal;
            }
            else
            {
                await session.RollbackToSavepointAsync();
            }

            await session.ReleaseSavepointAsync();
            if (error is not KeywardException and not OperationCanceledException)
            {
                KeywardLog.OperationFailed(_logger, item.Audit?.Operation ?? "internal", error);
            }

            item.SetError(error);
            item.Audit?.Failed(error);
        }
    }

    private async Task CheckpointLoopAsync()
    {
        try
        {
            using var timer = new PeriodicTimer(CheckpointInterval, _time);
            while (await timer.WaitForNextTickAsync(_stopping.Token))
            {
                Enqueue(new WorkItem<bool>(null, null) { IsCheckpointTick = true });
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _queue.Writer.TryComplete();
        await Task.Run(() => _writer.Join());
        await _checkpointTimer;
        _stopping.Dispose();
    }

    private abstract class WorkItem
    {
        protected WorkItem(AuditDraft? audit) => Audit = audit;

        public AuditDraft? Audit { get; }

        public abstract bool HasWork { get; }

        public bool IsCheckpointTick { get; init; }

        public TenantGate? Gate { get; init; }

        public bool IsBarrier => !HasWork && Audit is null;

        public abstract Task RunAsync(IWriteSession session);

        public abstract void SetError(Exception error);

        public abstract void Complete();

        /// <summary>Fails the item with nothing of it written: its draft may be queued again (to record the failure).</summary>
        public abstract void Fail(Exception error);

        /// <summary>Fails an item that was never queued, leaving its draft to whoever holds it.</summary>
        public abstract void Refuse(Exception error);
    }

    private sealed class WorkItem<T> : WorkItem
    {
        private readonly Func<IWriteSession, Task<T>>? _work;
        private T? _result;
        private Exception? _error;

        public WorkItem(AuditDraft? audit, Func<IWriteSession, Task<T>>? work)
            : base(audit)
        {
            _work = work;
        }

        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override bool HasWork => _work is not null;

        public override async Task RunAsync(IWriteSession session) => _result = await _work!(session);

        public override void SetError(Exception error) => _error = error;

        public override void Complete()
        {
            if (_error is not null)
            {
                Completion.TrySetException(_error);
            }
            else
            {
                Completion.TrySetResult(_result!);
            }
        }

        public override void Fail(Exception error)
        {
            Audit?.Release();
            Completion.TrySetException(error);
        }

        public override void Refuse(Exception error) => Completion.TrySetException(error);
    }
}

/// <summary>
/// Group-commit figures since start: <see cref="CommitTime"/> is the time of each batch's closing step (its audit
/// records, the chain head and COMMIT with its sync; <see cref="IWriteSession.CommitAuditedAsync"/>),
/// <see cref="BatchTime"/> the whole transaction from BEGIN to the end of COMMIT. <see cref="CachedReadsRedone"/> counts
/// the reads answered from a cached secret row that another change had made stale by their commit, which wrote
/// nothing of them and sent them back to read the store (a shared store only).
/// </summary>
public readonly record struct CommitStats(long Commits, TimeSpan CommitTime, TimeSpan BatchTime, long Operations, long AuditRecords, long CachedReadsRedone = 0)
{
    public double AverageCommitMilliseconds => Commits == 0 ? 0 : CommitTime.TotalMilliseconds / Commits;
}
