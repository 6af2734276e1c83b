using System.CommandLine;
using Keyward.Cli.Cli;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward tokens</c>: revoke a token and its subtree by accessor (admin or orchestrator token).</summary>
internal static class TokensCommand
{
    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var command = new Command("tokens", "Manage tokens by accessor (admin token: the tenant; orchestrator token: its own subtree): revoke.");
        connection.AddTo(command);
        command.Subcommands.Add(Revoke(connection));
        return command;
    }

    private static Command Revoke(ConnectionOptions connection)
    {
        var accessor = new Argument<string>("ACCESSOR") { Description = "The token's accessor (as 'runs tree' or 'agents self' show it; never the token itself)." };
        var command = new Command("revoke", "Revoke a token, its whole subtree and every lease issued under it.") { accessor };
        ClientAction.Set(command, connection, async run =>
        {
            var which = run.Get(accessor)!;
            await run.Client.RevokeTokenAsync(which, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { accessor = which, revoked = true });
            }
            else
            {
                Output.Line($"Token {which} and its subtree are revoked.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
