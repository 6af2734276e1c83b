using System.Globalization;
using System.Text;
using System.Text.Json;
using Keyward.Core.Audit;
using Keyward.Tests.Common;
using Microsoft.Data.Sqlite;

namespace Keyward.Tests.Cli;

public sealed class OfflineAuditVerifyTests
{
    [Fact]
    public async Task OperatorAuditVerify_StoppedServerUntouched_Exits0_TamperedRow_Exits5()
    {
        // Arrange: a server with some history, then stopped.
        await using var server = await KeywardProcess.StartDevAsync();
        var tenant = "ov-" + Guid.NewGuid().ToString("N")[..8];
        CliAssert.Ok(await server.RunAsync(KeywardTestHost.RootToken, "tenants", "create", tenant));
        CliAssert.Ok(await server.RunAsync(KeywardTestHost.RootToken, "tenants", "list"));
        CliAssert.Ok(await server.RunAsync(KeywardTestHost.RootToken, "tenants", "get", tenant));
        await server.StopAsync();
        string[] verify = ["operator", "audit", "verify", "--data", server.DataDirectory, "--unseal-key-file", server.UnsealKeyFile];

        // Act / Assert: untouched, the chain verifies.
        var clean = CliAssert.Ok(await KeywardCli.RunAsync(verify));
        Assert.Contains("ok", clean.Stdout, StringComparison.Ordinal);
        CliAssert.Field(clean, "First bad seq", "-");

        // Act / Assert: one edited row is found.
        Tamper(server.DataDirectory, seq: 3);
        var broken = CliAssert.Exit(5, await KeywardCli.RunAsync(verify));
        CliAssert.Field(broken, "First bad seq", "3");
        var json = CliAssert.Exit(5, await KeywardCli.RunAsync([.. verify, "--format", "json"]));
        using var document = JsonDocument.Parse(json.Stdout);
        Assert.False(document.RootElement.GetProperty("ok").GetBoolean());
        Assert.Equal(3, document.RootElement.GetProperty("first_bad_seq").GetInt64());
    }

    [Fact]
    public async Task OperatorAuditVerify_WrongKeyMissingStoreOrNoKeys_ExitNonZero()
    {
        using var empty = new Keyward.Tests.Common.TempDirectory();
        await using var server = await KeywardProcess.StartDevAsync();
        await server.StopAsync();

        var wrongKey = CliAssert.Exit(1, await KeywardCli.RunAsync(["operator", "audit", "verify", "--data", server.DataDirectory, "--key", "AAAA"]));
        var missing = CliAssert.Exit(2, await KeywardCli.RunAsync(["operator", "audit", "verify", "--data", empty.Path, "--unseal-key-file", server.UnsealKeyFile]));
        var neither = CliAssert.Exit(2, await KeywardCli.RunAsync(["operator", "audit", "verify", "--data", server.DataDirectory]));

        Assert.Contains("unseal_failed", wrongKey.Stderr, StringComparison.Ordinal);
        Assert.StartsWith("Error: ", missing.Stderr, StringComparison.Ordinal);
        Assert.StartsWith("Error: ", neither.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OperatorAuditVerify_Anchor_GoodOk_ForgedLineReported_TailCutWithAnOlderHeadPutBackTruncatedAfter()
    {
        // Arrange: a server with some history; the head row as an older copy of the store holds it; then records until a
        // checkpoint past that head reaches the server log (every 10 s while records are written), and a few after it.
        await using var server = await KeywardProcess.StartDevAsync();
        using var files = new TempDirectory();
        using var http = server.Client();
        (await http.PostAsync(new Uri("/v1/tenants", UriKind.Relative), JsonBody("""{"id":"anchored"}"""))).EnsureSuccessStatusCode();
        var olderHead = HeadRow(server.DataDirectory);
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!AuditAnchors.Parse(server.Output).Checkpoints.Any(c => c.Seq > olderHead.Seq))
        {
            Assert.True(DateTime.UtcNow < deadline, "no audit checkpoint reached the log:\n" + server.Output);
            (await http.GetAsync(new Uri("/v1/tenants", UriKind.Relative))).EnsureSuccessStatusCode();
            await Task.Delay(250);
        }

        for (var i = 0; i < 3; i++)
        {
            (await http.GetAsync(new Uri("/v1/tenants", UriKind.Relative))).EnsureSuccessStatusCode();
        }

        await server.StopAsync();

        // The checkpoint lines exactly as the server printed them (event 3001), among the other log lines.
        var log = files.File("server.log");
        await File.WriteAllTextAsync(log, server.Output);
        var logLines = server.Output.Split('\n');
        var lastLogged = AuditAnchors.Parse(server.Output).Checkpoints.Max(c => c.Seq);
        var logged = Array.FindIndex(logLines, l => l.Contains($"Audit checkpoint seq={lastLogged} ", StringComparison.Ordinal));
        Assert.Contains("[3001]", logLines[logged], StringComparison.Ordinal);

        // The same checkpoints as a file audit sink writes them, among the audit records.
        var sink = files.File("audit.jsonl");
        await File.WriteAllLinesAsync(sink, RawDatabase.Rows(server.DataDirectory, "SELECT body FROM audit_log ORDER BY seq")
            .Select(r => System.Text.Encoding.UTF8.GetString((byte[])r[0]!))
            .Concat(RawDatabase.Rows(server.DataDirectory, "SELECT seq, hash, time, mac FROM audit_checkpoints ORDER BY seq")
                .Select(r => AuditAnchors.SinkLine(new AuditCheckpoint((long)r[0]!, (byte[])r[1]!, new DateTimeOffset((long)r[2]!, TimeSpan.Zero), (byte[])r[3]!)))));

        // A copy of the log line with one digit of its hash changed.
        var forged = files.File("forged.log");
        var hashAt = logLines[logged].IndexOf("hash=", StringComparison.Ordinal) + 5;
        var line = logLines[logged];
        await File.WriteAllTextAsync(forged, line[..hashAt] + (line[hashAt] == '0' ? '1' : '0') + line[(hashAt + 1)..] + "\n");
        string[] verify = ["operator", "audit", "verify", "--data", server.DataDirectory, "--unseal-key-file", server.UnsealKeyFile];

        var lastStored = (long)RawDatabase.Scalar(server.DataDirectory, "SELECT MAX(seq) FROM audit_checkpoints")!;

        // Act / Assert: good anchors on the intact store.
        foreach (var (anchor, last) in new[] { (log, lastLogged), (sink, lastStored) })
        {
            var good = CliAssert.Ok(await KeywardCli.RunAsync([.. verify, "--anchor", anchor]));
            CliAssert.Field(good, "Last anchor", last.ToString(CultureInfo.InvariantCulture));
            CliAssert.Field(good, "Head MAC", "ok");
            CliAssert.Field(good, "Bad anchor lines", "-");
        }

        // Act / Assert: a forged line is reported, not trusted.
        var forgedResult = CliAssert.Exit(5, await KeywardCli.RunAsync([.. verify, "--anchor", forged, "--format", "json"]));
        using (var json = JsonDocument.Parse(forgedResult.Stdout))
        {
            Assert.Equal([1], json.RootElement.GetProperty("bad_anchor_lines").EnumerateArray().Select(e => e.GetInt32()));
            Assert.Equal(0, json.RootElement.GetProperty("anchors").GetInt32());
            Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("truncated_after").ValueKind);
        }

        // Act: cut every record and checkpoint after the older head, and put that head row back.
        RawDatabase.Execute(server.DataDirectory, "DELETE FROM audit_log WHERE seq > $s", ("$s", olderHead.Seq));
        RawDatabase.Execute(server.DataDirectory, "DELETE FROM audit_checkpoints WHERE seq > $s", ("$s", olderHead.Seq));
        RawDatabase.Execute(
            server.DataDirectory, "UPDATE audit_head SET seq = $s, hash = $h, mac = $m", ("$s", olderHead.Seq), ("$h", olderHead.Hash), ("$m", olderHead.Mac));

        // Assert: the store alone is consistent; the anchors are beyond its end.
        var storeAlone = CliAssert.Ok(await KeywardCli.RunAsync(verify));
        CliAssert.Field(storeAlone, "Head MAC", "ok");
        foreach (var anchor in new[] { log, sink })
        {
            var cut = CliAssert.Exit(5, await KeywardCli.RunAsync([.. verify, "--anchor", anchor]));
            CliAssert.Field(cut, "Truncated after", olderHead.Seq.ToString(CultureInfo.InvariantCulture));
            CliAssert.Field(cut, "First bad seq", "-");
        }
    }

    [Fact]
    public async Task OperatorAuditVerify_StoreFromBeforeHeadMacs_RefusedUntilTheServerUpgradedIt_ThenOk()
    {
        // Arrange: a store as a version without head MACs left it (schema 8: no mac column).
        using var data = new TempDirectory();
        await using (var server = await KeywardProcess.StartDevAsync(data.Path))
        {
            CliAssert.Ok(await server.RunAsync(KeywardTestHost.RootToken, "tenants", "create", "upgraded"));
            await server.StopAsync();
        }

        // Everything migration 9 and the later ones added, taken out again.
        RawDatabase.Execute(data.Path, "ALTER TABLE audit_head DROP COLUMN mac");
        RawDatabase.Execute(data.Path, "DROP TABLE derived_revocations");
        RawDatabase.Execute(data.Path, "ALTER TABLE wraps DROP COLUMN owner_accessor");
        RawDatabase.Execute(data.Path, "DELETE FROM schema_migrations WHERE version >= 9");
        string[] verify = ["operator", "audit", "verify", "--data", data.Path, "--unseal-key-file", Path.Combine(data.Path, "dev-unseal.key")];

        // Act / Assert: this version does not read it as it is, and says what to do.
        var old = CliAssert.Exit(1, await KeywardCli.RunAsync(verify));
        Assert.Contains("schema version 8", old.Stderr, StringComparison.Ordinal);
        Assert.Contains("Start the server on it once", old.Stderr, StringComparison.Ordinal);

        // Act: the server upgrades the store; its first commit chains onto the head without a MAC (and says so).
        await using (var server = await KeywardProcess.StartDevAsync(data.Path))
        {
            CliAssert.Ok(await server.RunAsync(KeywardTestHost.RootToken, "tenants", "list"));
            await server.StopAsync();
            Assert.Contains("[3003]", server.Output, StringComparison.Ordinal);
        }

        // Assert
        var upgraded = CliAssert.Ok(await KeywardCli.RunAsync(verify));
        CliAssert.Field(upgraded, "Head MAC", "ok");
    }

    private static StringContent JsonBody(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    /// <summary>The audit head row as raw bytes, as a copy of the database file holds it.</summary>
    private static (long Seq, byte[] Hash, byte[] Mac) HeadRow(string dataDirectory)
    {
        var row = RawDatabase.Rows(dataDirectory, "SELECT seq, hash, mac FROM audit_head").Single();
        return ((long)row[0]!, (byte[])row[1]!, (byte[])row[2]!);
    }

    /// <summary>Edits one audit row in place, as someone with write access to the database but not the root key could.</summary>
    private static void Tamper(string dataDirectory, long seq)
    {
        var builder = new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataDirectory, "keyward.db"), Pooling = false };
        using var connection = new SqliteConnection(builder.ToString());
        connection.Open();
        using var read = connection.CreateCommand();
        read.CommandText = "SELECT body FROM audit_log WHERE seq = $seq";
        read.Parameters.AddWithValue("$seq", seq);
        var body = Encoding.UTF8.GetString((byte[])read.ExecuteScalar()!);
        var edited = body.Replace("\"status\":", "\"status\": ", StringComparison.Ordinal);
        Assert.NotEqual(body, edited);
        using var write = connection.CreateCommand();
        write.CommandText = "UPDATE audit_log SET body = $body WHERE seq = $seq";
        write.Parameters.AddWithValue("$body", Encoding.UTF8.GetBytes(edited));
        write.Parameters.AddWithValue("$seq", seq);
        Assert.Equal(1, write.ExecuteNonQuery());
    }
}
