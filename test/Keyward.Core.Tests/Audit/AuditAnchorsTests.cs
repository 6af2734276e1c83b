using Keyward.Core.Audit;
using Keyward.Core.Diagnostics;
using Keyward.Tests.Common;
using Microsoft.Extensions.Logging;

namespace Keyward.Core.Tests.Audit;

/// <summary>Reading anchor files: checkpoint lines of a file audit sink and of the server log; everything else skipped.</summary>
public sealed class AuditAnchorsTests
{
    private static readonly DateTimeOffset Time = new DateTimeOffset(2026, 12, 8, 1, 2, 3, TimeSpan.Zero).AddTicks(4567891);

    private static readonly AuditCheckpoint Checkpoint =
        new(1234, Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(), Time, Enumerable.Range(100, 32).Select(i => (byte)i).ToArray());

    [Fact]
    public void Parse_SinkFileWithRecordsAndCheckpoints_ReadsTheCheckpointsSkipsTheRest()
    {
        // Arrange: audit records as a file sink writes them, a checkpoint between them, blank lines.
        var text = string.Join('\n',
            """{"seq":1233,"time":"2026-12-08T01:02:03.0000000Z","tenant":"acme","operation":"secret.read","path":"app/db","outcome":"ok"}""",
            "",
            AuditAnchors.SinkLine(Checkpoint),
            """{"seq":1235,"tenant":null,"operation":"sys.audit.verify","details":{"note":"Audit checkpoint seq=9 is not a log line"}}""");

        // Act
        var file = AuditAnchors.Parse(text);

        // Assert
        var anchor = Assert.Single(file.Checkpoints);
        Assert.Equal((3, 1234L, Time), (anchor.Line, anchor.Seq, anchor.Time));
        Assert.Equal(Checkpoint.Hash, anchor.Hash);
        Assert.Equal(Checkpoint.Mac, anchor.Mac);
        Assert.Empty(file.UnreadableLines);
    }

    [Fact]
    public void SinkLine_IsTheDocumentedShape()
    {
        Assert.Equal(
            """{"type":"checkpoint","seq":1234,"hash":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","mac":"6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283","time":"2026-12-08T01:02:03.4567891Z"}""",
            AuditAnchors.SinkLine(Checkpoint));
    }

    [Fact]
    public void Parse_ServerConsoleLogLine_ReadsTheCheckpoint()
    {
        // Arrange: the line as the server's console logger prints event 3001 (single line, UTC timestamp first).
        var line = "2026-12-08T01:02:04.000Z info: Keyward.Core.Storage.GroupCommitter[3001] Audit checkpoint seq=1234 "
            + "hash=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f "
            + "mac=6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283 time=2026-12-08T01:02:03.4567891Z";

        // Act
        var file = AuditAnchors.Parse("2026-12-08T01:02:00.000Z info: Keyward.Server[1001] Listening\n" + line + "\n");

        // Assert
        var anchor = Assert.Single(file.Checkpoints);
        Assert.Equal((2, 1234L, Time), (anchor.Line, anchor.Seq, anchor.Time));
        Assert.Equal(Checkpoint.Hash, anchor.Hash);
        Assert.Equal(Checkpoint.Mac, anchor.Mac);
    }

    [Fact]
    public void CheckpointLogMessage_AsTheCommitterLogsIt_ReadsAsTheSameCheckpoint()
    {
        // Arrange: the message KeywardLog writes for event 3001, with the values the committer passes.
        using var capture = new LogCapture();
        using (var factory = LoggerFactory.Create(b => b.AddProvider(capture)))
        {
            KeywardLog.AuditCheckpoint(
                factory.CreateLogger("Keyward.Core.Storage.GroupCommitter"), Checkpoint.Seq, Convert.ToHexStringLower(Checkpoint.Hash),
                Convert.ToHexStringLower(Checkpoint.Mac), Instants.Format(Checkpoint.Time));
        }

        // Act
        var file = AuditAnchors.Parse(capture.All);

        // Assert: seq, hash, MAC and time — all that the MAC covers — come back.
        var anchor = Assert.Single(file.Checkpoints);
        Assert.Equal((Checkpoint.Seq, Checkpoint.Time), (anchor.Seq, anchor.Time));
        Assert.Equal(Checkpoint.Hash, anchor.Hash);
        Assert.Equal(Checkpoint.Mac, anchor.Mac);
    }

    public static TheoryData<string, string> Unreadable => new()
    {
        { "log line without time (before this version)", "info: X[3001] Audit checkpoint seq=5 hash=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f mac=6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283" },
        { "short hash", """{"type":"checkpoint","seq":5,"hash":"0001","mac":"6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283","time":"2026-12-08T01:02:03.4567891Z"}""" },
        { "no mac", """{"type":"checkpoint","seq":5,"hash":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","time":"2026-12-08T01:02:03.4567891Z"}""" },
        { "seq as a string", """{"type":"checkpoint","seq":"5","hash":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","mac":"6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283","time":"2026-12-08T01:02:03.4567891Z"}""" },
        { "time not RFC 3339", """{"type":"checkpoint","seq":5,"hash":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","mac":"6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283","time":"yesterday"}""" },
        { "cut short", """{"type":"checkpoint","seq":5,"hash":"0001020304""" },
    };

    [Theory]
    [MemberData(nameof(Unreadable))]
    public void Parse_LineClaimingACheckpointButUnreadable_ReportedByLine(string why, string line)
    {
        var file = AuditAnchors.Parse("{\"seq\":1}\n" + line + "\n");

        Assert.True(file.Checkpoints.Count == 0, why);
        Assert.Equal([2], file.UnreadableLines);
    }
}
