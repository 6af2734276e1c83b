using System.CommandLine;
using System.CommandLine.Invocation;
using Keyward.Cli.Cli;
using Keyward.Cli.Commands;

var root = new RootCommand("Keyward: a per-tenant secrets broker for multi-tenant AI-agent platforms.");
root.Subcommands.Add(ServerCommand.Create());
root.Subcommands.Add(OperatorCommand.Create());
root.Subcommands.Add(TenantsCommand.Create());
root.Subcommands.Add(RolesCommand.Create());
root.Subcommands.Add(SecretsCommand.Create());
root.Subcommands.Add(AuditCommand.Create());
root.Subcommands.Add(AgentsCommand.Create());
root.Subcommands.Add(TokensCommand.Create());
root.Subcommands.Add(RunsCommand.Create());
root.Subcommands.Add(LeasesCommand.Create());
root.Subcommands.Add(EnginesCommand.Create());
root.Subcommands.Add(EnginesCommand.CreateCreds());
root.Subcommands.Add(GatewayCommand.CreateIntegrations());
root.Subcommands.Add(GatewayCommand.CreateGateway());
root.Subcommands.Add(EventsCommand.Create());
root.Subcommands.Add(UnwrapCommand.Create());
root.Subcommands.Add(AuthJwtCommand.CreateAuth());

var parse = root.Parse(args);
if (parse.Action is ParseErrorAction)
{
    // A bad command line is exit code 2 (System.CommandLine's own answer is 1, which means "refused" here).
    foreach (var error in parse.Errors)
    {
        // A token pasted as an argument ('agents exchange kwb_...') must not be echoed back in the error.
        await Console.Error.WriteLineAsync("Error: " + System.Text.RegularExpressions.Regex.Replace(error.Message, "kw[a-z]_[A-Za-z0-9_-]+", "(redacted)"));
    }

    await Console.Error.WriteLineAsync($"Run '{string.Join(' ', CommandPath(parse.CommandResult.Command))} --help' for usage.");
    return ExitCodes.Usage;
}

return await parse.InvokeAsync();

static IEnumerable<string> CommandPath(Command command)
{
    var names = new Stack<string>();
    for (Symbol? symbol = command; symbol is not null; symbol = symbol.Parents.FirstOrDefault())
    {
        names.Push(symbol is RootCommand ? "keyward" : symbol.Name);
    }

    return names;
}
