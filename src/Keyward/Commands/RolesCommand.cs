using System.CommandLine;
using System.Text.Json;
using Keyward.Cli.Cli;
using Keyward.Client;
using Keyward.Client.Models;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward roles</c>: a tenant's roles (tenant admin token).</summary>
internal static class RolesCommand
{
    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var command = new Command("roles", "Manage the tenant's roles (tenant admin token): put, get, list, delete.");
        connection.AddTo(command);
        command.Subcommands.Add(Put(connection));
        command.Subcommands.Add(Get(connection));
        command.Subcommands.Add(List(connection));
        command.Subcommands.Add(Delete(connection));
        return command;
    }

    private static Argument<string> Name() => new("NAME") { Description = "The role's name: [A-Za-z0-9][A-Za-z0-9._-]{0,63}." };

    private static Command Put(ConnectionOptions connection)
    {
        var name = Name();
        var rules = new Option<string[]>("--rule")
        {
            Description = "A rule 'GLOB=cap,cap' (repeat for each). Globs are '/'-separated literals, '*' (one segment) or a final '**'; capabilities: read, use, list, write, delete, rotate.",
            HelpName = "GLOB=CAPS",
        };
        var maxTtl = new Option<string?>("--max-ttl") { Description = "The longest session the role allows, such as 15m or 1h.", HelpName = "DURATION" };
        var maySpawn = new Option<string[]>("--may-spawn") { Description = "A role this role's agents may spawn children with (repeat for each).", HelpName = "ROLE" };
        var file = new Option<string?>("--file")
        {
            Description = "Read the role from a JSON file instead: {\"rules\": [{\"path\", \"capabilities\"}], \"max_ttl\", \"may_spawn\"} or just the rules array. --max-ttl and --may-spawn override it.",
            HelpName = "FILE",
        };
        var command = new Command("put", "Create or replace a role.") { name, rules, maxTtl, maySpawn, file };
        ClientAction.Set(command, connection, async run =>
        {
            IReadOnlyList<RoleRule> ruleList;
            TimeSpan? ttl = null;
            IReadOnlyList<string>? spawn = null;
            var ruleTexts = run.Get(rules) ?? [];
            if (run.Get(file) is { } path)
            {
                if (ruleTexts.Length > 0)
                {
                    throw new UsageException("Give the rules either with --rule or in --file, not both.");
                }

                (ruleList, ttl, spawn) = ReadFile(path);
            }
            else
            {
                ruleList = ruleTexts.Select(ParseRule).ToArray();
            }

            if (run.Get(maxTtl) is { } ttlText)
            {
                ttl = Parsing.Duration(ttlText, "--max-ttl");
            }

            if (run.Get(maySpawn) is { Length: > 0 } spawnList)
            {
                spawn = spawnList;
            }

            var role = await run.Client.PutRoleAsync(
                run.Get(name)!, ruleList, ttl ?? throw new UsageException("--max-ttl is required (or max_ttl in --file)."), spawn, run.CancellationToken);
            Print(run.Output, role);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Get(ConnectionOptions connection)
    {
        var name = Name();
        var command = new Command("get", "Show one role.") { name };
        ClientAction.Set(command, connection, async run =>
        {
            Print(run.Output, await run.Client.GetRoleAsync(run.Get(name)!, run.CancellationToken));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(ConnectionOptions connection)
    {
        var command = new Command("list", "List the tenant's roles.");
        ClientAction.Set(command, connection, async run =>
        {
            var roles = await run.Client.ListRolesAsync(run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { roles });
            }
            else
            {
                Output.Table(
                    ["NAME", "MAX_TTL", "RULES", "MAY_SPAWN"],
                    roles.Select(r => new[] { r.Name, Durations.Format(r.MaxTtl), r.Rules.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), r.MaySpawn.Count == 0 ? "-" : string.Join(',', r.MaySpawn) }));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Delete(ConnectionOptions connection)
    {
        var name = Name();
        var command = new Command("delete", "Delete a role.") { name };
        ClientAction.Set(command, connection, async run =>
        {
            var role = run.Get(name)!;
            await run.Client.DeleteRoleAsync(role, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { name = role, deleted = true });
            }
            else
            {
                Output.Line($"Role {role} deleted.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary><c>GLOB=cap,cap</c>.</summary>
    internal static RoleRule ParseRule(string text)
    {
        var equals = text.LastIndexOf('=');
        if (equals <= 0 || equals == text.Length - 1)
        {
            throw new UsageException($"--rule '{text}' is not GLOB=cap,cap (for example 'app/**=read,list').");
        }

        var capabilities = text[(equals + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new RoleRule(text[..equals].Trim(), capabilities);
    }

    private static (IReadOnlyList<RoleRule> Rules, TimeSpan? MaxTtl, IReadOnlyList<string>? MaySpawn) ReadFile(string path)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Array)
            {
                return (Rules(root), null, null);
            }

            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("rules", out var rules))
            {
                throw new UsageException($"--file '{path}' must hold a JSON object with \"rules\", or a rules array.");
            }

            TimeSpan? ttl = null;
            if (root.TryGetProperty("max_ttl", out var maxTtl))
            {
                ttl = maxTtl.ValueKind == JsonValueKind.Number && maxTtl.TryGetInt64(out var seconds) && seconds > 0
                    ? TimeSpan.FromSeconds(seconds)
                    : Parsing.Duration(maxTtl.ValueKind == JsonValueKind.String ? maxTtl.GetString()! : "", "max_ttl in --file");
            }

            IReadOnlyList<string>? spawn = root.TryGetProperty("may_spawn", out var maySpawn)
                ? maySpawn.EnumerateArray().Select(e => e.GetString() ?? "").ToArray()
                : null;
            return (Rules(rules), ttl, spawn);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"Cannot read --file '{path}': {error.GetType().Name}.");
        }
        catch (Exception error) when (error is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new UsageException($"--file '{path}' is not a valid role: each rule needs \"path\" and \"capabilities\" (strings).");
        }
    }

    private static RoleRule[] Rules(JsonElement rules) =>
        rules.EnumerateArray()
            .Select(r => new RoleRule(
                r.GetProperty("path").GetString()!,
                r.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()!).ToArray()))
            .ToArray();

    private static void Print(Output output, KeywardRole role)
    {
        if (output.IsJson)
        {
            Output.Json(role);
            return;
        }

        Output.Fields(
            ("Name", role.Name),
            ("Max TTL", Durations.Format(role.MaxTtl)),
            ("May spawn", role.MaySpawn.Count == 0 ? "-" : string.Join(", ", role.MaySpawn)),
            ("Created at", Output.Instant(role.CreatedAt)),
            ("Updated at", Output.Instant(role.UpdatedAt)));
        Output.Line();
        Output.Table(["PATH", "CAPABILITIES"], role.Rules.Select(r => new[] { r.Path, string.Join(',', r.Capabilities) }));
    }
}
