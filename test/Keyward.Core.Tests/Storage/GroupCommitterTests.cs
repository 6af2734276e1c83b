using System.Text.Json;
using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Tests.Common;

namespace Keyward.Core.Tests.Storage;

public sealed class GroupCommitterTests
{
    [Fact]
    public async Task ExecuteAsync_ConcurrentOperations_AllCommitWithContiguousChain()
    {
        // Arrange
        await using var harness = await CommitterHarness.StartAsync();
        const int Count = 300;

        // Act: 300 operations from many threads at once.
        var results = await Task.WhenAll(Enumerable.Range(0, Count).Select(i => Task.Run(() =>
            harness.Committer.ExecuteAsync(CommitterHarness.Draft("tenant.create", $"t{i}"), async session =>
            {
                Assert.True(await session.Tenants.TryInsertAsync(CommitterHarness.NewTenant($"t{i}")));
                return i;
            }))));

        // Assert
        Assert.Equal(Enumerable.Range(0, Count), results);
        var log = await harness.AuditLogAsync();
        Assert.Equal(Enumerable.Range(1, Count).Select(i => (long)i), log.Select(e => e.Seq));
        var previous = AuditHead.Genesis.Hash;
        foreach (var entry in log)
        {
            Assert.True(previous.AsSpan().SequenceEqual(entry.PrevHash), $"record {entry.Seq} does not link to {entry.Seq - 1}");
            Assert.Equal(AuditChain.Hash(harness.Root.AuditChain, previous, entry.Body), entry.Hash);
            previous = entry.Hash;
        }

        Assert.Equal(Enumerable.Range(0, Count).Select(i => $"t{i}").Order(StringComparer.Ordinal), log.Select(e => e.TenantId!).Order(StringComparer.Ordinal));
        for (var i = 0; i < Count; i += 37)
        {
            Assert.NotNull(await harness.TenantAsync($"t{i}"));
        }

        var verification = await AuditVerifier.VerifyAsync(harness.Store, harness.Root);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(Count, verification.Records);
        Assert.True(harness.Committer.Stats.Commits < Count, $"{harness.Committer.Stats.Commits} commits for {Count} operations: nothing was grouped");
    }

    [Fact]
    public async Task ExecuteAsync_FailingOperationsInOneBatch_RollBackOnlyTheirOwnChangesAndAreAudited()
    {
        // Arrange: hold the writer inside a batch so that everything below lands in the next batch together.
        await using var harness = await CommitterHarness.StartAsync();
        var (blocker, release) = await BlockWriterAsync(harness);
        var okDraft = CommitterHarness.Draft("op.ok", "ok");
        var deniedDraft = CommitterHarness.Draft("op.denied", "denied");
        var conflictDraft = CommitterHarness.Draft("op.conflict", "conflict");
        var crashDraft = CommitterHarness.Draft("op.crash", "crash");

        // Act
        var ok = harness.Committer.ExecuteAsync(okDraft, s => s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("ok")));
        var denied = harness.Committer.ExecuteAsync(deniedDraft, async s =>
        {
            await s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("denied"));
            throw KeywardErrors.PermissionDenied("write", "x");
        });
        var conflict = harness.Committer.ExecuteAsync(conflictDraft, async s =>
        {
            await s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("conflict"));
            throw KeywardErrors.CasMismatch("x", 1, 2);
        });
        var crash = harness.Committer.ExecuteAsync(crashDraft, async s =>
        {
            await s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("crash"));
            throw new InvalidOperationException("boom");
        });
        var after = harness.Committer.ExecuteAsync(CommitterHarness.Draft("op.after", "after"), s => s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("after")));
        release();
        await blocker;

        // Assert: each caller sees its own outcome…
        Assert.True(await ok);
        Assert.True(await after);
        Assert.Equal("permission_denied", (await Assert.ThrowsAsync<KeywardException>(() => denied)).Code);
        Assert.Equal("cas_mismatch", (await Assert.ThrowsAsync<KeywardException>(() => conflict)).Code);
        Assert.Equal("boom", (await Assert.ThrowsAsync<InvalidOperationException>(() => crash)).Message);

        // …only the failed operations' changes are gone…
        Assert.NotNull(await harness.TenantAsync("ok"));
        Assert.NotNull(await harness.TenantAsync("after"));
        Assert.Null(await harness.TenantAsync("denied"));
        Assert.Null(await harness.TenantAsync("conflict"));
        Assert.Null(await harness.TenantAsync("crash"));

        // …and every one of them has its audit record, in one contiguous chain.
        var log = await harness.AuditLogAsync();
        Assert.Equal(Enumerable.Range(1, 5).Select(i => (long)i), log.Select(e => e.Seq));
        Assert.Equal(("ok", 200, (string?)null), Outcome(log, "op.ok"));
        Assert.Equal(("denied", 403, "permission_denied"), Outcome(log, "op.denied"));
        Assert.Equal(("error", 409, "cas_mismatch"), Outcome(log, "op.conflict"));
        Assert.Equal(("error", 500, "internal_error"), Outcome(log, "op.crash"));
        Assert.Equal(("ok", 200, (string?)null), Outcome(log, "op.after"));
        Assert.All(new[] { okDraft, deniedDraft, conflictDraft, crashDraft }, d => Assert.True(d.Committed));
        Assert.DoesNotContain("boom", string.Concat(log.Select(e => System.Text.Encoding.UTF8.GetString(e.Body))), StringComparison.Ordinal);
        Assert.True((await AuditVerifier.VerifyAsync(harness.Store, harness.Root)).Ok);
    }

    [Fact]
    public async Task ExecuteAsync_OneOperationCanceled_OthersInTheBatchStillCommit()
    {
        // Arrange
        await using var harness = await CommitterHarness.StartAsync();
        var (blocker, release) = await BlockWriterAsync(harness);

        // Act
        var ok = harness.Committer.ExecuteAsync(CommitterHarness.Draft("op.ok"), s => s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("ok")));
        var canceled = harness.Committer.ExecuteAsync(CommitterHarness.Draft("op.canceled"), async s =>
        {
            await s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("canceled"));
            throw new OperationCanceledException();
        });
        release();
        await blocker;

        // Assert: the canceled operation fails alone.
        Assert.True(await ok);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);
        Assert.NotNull(await harness.TenantAsync("ok"));
        Assert.Null(await harness.TenantAsync("canceled"));
    }

    [Fact]
    public async Task AuditAsync_AuditOnlyRecord_IsAppendedWithItsOutcome()
    {
        await using var harness = await CommitterHarness.StartAsync();
        var read = CommitterHarness.Draft("secret.read", "acme");
        read.Path = "app/db";
        read.Version = 2;
        read.Succeeded();
        var refused = CommitterHarness.Draft("secret.read", "acme");
        refused.Failed(KeywardErrors.TokenExpired());

        await harness.Committer.AuditAsync(read);
        await harness.Committer.AuditAsync(refused);

        Assert.True(read.Committed);
        Assert.True(refused.Committed);
        var log = await harness.AuditLogAsync();
        Assert.Equal(2, log.Count);
        using var first = JsonDocument.Parse(log[0].Body);
        Assert.Equal("app/db", first.RootElement.GetProperty("path").GetString());
        Assert.Equal(2, first.RootElement.GetProperty("version").GetInt64());
        Assert.Equal("ok", first.RootElement.GetProperty("outcome").GetString());
        Assert.Equal(("app/db", "acme"), (log[0].Path, log[0].TenantId));
        using var second = JsonDocument.Parse(log[1].Body);
        Assert.Equal("denied", second.RootElement.GetProperty("outcome").GetString());
        Assert.Equal(401, second.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("token_expired", second.RootElement.GetProperty("code").GetString());
    }

    [Fact]
    public async Task ExecuteAsync_WithoutAudit_CommitsChangeAndAppendsNoRecord()
    {
        await using var harness = await CommitterHarness.StartAsync();

        await harness.Committer.ExecuteAsync(null, s => s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("quiet")));
        await harness.Committer.FlushAsync();

        Assert.NotNull(await harness.TenantAsync("quiet"));
        Assert.Empty(await harness.AuditLogAsync());
    }

    [Fact]
    public async Task ExecuteAsync_Sealed_FailsWith503AndWritesNothing()
    {
        await using var harness = await CommitterHarness.StartAsync(unsealed: false);
        var ran = false;

        var error = await Assert.ThrowsAsync<KeywardException>(() => harness.Committer.ExecuteAsync(CommitterHarness.Draft("op"), async s =>
        {
            ran = true;
            return await s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("x"));
        }));
        await harness.Committer.FlushAsync();

        Assert.Equal((503, "sealed"), (error.Status, error.Code));
        Assert.False(ran);
        Assert.Null(await harness.TenantAsync("x"));
        Assert.Empty(await harness.AuditLogAsync());
    }

    [Fact]
    public async Task ExecuteAsync_CommitFails_NothingAcknowledgedAndTheChainContinuesAfterwards()
    {
        // Arrange
        FailingCommitStore? failing = null;
        await using var harness = await CommitterHarness.StartAsync(wrap: s => failing = new FailingCommitStore(s));
        await harness.Committer.ExecuteAsync(CommitterHarness.Draft("before"), s => s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("before")));
        var doomed = CommitterHarness.Draft("doomed");
        var (blocker, release) = await BlockWriterAsync(harness, doomed, s => s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("doomed")));
        failing!.FailNextCommit();

        // Act: the blocker's batch (a change and its audit record) fails to commit; the next batches go on.
        var lost = harness.Committer.ExecuteAsync(CommitterHarness.Draft("lost"), s => s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("lost")));
        release();
        var blockerError = await Assert.ThrowsAsync<KeywardException>(() => blocker);
        await harness.Committer.ExecuteAsync(CommitterHarness.Draft("later"), s => s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("later")));

        // Assert
        Assert.Equal((503, "store_unavailable"), (blockerError.Status, blockerError.Code));
        Assert.False(doomed.Committed);
        Assert.Null(await harness.TenantAsync("doomed"));
        Assert.True(await lost); // `lost` was queued behind the failed batch and committed in the next one.
        Assert.NotNull(await harness.TenantAsync("before"));
        Assert.NotNull(await harness.TenantAsync("later"));
        var log = await harness.AuditLogAsync();
        Assert.Equal(["before", "lost", "later"], log.Select(e => JsonDocument.Parse(e.Body).RootElement.GetProperty("operation").GetString()));
        Assert.Equal([1L, 2L, 3L], log.Select(e => e.Seq));
        var verification = await AuditVerifier.VerifyAsync(harness.Store, harness.Root);
        Assert.True(verification.Ok, verification.Problem);
    }

    [Fact]
    public async Task ExecuteAsync_CommitterRestarted_ChainContinuesFromTheStoredHead()
    {
        await using var harness = await CommitterHarness.StartAsync();
        for (var i = 0; i < 3; i++)
        {
            await harness.Committer.AuditAsync(CommitterHarness.Draft("first"));
        }

        await harness.RestartCommitterAsync();
        await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => harness.Committer.AuditAsync(CommitterHarness.Draft("second"))));

        var log = await harness.AuditLogAsync();
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), log.Select(e => e.Seq));
        Assert.True((await AuditVerifier.VerifyAsync(harness.Store, harness.Root)).Ok);
    }

    [Fact]
    public async Task AuditAsync_MoreThan1000Records_WritesAVerifiableCheckpoint()
    {
        await using var harness = await CommitterHarness.StartAsync();

        await Task.WhenAll(Enumerable.Range(0, 1001).Select(_ => harness.Committer.AuditAsync(CommitterHarness.Draft("bulk"))));

        IReadOnlyList<AuditCheckpoint> checkpoints;
        await using (var session = await harness.Store.ReadAsync())
        {
            checkpoints = await session.Audit.ListCheckpointsAsync();
        }

        var checkpoint = Assert.Single(checkpoints);
        Assert.InRange(checkpoint.Seq, 1000, 1001);
        Assert.Equal(AuditChain.CheckpointMac(harness.Root.AuditCheckpoint, checkpoint.Seq, checkpoint.Hash, checkpoint.Time), checkpoint.Mac);
        var log = await harness.AuditLogAsync();
        Assert.Equal(log.Single(e => e.Seq == checkpoint.Seq).Hash, checkpoint.Hash);
        var verification = await AuditVerifier.VerifyAsync(harness.Store, harness.Root);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal((1001L, 1, checkpoint.Seq), (verification.Records, verification.Checkpoints, verification.LastCheckpointSeq!.Value));
    }

    [Fact]
    public async Task CheckpointTimer_IntervalElapsed_WritesCheckpointAtTheHead()
    {
        // Arrange
        var clock = new ManualTimeProvider();
        await using var harness = await CommitterHarness.StartAsync(clock);
        for (var i = 0; i < 3; i++)
        {
            await harness.Committer.AuditAsync(CommitterHarness.Draft("op"));
        }

        Assert.Empty(await CheckpointsAsync(harness));

        // Act: move the clock past the interval until the committer's timer has ticked.
        IReadOnlyList<AuditCheckpoint> checkpoints = [];
        for (var attempt = 0; attempt < 100 && checkpoints.Count == 0; attempt++)
        {
            clock.Advance(GroupCommitter.CheckpointInterval + TimeSpan.FromSeconds(1));
            await Task.Delay(20);
            checkpoints = await CheckpointsAsync(harness);
        }

        // Assert
        var checkpoint = Assert.Single(checkpoints);
        Assert.Equal(3, checkpoint.Seq);
        Assert.Equal(clock.GetUtcNow().UtcTicks, checkpoint.Time.UtcTicks, TimeSpan.FromMinutes(30).Ticks);
        Assert.Equal(AuditChain.CheckpointMac(harness.Root.AuditCheckpoint, 3, checkpoint.Hash, checkpoint.Time), checkpoint.Mac);

        // An idle tick with nothing new writes no further checkpoint.
        clock.Advance(GroupCommitter.CheckpointInterval + TimeSpan.FromSeconds(1));
        await Task.Delay(50);
        await harness.Committer.FlushAsync();
        Assert.Single(await CheckpointsAsync(harness));
    }

    [Fact]
    public async Task Stats_CountCommitsOperationsAndAuditRecords()
    {
        await using var harness = await CommitterHarness.StartAsync();

        await harness.Committer.ExecuteAsync(CommitterHarness.Draft("a"), s => s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("a")));
        await harness.Committer.AuditAsync(CommitterHarness.Draft("b"));

        var stats = harness.Committer.Stats;
        Assert.Equal(2, stats.AuditRecords);
        Assert.Equal(2, stats.Operations);
        Assert.InRange(stats.Commits, 1, 2);
    }

    /// <summary>Starts an operation that parks the writer inside its batch until released.</summary>
    [Fact]
    public async Task ADraft_QueuedAgainAfterItWasWritten_IsRefusedAndWrittenOnce()
    {
        // Arrange: a draft committed with its change
        await using var harness = await CommitterHarness.StartAsync();
        var draft = CommitterHarness.Draft("gateway.request", "t");
        await harness.Committer.ExecuteAsync(draft, s => s.Tenants.TryInsertAsync(CommitterHarness.NewTenant("t")));

        // Act: the same draft again, with work and alone (a refusal after the fact: "denied" next to the "ok")
        draft.Failed(KeywardErrors.PermissionDenied("use", "x"));
        var again = await Assert.ThrowsAsync<InvalidOperationException>(() => harness.Committer.ExecuteAsync(draft, _ => Task.CompletedTask));
        await Assert.ThrowsAsync<InvalidOperationException>(() => harness.Committer.AuditAsync(draft));
        await harness.Committer.FlushAsync();

        // Assert: one record, the first
        Assert.Contains("committed once", again.Message, StringComparison.Ordinal);
        var record = Assert.Single(await harness.AuditLogAsync());
        Assert.Equal("ok", Outcome([record], "gateway.request").Outcome);
        Assert.True(draft.Committed);
    }

    [Fact]
    public async Task ADraft_QueuedTwiceAtOnce_IsWrittenOnce()
    {
        // Arrange: the writer is held, so both enqueues wait in the same queue
        await using var harness = await CommitterHarness.StartAsync();
        var (blocker, release) = await BlockWriterAsync(harness);
        var draft = CommitterHarness.Draft("op.twice", "t");

        // Act
        var first = harness.Committer.AuditAsync(draft);
        var second = harness.Committer.AuditAsync(draft);
        release();
        await blocker;

        // Assert
        await first;
        await Assert.ThrowsAsync<InvalidOperationException>(() => second);
        Assert.Single(await harness.AuditLogAsync(), e => e.Body.AsSpan().IndexOf("op.twice"u8) >= 0);
    }

    [Fact]
    public async Task ADraft_WhoseBatchWroteNothing_MayBeQueuedAgain()
    {
        // Arrange: sealed, so the batch writes nothing of the draft
        await using var harness = await CommitterHarness.StartAsync(unsealed: false);
        var draft = CommitterHarness.Draft("op.retry", "t");
        await Assert.ThrowsAsync<KeywardException>(() => harness.Committer.AuditAsync(draft));

        // Act: unsealed now; the failure's record is queued again
        harness.Keys.Install(new Keyward.Core.Seal.SealConfig(1, 1, 7, harness.Root.ComputeCheck(), DateTimeOffset.UnixEpoch), harness.Root);
        await harness.Committer.AuditAsync(draft);

        // Assert
        Assert.True(draft.Committed);
        Assert.Single(await harness.AuditLogAsync());
    }

    [Theory]
    [InlineData(TenantState.Locked, "tenant_locked")]
    [InlineData(TenantState.Retired, "token_revoked")]
    public async Task Work_WhoseTenantWasClosedBeforeItRan_IsRefusedInItsTransaction(TenantState state, string code)
    {
        // Arrange: a tenant; a request of it authorized now; then a kill switch commits before the request's change runs
        await using var harness = await CommitterHarness.StartAsync();
        var tenant = CommitterHarness.NewTenant("acme");
        await harness.Committer.ExecuteAsync(null, s => s.Tenants.TryInsertAsync(tenant));
        var draft = CommitterHarness.Draft("secret.write", "acme");
        draft.Gate = new TenantGate(tenant.Uid, DateTimeOffset.UtcNow);
        await harness.Committer.ExecuteAsync(null, s => s.Tenants.UpdateStateAsync(tenant.Uid, state, DateTimeOffset.UtcNow));
        var ran = false;

        // Act
        var refused = await Assert.ThrowsAsync<KeywardException>(() => harness.Committer.ExecuteAsync(draft, _ =>
        {
            ran = true;
            return Task.CompletedTask;
        }));

        // Assert: refused before the work ran, and the refusal is the record
        Assert.Equal(code, refused.Code);
        Assert.False(ran);
        Assert.Equal(("denied", code), (Outcome(await harness.AuditLogAsync(), "secret.write").Outcome, Outcome(await harness.AuditLogAsync(), "secret.write").Code));
    }

    [Fact]
    public async Task Work_AuthorizedBeforeALockdownThatWasLiftedSince_IsRefused()
    {
        // Arrange: authorized; then locked down (epoch) and unlocked again before the change runs
        await using var harness = await CommitterHarness.StartAsync();
        var tenant = CommitterHarness.NewTenant("acme");
        await harness.Committer.ExecuteAsync(null, s => s.Tenants.TryInsertAsync(tenant));
        var authorized = DateTimeOffset.UtcNow;
        var draft = CommitterHarness.Draft("agent.spawn", "acme");
        draft.Gate = new TenantGate(tenant.Uid, authorized);
        await harness.Committer.ExecuteAsync(null, async s =>
        {
            await s.Tenants.SetRevokedBeforeAsync(tenant.Uid, authorized.AddTicks(1));
            await s.Tenants.UpdateStateAsync(tenant.Uid, TenantState.Active, authorized.AddTicks(2));
        });

        // Act
        var refused = await Assert.ThrowsAsync<KeywardException>(() => harness.Committer.ExecuteAsync(draft, _ => Task.CompletedTask));

        // Assert: its token was revoked by that lockdown; a request authorized after it passes
        Assert.Equal("token_revoked", refused.Code);
        var later = CommitterHarness.Draft("agent.spawn", "acme");
        later.Gate = new TenantGate(tenant.Uid, authorized.AddTicks(3));
        await harness.Committer.ExecuteAsync(later, _ => Task.CompletedTask);
    }

    [Fact]
    public async Task AWritePath_WithNoBracketAtAll_DropsExactlyTheCachesOfWhatItChanged_AroundItsCommit()
    {
        // Arrange: one cache per kind of change, each recording when it was dropped relative to the commit
        var caches = new[] { StoreChanges.SecretRows, StoreChanges.Tokens, StoreChanges.Tenants, StoreChanges.KeyRings }
            .Select(watch => new RecordingCache(watch)).ToArray();
        await using var harness = await CommitterHarness.StartAsync(caches: caches);
        var tenant = CommitterHarness.NewTenant("acme");
        await harness.Committer.ExecuteAsync(null, s => s.Tenants.TryInsertAsync(tenant));
        Array.ForEach(caches, c => c.Drops.Clear());

        // Act: a write of a secret version made straight through the store port — no bracket, no service
        await harness.Committer.ExecuteAsync(null, s => s.Secrets.SetDeletedAsync(tenant.Uid, "app/db", [1], DateTimeOffset.UnixEpoch));

        // Assert: the secret-row cache was dropped before and after the commit, and no other cache was
        Assert.Equal(2, caches[0].Drops.Count);
        Assert.All(caches.Skip(1), c => Assert.Empty(c.Drops));

        // Act: a token revoked the same way
        await harness.Committer.ExecuteAsync(null, s => s.Tokens.RevokeAsync("nobody", DateTimeOffset.UnixEpoch));

        // Assert: the token cache only
        Assert.Equal((2, 2), (caches[0].Drops.Count, caches[1].Drops.Count));
        Assert.All(caches.Skip(2), c => Assert.Empty(c.Drops));
    }

    [Fact]
    public async Task BudgetCountsLeaseInsertsAndAuditRecords_LeaveEveryCacheWarm()
    {
        // Arrange
        var caches = new[] { StoreChanges.SecretRows, StoreChanges.Tokens, StoreChanges.Tenants, StoreChanges.KeyRings }
            .Select(watch => new RecordingCache(watch)).ToArray();
        await using var harness = await CommitterHarness.StartAsync(caches: caches);
        var tenant = CommitterHarness.NewTenant("acme");
        await harness.Committer.ExecuteAsync(null, s => s.Tenants.TryInsertAsync(tenant));
        Array.ForEach(caches, c => c.Drops.Clear());

        // Act: what every gateway call and every credential does, and a read's record
        await harness.Committer.ExecuteAsync(CommitterHarness.Draft("gateway.request", "acme"), async s =>
        {
            await s.Budgets.CountAsync(tenant.Uid, "openai", "run-1", [Keyward.Core.Budgets.BudgetCounter.RunHolder]);
            await s.Leases.InsertAsync(new Keyward.Core.Leases.LeaseRecord(
                "creds/x/1", tenant.Uid, "owner", "creds/x", "test", null, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddHours(1),
                DateTimeOffset.UnixEpoch.AddHours(1), null));
        });
        await harness.Committer.AuditAsync(CommitterHarness.Draft("secret.read", "acme"));

        // Assert
        Assert.All(caches, c => Assert.Empty(c.Drops));
    }

    /// <summary>A cache that records when the committer drops it.</summary>
    private sealed class RecordingCache(StoreChanges watches) : IStoreCache
    {
        public StoreChanges Watches { get; } = watches;

        public System.Collections.Concurrent.ConcurrentQueue<DateTimeOffset> Drops { get; } = new();

        public void Invalidate() => Drops.Enqueue(DateTimeOffset.UtcNow);
    }

    private static async Task<(Task Blocker, Action Release)> BlockWriterAsync(
        CommitterHarness harness, AuditDraft? draft = null, Func<IWriteSession, Task>? work = null)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = harness.Committer.ExecuteAsync(draft, async session =>
        {
            if (work is not null)
            {
                await work(session);
            }

            started.SetResult();
            await gate.Task;
        });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return (blocker, () => gate.SetResult());
    }

    private static async Task<IReadOnlyList<AuditCheckpoint>> CheckpointsAsync(CommitterHarness harness)
    {
        await using var session = await harness.Store.ReadAsync();
        return await session.Audit.ListCheckpointsAsync();
    }

    private static (string Outcome, int Status, string? Code) Outcome(IReadOnlyList<AuditEntry> log, string operation)
    {
        var body = log.Select(e => JsonDocument.Parse(e.Body).RootElement).Single(r => r.GetProperty("operation").GetString() == operation);
        var code = body.GetProperty("code");
        return (body.GetProperty("outcome").GetString()!, body.GetProperty("status").GetInt32(), code.ValueKind == JsonValueKind.Null ? null : code.GetString());
    }
}
