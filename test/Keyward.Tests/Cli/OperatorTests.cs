using System.Text.RegularExpressions;

using Keyward.Tests.Common;

namespace Keyward.Tests.Cli;

/// <summary>The seal lifecycle and root-token recovery, each on its own server (they change server-wide state).</summary>
public sealed class OperatorTests
{
    [Fact]
    public async Task SealStatusUnseal_WithKeyOnStdin_GoesSealedAndBack()
    {
        await using var server = await KeywardProcess.StartDevAsync();
        CliAssert.Field(CliAssert.Ok(await server.RunAsync(null, "operator", "status")), "Sealed", "false");

        CliAssert.Ok(await server.RunAsync(KeywardTestHost.RootToken, "operator", "seal"));
        var sealedStatus = CliAssert.Exit(4, await server.RunAsync(null, "operator", "status"));
        var refused = CliAssert.Exit(4, await server.RunAsync(KeywardTestHost.RootToken, "tenants", "list"));
        var wrong = CliAssert.Exit(1, await server.RunAsync(null, "operator", "unseal", "not-a-share"));
        var key = await File.ReadAllTextAsync(server.UnsealKeyFile);
        var unsealed = CliAssert.Ok(await KeywardCli.RunAsync(["operator", "unseal"], server.Env(null), stdin: key));

        CliAssert.Field(sealedStatus, "Sealed", "true");
        Assert.Contains("(sealed, HTTP 503)", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("(unseal_failed, HTTP 400)", wrong.Stderr, StringComparison.Ordinal);
        CliAssert.Field(unsealed, "Sealed", "false");
        Assert.DoesNotContain(KeyLine(key), unsealed.Stdout + unsealed.Stderr, StringComparison.Ordinal);
        CliAssert.Ok(await server.RunAsync(KeywardTestHost.RootToken, "tenants", "list"));
    }

    [Fact]
    public async Task RootTokenRevokeThenGenerateRoot_FromKeyFile_PrintsAWorkingRootToken()
    {
        await using var server = await KeywardProcess.StartDevAsync();

        CliAssert.Ok(await server.RunAsync(KeywardTestHost.RootToken, "operator", "root-token", "revoke"));
        var revoked = CliAssert.Exit(1, await server.RunAsync(KeywardTestHost.RootToken, "tenants", "list"));
        var generated = CliAssert.Ok(await server.RunAsync(null, "operator", "generate-root", "--key-file", server.UnsealKeyFile));
        var token = Regex.Match(generated.Stdout, "(?m)^Root token: (kwr_\\S+)$").Groups[1].Value;

        Assert.Contains("HTTP 401)", revoked.Stderr, StringComparison.Ordinal);
        Assert.StartsWith("kwr_", token, StringComparison.Ordinal);
        Assert.NotEqual(KeywardTestHost.RootToken, token);
        CliAssert.Ok(await server.RunAsync(token, "tenants", "list"));
        CliAssert.Exit(2, await server.RunAsync(null, "operator", "generate-root"));
    }

    private static string KeyLine(string keyFile) =>
        keyFile.Split('\n').Select(l => l.Trim()).First(l => l.Length > 0 && !l.StartsWith('#'));
}
