using System.Text.Json;
using System.Text.RegularExpressions;
using Keyward.Cli.Commands;
using Keyward.Client;
using Keyward.Client.Models;
using Keyward.Tests.Common;

namespace Keyward.Tests.Cli;

/// <summary>
/// The agent identity verbs against a real server process: agents bootstrap|exchange|spawn|self, tokens revoke,
/// runs tree|complete, leases, tenants lockdown|unlock. A token is printed only by the verb asked to mint or
/// exchange it, only on stdout.
/// </summary>
public sealed partial class AgentCliTests : IClassFixture<CliServerFixture>
{
    private readonly CliServerFixture _fixture;

    public AgentCliTests(CliServerFixture fixture) => _fixture = fixture;

    private KeywardProcess Server => _fixture.Server;

    [Fact]
    public async Task BootstrapThenExchange_PrintsEachTokenOnceOnStdout_ReplayExits1()
    {
        var world = await WorldAsync();

        var minted = CliAssert.Ok(await Server.RunAsync(
            world.Orchestrator, "agents", "bootstrap", "--agent-id", "planner", "--run-id", "run-1", "--role", "worker", "--ttl", "10m", "--bootstrap-ttl", "60s", "--format", "json"));
        var bootstrap = JsonDocument.Parse(minted.Stdout).RootElement.GetProperty("bootstrap_token").GetString()!;
        var exchanged = CliAssert.Ok(await KeywardCli.RunAsync(["agents", "exchange"], ExchangeEnv(bootstrap)));
        var replay = CliAssert.Exit(1, await KeywardCli.RunAsync(["agents", "exchange"], ExchangeEnv(bootstrap)));

        Assert.StartsWith("kwb_", bootstrap, StringComparison.Ordinal);
        OnlyTokens(minted, bootstrap);
        var session = Regex.Match(exchanged.Stdout, "(?m)^Token:\\s+(kws_\\S+)$").Groups[1].Value;
        Assert.StartsWith("kws_", session, StringComparison.Ordinal);
        OnlyTokens(exchanged, session);
        CliAssert.Field(exchanged, "Agent", "planner");
        CliAssert.Field(exchanged, "Run", "run-1");
        CliAssert.Field(exchanged, "Role", "worker");
        Assert.Contains("(bootstrap_replayed, HTTP 409)", replay.Stderr, StringComparison.Ordinal);
        Assert.Equal("", replay.Stdout);
        OnlyTokens(replay);
    }

    [Fact]
    public async Task Exchange_FromStdin_PrintsTheSessionAsJson()
    {
        var world = await WorldAsync();
        var bootstrap = await world.BootstrapAsync("stdin-agent", "run-stdin");

        var result = CliAssert.Ok(await KeywardCli.RunAsync(["agents", "exchange", "--format", "json"], ExchangeEnv(null), stdin: bootstrap + "\n"));

        var json = JsonDocument.Parse(result.Stdout).RootElement;
        var session = json.GetProperty("token").GetString()!;
        Assert.StartsWith("kws_", session, StringComparison.Ordinal);
        Assert.Equal("stdin-agent", json.GetProperty("agent_id").GetString());
        Assert.Equal(world.Tenant, json.GetProperty("tenant").GetString());
        OnlyTokens(result, session);
    }

    [Fact]
    public async Task Exchange_NoBootstrapToken_Exits2()
    {
        var result = CliAssert.Exit(2, await KeywardCli.RunAsync(["agents", "exchange"], ExchangeEnv(null), stdin: ""));

        Assert.Contains("KEYWARD_BOOTSTRAP_TOKEN", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public async Task Exchange_TokenAsAnArgument_IsRefusedWithoutEchoingIt()
    {
        const string Pasted = "kwb_pasted-on-the-command-line-0123456789abcdefgh";

        var result = CliAssert.Exit(2, await KeywardCli.RunAsync(["agents", "exchange", Pasted], ExchangeEnv(null), stdin: ""));

        Assert.DoesNotContain(Pasted, result.Stdout + result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("kwb_", result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Spawn_AllowedRole_PrintsChildBootstrap_DisallowedRoleExits1With403()
    {
        var world = await WorldAsync();
        var session = await world.SessionAsync("planner", "run-spawn");

        var spawned = CliAssert.Ok(await Server.RunAsync(session, "agents", "spawn", "--agent-id", "helper-1", "--role", "helper", "--ttl", "5m"));
        var denied = CliAssert.Exit(1, await Server.RunAsync(session, "agents", "spawn", "--agent-id", "sneaky", "--role", "auditor", "--ttl", "5m"));
        var wider = CliAssert.Exit(1, await Server.RunAsync(session, "agents", "spawn", "--agent-id", "wide", "--role", "helper", "--ttl", "5m", "--rule", "ops/**=read"));

        var child = Regex.Match(spawned.Stdout, "(?m)^Bootstrap token:\\s+(kwb_\\S+)$").Groups[1].Value;
        Assert.StartsWith("kwb_", child, StringComparison.Ordinal);
        OnlyTokens(spawned, child);
        Assert.Contains("HTTP 403)", denied.Stderr, StringComparison.Ordinal);
        Assert.Equal("", denied.Stdout);
        OnlyTokens(denied);
        Assert.Contains("(scope_exceeds_parent, HTTP 403)", wider.Stderr, StringComparison.Ordinal);
        OnlyTokens(wider);
    }

    [Fact]
    public async Task Spawn_RulesFile_NarrowsTheChild()
    {
        var world = await WorldAsync();
        var session = await world.SessionAsync("planner", "run-rules-file");
        using var directory = new TempDirectory();
        var file = Path.Combine(directory.Path, "rules.json");
        await File.WriteAllTextAsync(file, """{"rules": [{"path": "app/x/**", "capabilities": ["read"]}]}""");

        var spawned = CliAssert.Ok(await Server.RunAsync(session, "agents", "spawn", "--agent-id", "narrow", "--role", "helper", "--ttl", "5m", "--rules-file", file, "--format", "json"));

        Assert.StartsWith("kwb_", JsonDocument.Parse(spawned.Stdout).RootElement.GetProperty("bootstrap_token").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Self_ShowsTheAgentButNeverTheToken()
    {
        var world = await WorldAsync();
        var session = await world.SessionAsync("planner", "run-self");

        var result = CliAssert.Ok(await Server.RunAsync(session, "agents", "self"));

        CliAssert.Field(result, "Agent", "planner");
        CliAssert.Field(result, "Run", "run-self");
        CliAssert.Field(result, "Tenant", world.Tenant);
        Assert.Contains("app/**", result.Stdout, StringComparison.Ordinal);
        OnlyTokens(result);
    }

    [Fact]
    public async Task RunsTree_IndentsChildrenUnderParents_CompleteRevokesTheRun()
    {
        var world = await WorldAsync();
        var parent = await world.SessionAsync("planner", "run-tree");
        var childBootstrap = await world.SpawnAsync(parent, "helper-1", "helper");
        var child = await world.ExchangeAsync(childBootstrap);

        var tree = CliAssert.Ok(await Server.RunAsync(world.Orchestrator, "runs", "tree", "run-tree"));
        var completed = CliAssert.Ok(await Server.RunAsync(world.Orchestrator, "runs", "complete", "run-tree"));
        var after = CliAssert.Exit(1, await Server.RunAsync(child, "agents", "self"));

        var lines = tree.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var parentLine = Array.FindIndex(lines, l => l.Contains(" planner ", StringComparison.Ordinal));
        var childLine = Array.FindIndex(lines, l => l.Contains(" helper-1 ", StringComparison.Ordinal));
        Assert.True(parentLine >= 0 && childLine > parentLine, tree.Stdout);
        Assert.Equal(Indent(lines[parentLine]) + 2, Indent(lines[childLine]));
        OnlyTokens(tree);
        Assert.Matches("(?m)^Revoked tokens:\\s+[2-9]", completed.Stdout);
        Assert.Contains("HTTP 401)", after.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunsTree_Json_ListsParentsBeforeChildren()
    {
        var world = await WorldAsync();
        var parent = await world.SessionAsync("planner", "run-tree-json");
        await world.ExchangeAsync(await world.SpawnAsync(parent, "helper-1", "helper"));

        var result = CliAssert.Ok(await Server.RunAsync(world.Orchestrator, "runs", "tree", "run-tree-json", "--format", "json"));

        var tokens = JsonDocument.Parse(result.Stdout).RootElement.GetProperty("tokens").EnumerateArray().ToList();
        var seen = new HashSet<string>();
        foreach (var token in tokens)
        {
            var parentAccessor = token.GetProperty("parent_accessor").GetString();
            Assert.True(parentAccessor is null || seen.Contains(parentAccessor) || !tokens.Any(t => t.GetProperty("accessor").GetString() == parentAccessor), result.Stdout);
            seen.Add(token.GetProperty("accessor").GetString()!);
        }

        Assert.True(tokens.Count >= 2);
    }

    [Fact]
    public async Task TokensRevoke_Accessor_RevokesTheAgent()
    {
        var world = await WorldAsync();
        var session = await world.SessionAsync("planner", "run-revoke");
        var accessor = JsonDocument.Parse(CliAssert.Ok(await Server.RunAsync(session, "agents", "self", "--format", "json")).Stdout).RootElement.GetProperty("accessor").GetString()!;

        var revoked = CliAssert.Ok(await Server.RunAsync(world.Orchestrator, "tokens", "revoke", accessor));
        var after = CliAssert.Exit(1, await Server.RunAsync(session, "agents", "self"));

        Assert.Contains(accessor, revoked.Stdout, StringComparison.Ordinal);
        Assert.Contains("(token_revoked, HTTP 401)", after.Stderr, StringComparison.Ordinal);
        OnlyTokens(after);
    }

    [Fact]
    public async Task Leases_ListAndRevokePrefix_Work_UnknownLeaseIsRefused()
    {
        var world = await WorldAsync();
        await world.SessionAsync("planner", "run-leases");

        var list = CliAssert.Ok(await Server.RunAsync(world.Admin, "leases", "list"));
        var json = CliAssert.Ok(await Server.RunAsync(world.Admin, "leases", "list", "--format", "json"));
        var prefix = CliAssert.Ok(await Server.RunAsync(world.Admin, "leases", "revoke-prefix", "no/such/prefix"));
        var unknown = await Server.RunAsync(world.Admin, "leases", "revoke", "no-such-lease");

        Assert.StartsWith("LEASE_ID", list.Stdout, StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(json.Stdout).RootElement.GetProperty("leases").ValueKind);
        CliAssert.Field(prefix, "Revoked", "0");
        Assert.NotEqual(0, unknown.ExitCode);
        OnlyTokens(list);
        OnlyTokens(json);
    }

    [Fact]
    public async Task TenantsLockdown_RefusesTheTenant_UnlockLiftsIt()
    {
        var world = await WorldAsync();
        var session = await world.SessionAsync("planner", "run-lock");

        var locked = CliAssert.Ok(await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "lockdown", world.Tenant, "--reason", "suspected leak"));
        var refused = CliAssert.Exit(1, await Server.RunAsync(session, "agents", "self"));
        var freshAdmin = await world.MintAsync("admin");
        var lockedOut = CliAssert.Exit(1, await Server.RunAsync(freshAdmin, "secrets", "list"));
        var unlocked = CliAssert.Ok(await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "unlock", world.Tenant));
        var afterUnlock = CliAssert.Ok(await Server.RunAsync(await world.MintAsync("admin"), "secrets", "list"));

        Assert.Matches("(?m)^Incident:\\s+\\S+", locked.Stdout);
        Assert.Matches("(?m)^Revoked tokens:\\s+[1-9]", locked.Stdout);
        Assert.Matches("HTTP (401|423)\\)", refused.Stderr);
        Assert.Contains("(tenant_locked, HTTP 423)", lockedOut.Stderr, StringComparison.Ordinal);
        Assert.Contains(world.Tenant, unlocked.Stdout, StringComparison.Ordinal);
        Assert.Contains("app/db", afterUnlock.Stdout, StringComparison.Ordinal);
        OnlyTokens(locked);
    }

    [Fact]
    public async Task TenantsLockdown_WithoutReason_Exits2()
    {
        var result = CliAssert.Exit(2, await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "lockdown", "whatever"));

        Assert.Contains("--reason", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AgentsBootstrap_BadTtl_Exits2BeforeSending()
    {
        var result = CliAssert.Exit(2, await Server.RunAsync(KeywardTestHost.RootToken, "agents", "bootstrap", "--agent-id", "a", "--run-id", "r", "--role", "x", "--ttl", "soon"));

        Assert.Contains("--ttl", result.Stderr, StringComparison.Ordinal);
    }

    public static TheoryData<string> Verbs => new()
    {
        "agents", "agents bootstrap", "agents exchange", "agents spawn", "agents self",
        "tokens", "tokens revoke",
        "runs", "runs tree", "runs complete",
        "leases", "leases list", "leases renew", "leases revoke", "leases revoke-prefix",
        "tenants lockdown", "tenants unlock",
    };

    [Theory]
    [MemberData(nameof(Verbs))]
    public async Task Help_AgentVerbs_Exit0WithUsageAndNeverTheToken(string verb)
    {
        const string Token = "kwo_help-must-never-print-this-0123456789abcdef";
        const string Bootstrap = "kwb_help-must-never-print-this-0123456789abcdef";
        var args = verb.Split(' ').Append("--help").ToArray();

        var result = CliAssert.Ok(await KeywardCli.RunAsync(args, new Dictionary<string, string?> { ["KEYWARD_TOKEN"] = Token, ["KEYWARD_BOOTSTRAP_TOKEN"] = Bootstrap }));

        Assert.Contains("Usage:", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("Description:", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(Bootstrap, result.Stdout, StringComparison.Ordinal);
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public void TreeLines_NestedTokens_IndentsTwoSpacesPerLevelParentsFirst()
    {
        var at = DateTimeOffset.UnixEpoch;
        RunToken Token(string accessor, string? parent, string agent) => new(accessor, parent, parent is null ? "orchestrator" : "agent", agent, "r", "worker", at, at, null);
        var tokens = new[] { Token("o", null, "orc"), Token("a", "o", "a1"), Token("b", "a", "b1"), Token("c", "o", "c1"), Token("x", "missing", "x1") };

        var lines = RunsCommand.TreeLines(tokens).ToList();

        Assert.Equal(5, lines.Count);
        Assert.StartsWith("orchestrator orc ", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("  agent a1 ", lines[1], StringComparison.Ordinal);
        Assert.StartsWith("    agent b1 ", lines[2], StringComparison.Ordinal);
        Assert.StartsWith("  agent c1 ", lines[3], StringComparison.Ordinal);
        Assert.StartsWith("agent x1 ", lines[4], StringComparison.Ordinal);
    }

    private static int Indent(string line) => line.Length - line.TrimStart(' ').Length;

    private Dictionary<string, string?> ExchangeEnv(string? bootstrap) =>
        new() { ["KEYWARD_ADDR"] = Server.AddressText, ["KEYWARD_TOKEN"] = null, ["KEYWARD_BOOTSTRAP_TOKEN"] = bootstrap };

    /// <summary>Stdout holds exactly the <paramref name="allowed"/> tokens (if any) and stderr none at all.</summary>
    private static void OnlyTokens(CliResult result, params string[] allowed)
    {
        Assert.Empty(TokenShape().Matches(result.Stderr));
        var printed = TokenShape().Matches(result.Stdout).Select(m => m.Value).Distinct().ToList();
        Assert.True(printed.All(allowed.Contains), $"unexpected token on stdout: {result}");
    }

    [GeneratedRegex("kw[a-z]_[A-Za-z0-9_.-]{16,}")]
    private static partial Regex TokenShape();

    private async Task<World> WorldAsync()
    {
        var (tenant, admin) = await _fixture.TenantAsync();
        using var client = new KeywardClient(Server.Address, admin);
        await client.PutRoleAsync("worker", [new RoleRule("app/**", ["read", "list"])], TimeSpan.FromHours(1), ["helper"]);
        await client.PutRoleAsync("helper", [new RoleRule("app/x/**", ["read"])], TimeSpan.FromHours(1));
        await client.PutRoleAsync("auditor", [new RoleRule("ops/**", ["read"])], TimeSpan.FromHours(1));
        await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "pw" });
        using var root = new KeywardClient(Server.Address, KeywardTestHost.RootToken);
        var orchestrator = await root.CreateTenantTokenAsync(tenant, TenantTokenKind.Orchestrator);
        return new World(Server, tenant, admin, orchestrator.Token);
    }

    /// <summary>A tenant ready for agents; set-up goes through the SDK (every CLI run is a process start).</summary>
    private sealed record World(KeywardProcess Server, string Tenant, string Admin, string Orchestrator)
    {
        public async Task<string> BootstrapAsync(string agentId, string runId, string role = "worker")
        {
            using var client = new KeywardClient(Server.Address, Orchestrator);
            return (await client.BootstrapAgentAsync(agentId, runId, role, TimeSpan.FromMinutes(10))).BootstrapToken;
        }

        public async Task<string> ExchangeAsync(string bootstrap)
        {
            using var client = new KeywardClient(Server.Address);
            return (await client.ExchangeBootstrapTokenAsync(bootstrap)).Token;
        }

        public async Task<string> SessionAsync(string agentId, string runId) => await ExchangeAsync(await BootstrapAsync(agentId, runId));

        public async Task<string> SpawnAsync(string parentSession, string agentId, string role)
        {
            using var client = new KeywardClient(Server.Address, parentSession);
            return (await client.SpawnAgentAsync(agentId, TimeSpan.FromMinutes(5), role)).BootstrapToken;
        }

        public async Task<string> MintAsync(string kind)
        {
            using var root = new KeywardClient(Server.Address, KeywardTestHost.RootToken);
            return (await root.CreateTenantTokenAsync(Tenant, kind == "admin" ? TenantTokenKind.Admin : TenantTokenKind.Orchestrator)).Token;
        }
    }
}
