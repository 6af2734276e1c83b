using System.CommandLine;
using Keyward.Cli.Cli;
using Keyward.Client.Models;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward runs</c>: a run's token tree, and completing a run (orchestrator or admin token).</summary>
internal static class RunsCommand
{
    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var command = new Command("runs", "Agent runs (orchestrator token: its own subtree; admin token: the tenant): show the token tree, complete a run.");
        connection.AddTo(command);
        command.Subcommands.Add(Tree(connection));
        command.Subcommands.Add(Complete(connection));
        return command;
    }

    private static Argument<string> Run() => new("RUN") { Description = "The run's id." };

    private static Command Tree(ConnectionOptions connection)
    {
        var runId = Run();
        var command = new Command("tree", "Show the run's token tree, each child indented under its parent (accessors only, never tokens).") { runId };
        ClientAction.Set(command, connection, async run =>
        {
            var tree = await run.Client.GetRunTokensAsync(run.Get(runId)!, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(tree);
            }
            else if (tree.Tokens.Count == 0)
            {
                Output.Line($"Run {tree.RunId} has no tokens this token may see.");
            }
            else
            {
                foreach (var line in TreeLines(tree.Tokens))
                {
                    Output.Line(line);
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Complete(ConnectionOptions connection)
    {
        var runId = Run();
        var command = new Command("complete", "Complete a run: revoke every token and lease of it.") { runId };
        ClientAction.Set(command, connection, async run =>
        {
            var done = await run.Client.CompleteRunAsync(run.Get(runId)!, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(done);
            }
            else
            {
                Output.Fields(("Run", run.Get(runId)), ("Revoked tokens", Output.Number(done.RevokedTokens)), ("Revoked leases", Output.Number(done.RevokedLeases)));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// One line per token, indented two spaces per level under its parent, parents before children. A token whose
    /// parent is not in the list (the orchestrator, or a subtree's top) starts at the left margin.
    /// </summary>
    internal static IEnumerable<string> TreeLines(IReadOnlyList<RunToken> tokens)
    {
        var known = tokens.Select(t => t.Accessor).ToHashSet(StringComparer.Ordinal);
        var children = tokens
            .Where(t => t.ParentAccessor is not null && known.Contains(t.ParentAccessor))
            .GroupBy(t => t.ParentAccessor!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var visited = new HashSet<string>(StringComparer.Ordinal);
        var lines = new List<string>();
        foreach (var top in tokens.Where(t => t.ParentAccessor is null || !known.Contains(t.ParentAccessor)))
        {
            Walk(top, 0);
        }

        // Anything left (a cycle the server should never send) is still shown, not silently dropped.
        foreach (var rest in tokens.Where(t => !visited.Contains(t.Accessor)))
        {
            Walk(rest, 0);
        }

        return lines;

        void Walk(RunToken token, int depth)
        {
            if (!visited.Add(token.Accessor))
            {
                return;
            }

            lines.Add(new string(' ', depth * 2) + Describe(token));
            if (children.TryGetValue(token.Accessor, out var kids))
            {
                foreach (var kid in kids)
                {
                    Walk(kid, depth + 1);
                }
            }
        }
    }

    private static string Describe(RunToken token)
    {
        var text = token.Kind + (token.AgentId is null ? "" : " " + token.AgentId);
        if (token.Role is not null)
        {
            text += $" role={token.Role}";
        }

        text += $" accessor={token.Accessor} expires={Output.Instant(token.ExpiresAt)}";
        return token.RevokedAt is { } revoked ? text + $" REVOKED {Output.Instant(revoked)}" : text;
    }
}
