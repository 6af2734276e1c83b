using Keyward.Core.Audit;
using Keyward.Core.Storage;
using Keyward.Core.Tests.Storage;
using Keyward.Tests.Common;
using Microsoft.Extensions.Logging;

namespace Keyward.Core.Tests.Audit;

/// <summary>
/// Someone who can write the database (but has no root key) cuts off the newest audit records together with their
/// checkpoints and rewrites the head to match. The head's MAC tells a rewritten head; a head copied back from an older
/// copy of the store verifies, and only an anchor — a checkpoint kept outside the store — tells that cut. On a real
/// SQLite store, with a manual clock so that checkpoints are written only when a test moves it.
/// </summary>
public sealed class AuditTruncationTests : IAsyncLifetime
{
    private readonly ManualTimeProvider _clock = new();
    private readonly LogCapture _log = new();
    private ILoggerFactory _loggers = null!;
    private CommitterHarness _harness = null!;

    public async Task InitializeAsync()
    {
        _loggers = LoggerFactory.Create(b => b.AddProvider(_log));
        _harness = await CommitterHarness.StartAsync(_clock, logger: _loggers.CreateLogger<GroupCommitter>());
    }

    public async Task DisposeAsync()
    {
        await _harness.DisposeAsync();
        _loggers.Dispose();
        _log.Dispose();
    }

    [Fact]
    public async Task Commit_AnyBatch_WritesTheHeadWithAMacThatVerifies()
    {
        // Act
        await WriteAsync(3);

        // Assert
        var head = await HeadAsync();
        Assert.Equal(3, head.Seq);
        Assert.Equal(AuditChain.HeadMac(_harness.Root.AuditCheckpoint, 3, head.Hash), head.Mac);
        var result = await VerifyAsync();
        Assert.True(result.Ok, result.Problem);
        Assert.Equal(AuditVerifier.HeadMacOk, result.HeadMac);
    }

    public static TheoryData<string> HeadRewrites => new() { "mac-kept", "mac-nulled", "mac-zeroed", "row-deleted" };

    [Theory]
    [MemberData(nameof(HeadRewrites))]
    public async Task Verify_TailCutWithItsCheckpointsAndHeadRewritten_DetectedByTheHeadMac(string rewrite)
    {
        // Arrange: records 1–6, a checkpoint at 6, records 7–9.
        await WriteAsync(6);
        Assert.Equal(6, await WriteCheckpointAsync());
        await WriteAsync(3);
        await _harness.Committer.FlushAsync();

        // Act: cut everything after 4 with the checkpoint, and move the head to record 4.
        var keep = (await _harness.AuditLogAsync()).Single(e => e.Seq == 4);
        Cut(after: 4);
        switch (rewrite)
        {
            case "mac-kept":
                RawDatabase.Execute(_harness.DataDirectory, "UPDATE audit_head SET seq = 4, hash = $h", ("$h", keep.Hash));
                break;
            case "mac-nulled":
                RawDatabase.Execute(_harness.DataDirectory, "UPDATE audit_head SET seq = 4, hash = $h, mac = NULL", ("$h", keep.Hash));
                break;
            case "mac-zeroed":
                RawDatabase.Execute(_harness.DataDirectory, "UPDATE audit_head SET seq = 4, hash = $h, mac = zeroblob(32)", ("$h", keep.Hash));
                break;
            default:
                RawDatabase.Execute(_harness.DataDirectory, "DELETE FROM audit_head");
                break;
        }

        var result = await VerifyAsync();

        // Assert: the chain itself is whole; the head does not vouch for it.
        Assert.False(result.Ok, rewrite);
        Assert.Equal(rewrite is "mac-nulled" or "row-deleted" ? AuditVerifier.HeadMacMissing : AuditVerifier.HeadMacBad, result.HeadMac);
        Assert.Equal(4, result.Records);
        Assert.Null(result.FirstBadSeq);
        Assert.Contains("head", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_TailCutAndAnOlderHeadRowPutBack_StoreAloneCannotTellTheAnchorReportsTruncatedAfter()
    {
        // Arrange: the head row as it was at record 5 (copied from an older copy of the store), then records 6–10, a
        // checkpoint at 10 that reaches the log, and records 11–12.
        await WriteAsync(5);
        var olderHead = HeadRow();
        await WriteAsync(5);
        Assert.Equal(10, await WriteCheckpointAsync());
        await WriteAsync(2);
        var anchor = AuditAnchors.Parse(_log.All);
        Assert.Equal([10L], anchor.Checkpoints.Select(c => c.Seq));
        Assert.True((await VerifyAsync(anchor)).Ok);
        await _harness.Committer.FlushAsync();

        // Act: cut everything after 5 with its checkpoint, and put the older head row back.
        Cut(after: 5);
        RawDatabase.Execute(
            _harness.DataDirectory, "UPDATE audit_head SET seq = $s, hash = $h, mac = $m", ("$s", olderHead.Seq), ("$h", olderHead.Hash), ("$m", olderHead.Mac));
        var storeAlone = await VerifyAsync();
        var anchored = await VerifyAsync(anchor);

        // Assert: the store alone is consistent (its head MAC verifies); the anchor is not reached.
        Assert.True(storeAlone.Ok, storeAlone.Problem);
        Assert.Equal(AuditVerifier.HeadMacOk, storeAlone.HeadMac);
        Assert.False(anchored.Ok);
        Assert.Equal(5, anchored.TruncatedAfter);
        Assert.Null(anchored.FirstBadSeq);
        Assert.Equal((1, 10L), (anchored.Anchors, anchored.LastAnchorSeq));
        Assert.Empty(anchored.BadAnchorLines!);
    }

    [Fact]
    public async Task Verify_ServerWroteOnAfterTheCut_AnchorReportsFirstBadSeqAtTheAnchoredSeq()
    {
        // Arrange: as above, a cut back to 5 with the older head put back, anchored at 10.
        await WriteAsync(5);
        var olderHead = HeadRow();
        await WriteAsync(5);
        Assert.Equal(10, await WriteCheckpointAsync());
        await WriteAsync(2);
        var anchor = AuditAnchors.Parse(_log.All);
        await _harness.Committer.FlushAsync();
        Cut(after: 5);
        RawDatabase.Execute(
            _harness.DataDirectory, "UPDATE audit_head SET seq = $s, hash = $h, mac = $m", ("$s", olderHead.Seq), ("$h", olderHead.Hash), ("$m", olderHead.Mac));

        // Act: the server starts again and writes on past the anchored seq (a new 6–13).
        await _harness.RestartCommitterAsync();
        await WriteAsync(8);
        var storeAlone = await VerifyAsync();
        var anchored = await VerifyAsync(anchor);

        // Assert
        Assert.True(storeAlone.Ok, storeAlone.Problem);
        Assert.False(anchored.Ok);
        Assert.Equal(10, anchored.FirstBadSeq);
        Assert.Null(anchored.TruncatedAfter);
        Assert.Contains("anchor", anchored.Problem, StringComparison.Ordinal);
    }

    public static TheoryData<string> Forgeries => new() { "seq", "hash", "mac", "time" };

    [Theory]
    [MemberData(nameof(Forgeries))]
    public async Task Verify_ForgedAnchorLine_ReportedAndNotTrusted(string field)
    {
        // Arrange: a genuine checkpoint at 4 on an intact store, and a copy of its line with one field changed — a seq
        // beyond the store's end would claim a cut that did not happen.
        await WriteAsync(4);
        Assert.Equal(4, await WriteCheckpointAsync());
        await WriteAsync(2);
        var genuine = AuditAnchors.Parse(_log.All).Checkpoints.Single();
        var records = await _harness.AuditLogAsync();
        var forged = field switch
        {
            "seq" => genuine with { Seq = 50 },
            "hash" => genuine with { Hash = records.Single(e => e.Seq == 4).PrevHash },
            "mac" => genuine with { Mac = Flip(genuine.Mac) },
            _ => genuine with { Time = genuine.Time.AddTicks(1) },
        };
        var file = AuditAnchors.Parse(string.Join('\n',
            AuditAnchors.SinkLine(new AuditCheckpoint(genuine.Seq, genuine.Hash, genuine.Time, genuine.Mac)),
            AuditAnchors.SinkLine(new AuditCheckpoint(forged.Seq, forged.Hash, forged.Time, forged.Mac))));

        // Act
        var result = await VerifyAsync(file);

        // Assert: the forged line is named and changes nothing else; the genuine one is used.
        Assert.False(result.Ok);
        Assert.Equal([2], result.BadAnchorLines!);
        Assert.Equal((1, 4L), (result.Anchors, result.LastAnchorSeq));
        Assert.Null(result.TruncatedAfter);
        Assert.Null(result.FirstBadSeq);
        Assert.Equal(AuditVerifier.HeadMacOk, result.HeadMac);
        Assert.Contains("anchor line 2", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_GoodAnchorsFromTheLogAndASinkFileOnAnIntactStore_Ok()
    {
        // Arrange: two checkpoints, their log lines, and the same checkpoints as a file sink writes them among records.
        await WriteAsync(3);
        Assert.Equal(3, await WriteCheckpointAsync());
        await WriteAsync(4);
        Assert.Equal(7, await WriteCheckpointAsync());
        await WriteAsync(1);
        IReadOnlyList<AuditCheckpoint> stored;
        await using (var session = await _harness.Store.ReadAsync())
        {
            stored = await session.Audit.ListCheckpointsAsync();
        }

        var sink = string.Join('\n', (await _harness.AuditLogAsync()).Select(e => System.Text.Encoding.UTF8.GetString(e.Body))
            .Concat(stored.Select(AuditAnchors.SinkLine)));

        // Act
        var fromLog = await VerifyAsync(AuditAnchors.Parse(_log.All));
        var fromSink = await VerifyAsync(AuditAnchors.Parse(sink));

        // Assert
        foreach (var result in new[] { fromLog, fromSink })
        {
            Assert.True(result.Ok, result.Problem);
            Assert.Equal((2, 7L), (result.Anchors, result.LastAnchorSeq));
            Assert.Empty(result.BadAnchorLines!);
            Assert.Equal(8, result.Records);
        }
    }

    [Fact]
    public async Task Verify_HeadWithoutAMac_ReportedMissingUntilTheNextCommitWritesOne()
    {
        // Arrange: a head as a store last written before head MACs holds it.
        await WriteAsync(3);
        await _harness.Committer.FlushAsync();
        RawDatabase.Execute(_harness.DataDirectory, "UPDATE audit_head SET mac = NULL");
        var before = await VerifyAsync();

        // Act: the upgraded server's first commit.
        await _harness.RestartCommitterAsync();
        await WriteAsync(1);
        var after = await VerifyAsync();

        // Assert
        Assert.False(before.Ok);
        Assert.Equal(AuditVerifier.HeadMacMissing, before.HeadMac);
        Assert.True(after.Ok, after.Problem);
        Assert.Equal(AuditVerifier.HeadMacOk, after.HeadMac);
        Assert.Contains(_log.Lines, l => l.Contains("[3003]", StringComparison.Ordinal) && l.Contains("seq 3 has no MAC", StringComparison.Ordinal));
    }

    private Task<AuditVerification> VerifyAsync(AuditAnchorFile? anchors = null) =>
        AuditVerifier.VerifyAsync(_harness.Store, _harness.Root, anchors);

    private async Task WriteAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await _harness.Committer.AuditAsync(CommitterHarness.Draft("op", "acme"));
        }
    }

    private async Task<AuditHead> HeadAsync()
    {
        await using var session = await _harness.Store.ReadAsync();
        return await session.Audit.GetHeadAsync();
    }

    /// <summary>The head row as raw bytes, as a copy of the database file would keep it.</summary>
    private (long Seq, byte[] Hash, byte[] Mac) HeadRow()
    {
        var row = RawDatabase.Rows(_harness.DataDirectory, "SELECT seq, hash, mac FROM audit_head").Single();
        return ((long)row[0]!, (byte[])row[1]!, (byte[])row[2]!);
    }

    /// <summary>Deletes every record after <paramref name="after"/> and every checkpoint beyond it.</summary>
    private void Cut(long after)
    {
        RawDatabase.Execute(_harness.DataDirectory, "DELETE FROM audit_log WHERE seq > $s", ("$s", after));
        RawDatabase.Execute(_harness.DataDirectory, "DELETE FROM audit_checkpoints WHERE seq > $s", ("$s", after));
    }

    /// <summary>Moves the manual clock until the committer's timer writes a checkpoint at the head; returns its seq.</summary>
    private async Task<long> WriteCheckpointAsync()
    {
        var head = (await HeadAsync()).Seq;
        for (var attempt = 0; attempt < 200; attempt++)
        {
            _clock.Advance(GroupCommitter.CheckpointInterval + TimeSpan.FromSeconds(1));
            await Task.Delay(20);
            await using var session = await _harness.Store.ReadAsync();
            if ((await session.Audit.ListCheckpointsAsync()).FirstOrDefault(c => c.Seq == head) is { } checkpoint)
            {
                // The committer logs the checkpoint right after its commit: once a later flush is through, the line is there.
                await _harness.Committer.FlushAsync();
                return checkpoint.Seq;
            }
        }

        throw new TimeoutException("no audit checkpoint was written");
    }

    private static byte[] Flip(byte[] bytes)
    {
        var copy = (byte[])bytes.Clone();
        copy[0] ^= 1;
        return copy;
    }
}
