using System.CommandLine;
using Keyward.Cli.Cli;

namespace Keyward.Cli.Commands;

/// <summary>
/// <c>keyward operator</c>: the seal lifecycle (init, unseal, seal, status), root-token recovery, tenant rewrap and
/// the offline audit verification and the SQLite → PostgreSQL migration.
/// </summary>
internal static class OperatorCommand
{
    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var command = new Command("operator", "Operate the server: initialize, unseal, seal, show status, recover a root token, rewrap a tenant, verify the audit chain offline, migrate a stopped SQLite store to PostgreSQL.");
        connection.AddTo(command);
        command.Subcommands.Add(Init(connection));
        command.Subcommands.Add(Unseal(connection));
        command.Subcommands.Add(Seal(connection));
        command.Subcommands.Add(Status(connection));
        command.Subcommands.Add(GenerateRoot(connection));
        command.Subcommands.Add(RootToken(connection));
        command.Subcommands.Add(RewrapCommand.Create(connection));
        command.Subcommands.Add(OfflineAuditVerifyCommand.Create(connection));
        command.Subcommands.Add(MigrateCommand.Create(connection));
        return command;
    }

    private static Command Init(ConnectionOptions connection)
    {
        var shares = new Option<int>("--shares") { Description = "How many key shares to split the root key into.", DefaultValueFactory = _ => 5 };
        var threshold = new Option<int>("--threshold") { Description = "How many key shares unseal the server.", DefaultValueFactory = _ => 3 };
        var command = new Command("init", "Initialize a new server: print its key shares and first root token (shown once; store them apart).") { shares, threshold };
        ClientAction.Set(command, connection, async run =>
        {
            var n = run.Get(shares);
            var t = run.Get(threshold);
            if (n < 1 || t < 1 || t > n)
            {
                throw new UsageException("Need 1 <= --threshold <= --shares.");
            }

            var result = await run.Client.InitializeAsync(n, t, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { keys = result.Keys, root_token = result.RootToken });
                return ExitCodes.Ok;
            }

            for (var i = 0; i < result.Keys.Count; i++)
            {
                Output.Line($"Unseal key {i + 1}: {result.Keys[i]}");
            }

            Output.Line($"Root token:   {result.RootToken}");
            Output.Line();
            Output.Line($"The server is initialized. Any {t} of these {n} key shares unseal it and can mint a root token: keep them in separate places.");
            Output.Line("They are shown once and never again.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Unseal(ConnectionOptions connection)
    {
        var key = new Argument<string?>("KEY") { Description = "One key share. Omit it to read it from standard input (not echoed), which keeps it out of the shell history.", Arity = ArgumentArity.ZeroOrOne };
        var reset = new Option<bool>("--reset") { Description = "Forget the key shares submitted so far instead of submitting one." };
        var command = new Command("unseal", "Submit one key share; the server unseals once it holds a threshold of them.") { key, reset };
        ClientAction.Set(command, connection, async run =>
        {
            var given = run.Get(key);
            Client.Models.SealStatus status;
            if (run.Get(reset))
            {
                if (given is not null)
                {
                    throw new UsageException("--reset takes no KEY.");
                }

                status = await run.Client.ResetUnsealAsync(run.CancellationToken);
            }
            else
            {
                var share = given ?? SecretInput.ReadLine("Unseal key (not echoed): ");
                if (string.IsNullOrWhiteSpace(share))
                {
                    throw new UsageException("No key share given.");
                }

                status = await run.Client.UnsealAsync(share, run.CancellationToken);
            }

            if (run.Output.IsJson)
            {
                Output.Json(status);
            }
            else
            {
                Output.Fields(("Sealed", status.Sealed ? "true" : "false"), ("Progress", $"{status.Progress}/{status.Threshold}"));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Seal(ConnectionOptions connection)
    {
        var command = new Command("seal", "Seal the server (root token): wipe every key from its memory. Every request but health and unseal then gets 503.");
        ClientAction.Set(command, connection, async run =>
        {
            await run.Client.SealAsync(run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { @sealed = true });
            }
            else
            {
                Output.Line("Sealed. Unseal with a threshold of key shares: keyward operator unseal.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Status(ConnectionOptions connection)
    {
        var command = new Command("status", "Show whether the server is initialized and sealed (no token needed). Exit code 4 while sealed or uninitialized.");
        ClientAction.Set(command, connection, async run =>
        {
            var health = await run.Client.GetHealthAsync(run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(health);
            }
            else
            {
                Output.Fields(
                    ("Address", run.Client.Address.ToString()),
                    ("Initialized", health.Initialized ? "true" : "false"),
                    ("Sealed", health.Sealed ? "true" : "false"),
                    ("Version", health.Version),
                    ("Storage", health.Storage));
            }

            return health.IsReady ? ExitCodes.Ok : ExitCodes.Unavailable;
        });
        return command;
    }

    private static Command GenerateRoot(ConnectionOptions connection)
    {
        var keys = new Option<string[]>("--key") { Description = "A key share (repeat for each). Prefer --key-file: arguments are visible to other local users.", HelpName = "KEY" };
        var keyFile = new Option<string?>("--key-file") { Description = "A file with one key share per line ('#' starts a comment).", HelpName = "FILE" };
        var command = new Command("generate-root", "Mint a new root token from a threshold of key shares; every other root token is revoked.") { keys, keyFile };
        ClientAction.Set(command, connection, async run =>
        {
            var shares = Parsing.Shares(run.Get(keys), run.Get(keyFile), "--key-file");
            var result = await run.Client.GenerateRootAsync(shares, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { root_token = result.RootToken });
            }
            else
            {
                Output.Line($"Root token: {result.RootToken}");
                Output.Line("Every other root token is revoked. Revoke this one too when done: keyward operator root-token revoke.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command RootToken(ConnectionOptions connection)
    {
        var revoke = new Command("revoke", "Revoke every root token (root token). A new one then needs a threshold of key shares: keyward operator generate-root.");
        ClientAction.Set(revoke, connection, async run =>
        {
            await run.Client.RevokeRootTokensAsync(run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { revoked = true });
            }
            else
            {
                Output.Line("Every root token is revoked.");
            }

            return ExitCodes.Ok;
        });
        return new Command("root-token", "Manage root tokens.") { revoke };
    }
}
