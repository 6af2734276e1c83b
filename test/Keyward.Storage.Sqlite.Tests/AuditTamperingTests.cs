using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keyward.Core.Audit;
using Keyward.Core.Seal;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Storage.Sqlite.Tests;

/// <summary>
/// Someone with write access to the database but not the root key rewrites the audit log. Verification
/// (<c>GET /v1/sys/audit/verify</c> and <see cref="AuditVerifier"/>) must name where the chain stops being
/// trustworthy. The clock is manual, so checkpoints are written only when a test moves it.
/// </summary>
public sealed class AuditTamperingTests : IAsyncLifetime
{
    private readonly ManualTimeProvider _clock = new();
    private KeywardTestHost _host = null!;
    private string _admin = null!;

    public async Task InitializeAsync()
    {
        _host = await KeywardTestHost.StartAsync(services: s => s.AddSingleton<TimeProvider>(_clock));
        _admin = await _host.CreateTenantAsync("acme");
        for (var i = 0; i < 6; i++)
        {
            await _host.PutSecretAsync(_admin, $"app/s{i}", new { value = $"v{i}" });
        }
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private string Data => _host.DataDirectory;

    [Fact]
    public async Task Verify_UntouchedChain_IsOk()
    {
        var count = Records().Count;

        var result = await VerifyAsync();

        Assert.True(result.GetProperty("ok").GetBoolean(), result.GetRawText());
        Assert.Equal(JsonValueKind.Null, result.GetProperty("first_bad_seq").ValueKind);
        Assert.Equal(JsonValueKind.Null, result.GetProperty("truncated_after").ValueKind);
        Assert.Equal(count, result.GetProperty("records").GetInt64());
        Assert.Equal(count + 1, Records().Count); // the verify call is audited once it has answered
    }

    [Fact]
    public async Task Verify_RecordBodyEdited_ReportsThatRecord()
    {
        var target = Records().First(r => Body(r).Contains("\"secret.write\"", StringComparison.Ordinal) && Body(r).Contains("app/s3", StringComparison.Ordinal));
        var edited = Body(target).Replace("app/s3", "app/s9", StringComparison.Ordinal);
        RawDatabase.Execute(Data, "UPDATE audit_log SET body = $b WHERE seq = $s", ("$b", Encoding.UTF8.GetBytes(edited)), ("$s", target.Seq));

        await AssertBrokenAtAsync(target.Seq);
    }

    [Fact]
    public async Task Verify_IndexedColumnEdited_ReportsThatRecord()
    {
        // Re-attributing a record in the filter columns (to hide it from a tenant's audit reads) is caught too.
        var target = Records().First(r => r.Tenant == "acme" && Body(r).Contains("app/s2", StringComparison.Ordinal));
        RawDatabase.Execute(Data, "UPDATE audit_log SET tenant = 'other', path = NULL WHERE seq = $s", ("$s", target.Seq));

        await AssertBrokenAtAsync(target.Seq);
    }

    [Fact]
    public async Task Verify_MiddleRecordDeleted_ReportsTheMissingSeq()
    {
        var records = Records();
        var middle = records[records.Count / 2].Seq;
        RawDatabase.Execute(Data, "DELETE FROM audit_log WHERE seq = $s", ("$s", middle));

        await AssertBrokenAtAsync(middle);
    }

    [Fact]
    public async Task Verify_TailCutBelowACheckpointAndHeadRewound_ReportsTruncation()
    {
        // Arrange: a checkpoint at the current head, then more records after it.
        var checkpointSeq = await WriteCheckpointAsync();
        for (var i = 0; i < 4; i++)
        {
            await _host.PutSecretAsync(_admin, $"app/after{i}", new { value = "x" });
        }

        var records = Records();
        Assert.True(records[^1].Seq > checkpointSeq + 3);

        // Act: cut everything after checkpoint − 2 and rewind the head to the new last record, so the remaining
        // chain is internally perfect.
        var keep = checkpointSeq - 2;
        var newLast = records.Single(r => r.Seq == keep);
        RawDatabase.Execute(Data, "DELETE FROM audit_log WHERE seq > $s", ("$s", keep));
        RawDatabase.Execute(Data, "UPDATE audit_head SET seq = $s, hash = $h", ("$s", keep), ("$h", newLast.Hash));

        // Assert: only the checkpoint remembers the cut.
        var result = await VerifyAsync();
        Assert.False(result.GetProperty("ok").GetBoolean(), result.GetRawText());
        Assert.Equal(JsonValueKind.Null, result.GetProperty("first_bad_seq").ValueKind);
        Assert.Equal(keep, result.GetProperty("truncated_after").GetInt64());
        Assert.Equal(checkpointSeq, result.GetProperty("last_checkpoint_seq").GetInt64());
        var direct = await AuditVerifier.VerifyAsync(_host.Store, Root());
        Assert.Equal((false, (long?)null), (direct.Ok, direct.FirstBadSeq));
    }

    [Theory]
    [InlineData("rewritten", "bad")]
    [InlineData("deleted", "missing")]
    public async Task Verify_TailCutWithItsCheckpointsAndHeadRowRewritten_ReportsTheHead(string head, string headMac)
    {
        // Arrange: a checkpoint, then more records after it.
        var checkpointSeq = await WriteCheckpointAsync();
        for (var i = 0; i < 3; i++)
        {
            await _host.PutSecretAsync(_admin, $"app/late{i}", new { value = "x" });
        }

        // Act: cut the tail below the checkpoint, the checkpoint with it, and make the head agree with what is left —
        // nothing of the store remembers the cut but the head row's MAC.
        var keep = checkpointSeq - 1;
        var newLast = Records().Single(r => r.Seq == keep);
        RawDatabase.Execute(Data, "DELETE FROM audit_log WHERE seq > $s", ("$s", keep));
        RawDatabase.Execute(Data, "DELETE FROM audit_checkpoints WHERE seq > $s", ("$s", keep));
        RawDatabase.Execute(
            Data, head == "rewritten" ? "UPDATE audit_head SET seq = $s, hash = $h" : "DELETE FROM audit_head", ("$s", keep), ("$h", newLast.Hash));

        // Assert
        var direct = await AuditVerifier.VerifyAsync(_host.Store, Root());
        Assert.False(direct.Ok, $"{head}: the store shows no sign of the cut");
        Assert.Null(direct.FirstBadSeq);
        Assert.Equal(headMac, direct.HeadMac);
        if (head == "rewritten")
        {
            // Online too; the verify's own record then chains onto that head, and the committer says what it found.
            var result = await VerifyAsync();
            Assert.False(result.GetProperty("ok").GetBoolean(), result.GetRawText());
            Assert.Equal(headMac, result.GetProperty("head_mac").GetString());
            Assert.Contains(_host.Logs.Lines, l => l.Contains("[3003]", StringComparison.Ordinal) && l.Contains($"seq {keep} has a MAC that does not verify", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Verify_UntouchedChain_HeadMacOk()
    {
        var result = await VerifyAsync();

        Assert.True(result.GetProperty("ok").GetBoolean(), result.GetRawText());
        Assert.Equal("ok", result.GetProperty("head_mac").GetString());
    }

    [Fact]
    public async Task Verify_TailCutWithoutRewindingTheHead_ReportsTruncation()
    {
        var last = Records()[^1].Seq;
        RawDatabase.Execute(Data, "DELETE FROM audit_log WHERE seq > $s", ("$s", last - 3));

        var result = await VerifyAsync();

        Assert.False(result.GetProperty("ok").GetBoolean());
        Assert.Equal(last - 3, result.GetProperty("truncated_after").GetInt64());
    }

    [Fact]
    public async Task Verify_CheckpointForged_ReportsIt()
    {
        var checkpointSeq = await WriteCheckpointAsync();
        RawDatabase.Execute(Data, "UPDATE audit_checkpoints SET mac = zeroblob(32) WHERE seq = $s", ("$s", checkpointSeq));

        var result = await VerifyAsync();

        Assert.False(result.GetProperty("ok").GetBoolean());
        Assert.Equal(checkpointSeq, result.GetProperty("first_bad_seq").GetInt64());
    }

    public static TheoryData<string> Forgeries => new() { "sha256", "hmac-zero-key", "hmac-label-key" };

    [Theory]
    [MemberData(nameof(Forgeries))]
    public async Task Verify_ChainRecomputedWithoutTheKey_ReportsTheFirstForgedRecord(string forgery)
    {
        // Arrange: edit one record, then recompute every later link so the chain is self-consistent.
        var records = Records();
        var target = records[records.Count / 2];
        var previous = records.Single(r => r.Seq == target.Seq - 1).Hash;
        foreach (var record in records.Where(r => r.Seq >= target.Seq))
        {
            var body = record.Seq == target.Seq
                ? Encoding.UTF8.GetBytes(Body(record).Replace("\"outcome\":\"ok\"", "\"outcome\":\"denied\"", StringComparison.Ordinal))
                : record.Body;
            var hash = Forge(forgery, previous, body);
            RawDatabase.Execute(
                Data, "UPDATE audit_log SET body = $b, prev_hash = $p, hash = $h WHERE seq = $s",
                ("$b", body), ("$p", previous), ("$h", hash), ("$s", record.Seq));
            previous = hash;
        }

        RawDatabase.Execute(Data, "UPDATE audit_head SET hash = $h", ("$h", previous));

        // Act + Assert
        await AssertBrokenAtAsync(target.Seq);
    }

    [Fact]
    public async Task Verify_WholeChainRecomputedWithSha256_ReportsTheFirstRecord()
    {
        var previous = new byte[32];
        foreach (var record in Records())
        {
            var hash = Forge("sha256", previous, record.Body);
            RawDatabase.Execute(Data, "UPDATE audit_log SET prev_hash = $p, hash = $h WHERE seq = $s", ("$p", previous), ("$h", hash), ("$s", record.Seq));
            previous = hash;
        }

        RawDatabase.Execute(Data, "UPDATE audit_head SET hash = $h", ("$h", previous));

        await AssertBrokenAtAsync(1);
    }

    private static byte[] Forge(string forgery, byte[] previous, byte[] body)
    {
        byte[] message = [.. previous, .. body];
        return forgery switch
        {
            "sha256" => SHA256.HashData(message),
            "hmac-zero-key" => HMACSHA256.HashData(new byte[32], message),
            "hmac-label-key" => HMACSHA256.HashData(Encoding.UTF8.GetBytes("keyward/v1/audit-chain"), message),
            _ => throw new ArgumentOutOfRangeException(nameof(forgery)),
        };
    }

    /// <summary>Moves the manual clock until the committer's timer writes a checkpoint; returns its seq.</summary>
    private async Task<long> WriteCheckpointAsync()
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            _clock.Advance(TimeSpan.FromSeconds(11));
            await Task.Delay(20);
            if (RawDatabase.Scalar(Data, "SELECT MAX(seq) FROM audit_checkpoints") is long seq)
            {
                return seq;
            }
        }

        throw new TimeoutException("no audit checkpoint was written");
    }

    private async Task AssertBrokenAtAsync(long seq)
    {
        var result = await VerifyAsync();
        Assert.False(result.GetProperty("ok").GetBoolean(), result.GetRawText());
        Assert.Equal(seq, result.GetProperty("first_bad_seq").GetInt64());
        Assert.Equal(JsonValueKind.Null, result.GetProperty("truncated_after").ValueKind);

        var direct = await AuditVerifier.VerifyAsync(_host.Store, Root());
        Assert.Equal((false, (long?)seq), (direct.Ok, direct.FirstBadSeq));
    }

    private async Task<JsonElement> VerifyAsync()
    {
        using var root = _host.Client();
        return await Problems.JsonAsync(await root.GetAsync("/v1/sys/audit/verify"));
    }

    private Crypto.Keys.RootKey Root() => _host.Services.GetRequiredService<KeyHierarchy>().Require();

    private List<(long Seq, string? Tenant, byte[] Body, byte[] Hash)> Records() =>
        RawDatabase.Rows(Data, "SELECT seq, tenant, body, hash FROM audit_log ORDER BY seq")
            .Select(r => ((long)r[0]!, (string?)r[1], (byte[])r[2]!, (byte[])r[3]!))
            .ToList();

    private static string Body((long Seq, string? Tenant, byte[] Body, byte[] Hash) record) => Encoding.UTF8.GetString(record.Body);
}
