namespace Keyward.Tests.Cli;

public sealed class HelpTests
{
    public static TheoryData<string> Verbs => new()
    {
        "",
        "operator", "operator init", "operator unseal", "operator seal", "operator status", "operator generate-root",
        "operator root-token", "operator root-token revoke", "operator rewrap", "operator audit", "operator audit verify", "operator migrate",
        "tenants", "tenants create", "tenants list", "tenants get", "tenants delete", "tenants token", "tenants rotate-key",
        "roles", "roles put", "roles get", "roles list", "roles delete",
        "secrets", "secrets put", "secrets get", "secrets list", "secrets metadata", "secrets delete", "secrets undelete", "secrets destroy",
        "audit", "audit tail", "audit verify",
        "auth", "auth jwt", "auth jwt issuers", "auth jwt issuers put", "auth jwt issuers get", "auth jwt issuers list", "auth jwt issuers delete", "auth jwt login",
        "server",
    };

    [Theory]
    [MemberData(nameof(Verbs))]
    public async Task Help_EveryVerb_Exits0WithUsageAndNeverTheToken(string verb)
    {
        const string Token = "kwr_help-must-never-print-this-0123456789abcdef";
        var args = verb.Split(' ', StringSplitOptions.RemoveEmptyEntries).Append("--help").ToArray();

        var result = CliAssert.Ok(await KeywardCli.RunAsync(args, new Dictionary<string, string?> { ["KEYWARD_TOKEN"] = Token }));

        Assert.Contains("Usage:", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("Description:", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, result.Stdout, StringComparison.Ordinal);
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public async Task Help_ClientVerb_ListsTheGlobalOptions()
    {
        var result = CliAssert.Ok(await KeywardCli.RunAsync(["secrets", "get", "--help"]));

        Assert.Contains("--addr", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("--token", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("--format", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("--field", result.Stdout, StringComparison.Ordinal);
    }
}
