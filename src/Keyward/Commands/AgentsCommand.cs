using System.CommandLine;
using System.Text.Json;
using Keyward.Cli.Cli;
using Keyward.Client;
using Keyward.Client.Models;

namespace Keyward.Cli.Commands;

/// <summary>
/// <c>keyward agents</c>: agent identity. <c>bootstrap</c> (orchestrator token) and <c>spawn</c> (agent token) mint
/// single-use bootstrap tokens; <c>exchange</c> trades one for a session token; <c>self</c> shows the calling token.
/// A token is printed only by the verb that was asked to mint or exchange it, and only on stdout.
/// </summary>
internal static class AgentsCommand
{
    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var command = new Command(
            "agents",
            "Agent identity: mint bootstrap tokens (orchestrator), exchange them for sessions, spawn children (agent), show the calling token.");
        connection.AddTo(command);
        command.Subcommands.Add(Bootstrap(connection));
        command.Subcommands.Add(Exchange(connection));
        command.Subcommands.Add(Spawn(connection));
        command.Subcommands.Add(Self(connection));
        return command;
    }

    private static Option<string> AgentId(bool required) => new("--agent-id")
    {
        Description = "The agent's id: [A-Za-z0-9][A-Za-z0-9._-]{0,63}.",
        HelpName = "ID",
        Required = required,
    };

    private static Option<string> Ttl() => new("--ttl")
    {
        Description = "The session's lifetime, such as 10m or 1h: at most the role's max_ttl and the caller's own expiry.",
        HelpName = "DURATION",
        Required = true,
    };

    private static Option<string?> BootstrapTtl() => new("--bootstrap-ttl")
    {
        Description = "The bootstrap token's own lifetime (server default 60s, at most 90s).",
        HelpName = "DURATION",
    };

    private static Option<string[]> Rules() => new("--rule")
    {
        Description = "Narrow the role: a rule 'GLOB=cap,cap' (repeat for each). Rules can only narrow, never widen.",
        HelpName = "GLOB=CAPS",
    };

    private static Option<string?> RulesFile() => new("--rules-file")
    {
        Description = "Narrow the role with rules from a JSON file: [{\"path\", \"capabilities\"}] or {\"rules\": [...]}.",
        HelpName = "FILE",
    };

    private static Command Bootstrap(ConnectionOptions connection)
    {
        var agentId = AgentId(required: true);
        var runId = new Option<string>("--run-id") { Description = "The run the agent belongs to.", HelpName = "RUN", Required = true };
        var role = new Option<string>("--role") { Description = "The agent's role.", HelpName = "ROLE", Required = true };
        var ttl = Ttl();
        var bootstrapTtl = BootstrapTtl();
        var rules = Rules();
        var rulesFile = RulesFile();
        var command = new Command(
            "bootstrap",
            "Mint a single-use bootstrap token for an agent (orchestrator token) and print it. Hand it to the agent in $KEYWARD_BOOTSTRAP_TOKEN, never on a command line.")
        {
            agentId, runId, role, ttl, bootstrapTtl, rules, rulesFile,
        };
        ClientAction.Set(command, connection, async run =>
        {
            var issued = await run.Client.BootstrapAgentAsync(
                run.Get(agentId)!,
                run.Get(runId)!,
                run.Get(role)!,
                Parsing.Duration(run.Get(ttl)!, "--ttl"),
                ReadRules(run.Get(rules), run.Get(rulesFile)),
                OptionalDuration(run.Get(bootstrapTtl), "--bootstrap-ttl"),
                run.CancellationToken);
            PrintBootstrap(run.Output, issued);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Exchange(ConnectionOptions connection)
    {
        var command = new Command(
            "exchange",
            $"Exchange a bootstrap token for the agent's session token and print it. The bootstrap token comes from ${AgentSession.BootstrapTokenVariable}, else from standard input (never from an argument). It works once.");
        ClientAction.Set(command, connection, async run =>
        {
            var bootstrap = ReadBootstrapToken();
            var session = await run.Client.ExchangeBootstrapTokenAsync(bootstrap, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new
                {
                    token = session.Token,
                    accessor = session.Accessor,
                    tenant = session.Tenant,
                    agent_id = session.AgentId,
                    run_id = session.RunId,
                    role = session.Role,
                    expires_at = session.ExpiresAt,
                    renewable = session.Renewable,
                });
            }
            else
            {
                Output.Fields(
                    ("Token", session.Token),
                    ("Accessor", session.Accessor),
                    ("Tenant", session.Tenant),
                    ("Agent", session.AgentId),
                    ("Run", session.RunId),
                    ("Role", session.Role),
                    ("Expires at", Output.Instant(session.ExpiresAt)),
                    ("Renewable", session.Renewable ? "yes" : "no"));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Spawn(ConnectionOptions connection)
    {
        var agentId = AgentId(required: true);
        var runId = new Option<string?>("--run-id") { Description = "The run (inherited; if given it must match the caller's).", HelpName = "RUN" };
        var role = new Option<string?>("--role") { Description = "The child's role (default: the caller's); it must be in the caller role's may_spawn.", HelpName = "ROLE" };
        var ttl = Ttl();
        var bootstrapTtl = BootstrapTtl();
        var rules = Rules();
        var rulesFile = RulesFile();
        var command = new Command(
            "spawn",
            "Mint a bootstrap token for a child agent (agent token) and print it. The child's rules must be a subset of the caller's, and it expires no later than the caller.")
        {
            agentId, runId, role, ttl, bootstrapTtl, rules, rulesFile,
        };
        ClientAction.Set(command, connection, async run =>
        {
            var issued = await run.Client.SpawnAgentAsync(
                run.Get(agentId)!,
                Parsing.Duration(run.Get(ttl)!, "--ttl"),
                run.Get(role),
                ReadRules(run.Get(rules), run.Get(rulesFile)),
                run.Get(runId),
                OptionalDuration(run.Get(bootstrapTtl), "--bootstrap-ttl"),
                run.CancellationToken);
            PrintBootstrap(run.Output, issued);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Self(ConnectionOptions connection)
    {
        var command = new Command("self", "Show what the server knows about the calling token: tenant, kind, agent, run, role, effective rules, expiry (never the token).");
        ClientAction.Set(command, connection, async run =>
        {
            var self = await run.Client.GetSelfAsync(run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(self);
                return ExitCodes.Ok;
            }

            Output.Fields(
                ("Tenant", self.Tenant),
                ("Kind", self.Kind),
                ("Accessor", self.Accessor),
                ("Parent", self.ParentAccessor),
                ("Agent", self.AgentId),
                ("Run", self.RunId),
                ("Role", self.Role),
                ("Expires at", Output.Instant(self.ExpiresAt)),
                ("Renewable", self.Renewable switch { true => "yes", false => "no", null => null }),
                ("Chain", self.Chain is { Count: > 0 } chain ? string.Join(" > ", chain) : null));
            if (self.Rules is { Count: > 0 } effective)
            {
                Output.Line();
                Output.Table(["PATH", "CAPABILITIES"], effective.Select(r => new[] { r.Path, string.Join(',', r.Capabilities) }));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static void PrintBootstrap(Output output, IssuedBootstrapToken issued)
    {
        if (output.IsJson)
        {
            Output.Json(new { bootstrap_token = issued.BootstrapToken, accessor = issued.Accessor, expires_at = issued.ExpiresAt });
        }
        else
        {
            Output.Fields(("Bootstrap token", issued.BootstrapToken), ("Accessor", issued.Accessor), ("Expires at", Output.Instant(issued.ExpiresAt)));
        }
    }

    private static TimeSpan? OptionalDuration(string? text, string option) => text is null ? null : Parsing.Duration(text, option);

    /// <summary>Rules from <c>--rule</c> options or a <c>--rules-file</c> (not both); null when neither (the role's rules apply).</summary>
    internal static IReadOnlyList<RoleRule>? ReadRules(string[]? rules, string? file)
    {
        var hasRules = rules is { Length: > 0 };
        if (hasRules && file is not null)
        {
            throw new UsageException("Give the rules either with --rule or in --rules-file, not both.");
        }

        if (hasRules)
        {
            return rules!.Select(RolesCommand.ParseRule).ToArray();
        }

        if (file is null)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(file));
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("rules", out var inner))
            {
                root = inner;
            }

            if (root.ValueKind != JsonValueKind.Array)
            {
                throw new UsageException($"--rules-file '{file}' must hold a rules array or an object with \"rules\".");
            }

            return root.EnumerateArray()
                .Select(r => new RoleRule(
                    r.GetProperty("path").GetString()!,
                    r.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()!).ToArray()))
                .ToArray();
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"Cannot read --rules-file '{file}': {error.GetType().Name}.");
        }
        catch (Exception error) when (error is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new UsageException($"--rules-file '{file}' is not valid: each rule needs \"path\" and \"capabilities\" (strings).");
        }
    }

    /// <summary>
    /// The bootstrap token: <c>$KEYWARD_BOOTSTRAP_TOKEN</c>, else the first non-blank line of standard input (on a
    /// terminal, prompted on stderr and not echoed). Never an argument: arguments are visible to other local users.
    /// </summary>
    private static string ReadBootstrapToken()
    {
        var token = Environment.GetEnvironmentVariable(AgentSession.BootstrapTokenVariable);
        if (!string.IsNullOrWhiteSpace(token))
        {
            return token.Trim();
        }

        var typed = SecretInput.ReadLine("Bootstrap token (not echoed): ");
        return !string.IsNullOrWhiteSpace(typed)
            ? typed
            : throw new UsageException($"No bootstrap token: set ${AgentSession.BootstrapTokenVariable} or pipe it on standard input.");
    }
}
