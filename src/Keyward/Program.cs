using System.CommandLine;
using Keyward.Cli.Commands;

var root = new RootCommand("Keyward: a per-tenant secrets broker for multi-tenant AI-agent platforms.");
root.Subcommands.Add(ServerCommand.Create());
return await root.Parse(args).InvokeAsync();
