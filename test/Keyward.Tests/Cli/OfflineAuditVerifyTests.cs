using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;

using Keyward.Tests.Common;

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
