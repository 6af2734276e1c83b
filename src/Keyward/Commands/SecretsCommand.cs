using System.CommandLine;
using System.Text.Json;
using Keyward.Cli.Cli;
using Keyward.Client.Models;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward secrets</c>: versioned secrets (a tenant token whose rules allow the operation).</summary>
internal static class SecretsCommand
{
    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var command = new Command("secrets", "Read and write versioned secrets (tenant token): put, get, list, metadata, delete, undelete, destroy.");
        connection.AddTo(command);
        command.Subcommands.Add(Put(connection));
        command.Subcommands.Add(Get(connection));
        command.Subcommands.Add(List(connection));
        command.Subcommands.Add(Metadata(connection));
        command.Subcommands.Add(Delete(connection));
        command.Subcommands.Add(VersionsAction(connection, "undelete", "Restore soft-deleted versions."));
        command.Subcommands.Add(VersionsAction(connection, "destroy", "Erase versions' ciphertext for good (cannot be undone)."));
        return command;
    }

    private static Argument<string> SecretPath() =>
        new("PATH") { Description = "The secret's path: '/'-separated segments of A-Z a-z 0-9 . _ - (for example app/db)." };

    private static Command Put(ConnectionOptions connection)
    {
        var path = SecretPath();
        var pairs = new Argument<string[]>("KEY=VALUE") { Description = "Data fields (string values). Or give the whole data object with --json / --json-file.", Arity = ArgumentArity.ZeroOrMore };
        var cas = new Option<long?>("--cas") { Description = "Write only if the current version is N (0: only if the path has no version yet); else exit 1 with cas_mismatch.", HelpName = "N" };
        var json = new Option<string?>("--json") { Description = "The data as a JSON object, such as '{\"user\":\"app\",\"port\":5432}'.", HelpName = "JSON" };
        var jsonFile = new Option<string?>("--json-file") { Description = "Read the data object from a JSON file ('-' for standard input).", HelpName = "FILE" };
        var command = new Command("put", "Write a new version of a secret.") { path, pairs, cas, json, jsonFile };
        ClientAction.Set(command, connection, async run =>
        {
            var fields = run.Get(pairs) ?? [];
            var jsonText = run.Get(json);
            var file = run.Get(jsonFile);
            var sources = (fields.Length > 0 ? 1 : 0) + (jsonText is not null ? 1 : 0) + (file is not null ? 1 : 0);
            if (sources != 1)
            {
                throw new UsageException("Give the data one way: KEY=VALUE arguments, --json or --json-file.");
            }

            SecretWriteResult written;
            if (fields.Length > 0)
            {
                written = await run.Client.PutSecretAsync(run.Get(path)!, Parsing.Pairs(fields, "KEY=VALUE argument"), run.Get(cas), run.CancellationToken);
            }
            else
            {
                var text = jsonText ?? (file == "-" ? await Console.In.ReadToEndAsync(run.CancellationToken) : await ReadFileAsync(file!, run.CancellationToken));
                using var document = ParseData(text);
                written = await run.Client.PutSecretAsync(run.Get(path)!, document.RootElement, run.Get(cas), run.CancellationToken);
            }

            if (run.Output.IsJson)
            {
                Output.Json(written);
            }
            else
            {
                Output.Fields(("Path", run.Get(path)), ("Version", Output.Number(written.Version)), ("Created at", Output.Instant(written.CreatedAt)));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Get(ConnectionOptions connection)
    {
        var path = SecretPath();
        var version = new Option<long?>("--version") { Description = "Read this version instead of the current one.", HelpName = "N" };
        var field = new Option<string?>("--field") { Description = "Print only this field's value (strings bare, anything else as JSON), for scripts.", HelpName = "NAME" };
        var command = new Command("get", "Read a secret: its data fields (the current version unless --version).") { path, version, field };
        ClientAction.Set(command, connection, async run =>
        {
            var secret = await run.Client.GetSecretAsync(run.Get(path)!, run.Get(version), run.CancellationToken);
            if (run.Get(field) is { } name)
            {
                if (!secret.TryGetField(name, out var value))
                {
                    throw new CommandFailedException(ExitCodes.NotFound, $"Version {secret.Version} of {secret.Path} has no field '{name}'.");
                }

                Output.Line(Output.Value(value));
                return ExitCodes.Ok;
            }

            if (run.Output.IsJson)
            {
                Output.Json(secret);
                return ExitCodes.Ok;
            }

            Output.Fields(("Path", secret.Path), ("Version", Output.Number(secret.Version)), ("Created at", Output.Instant(secret.CreatedAt)));
            Output.Line();
            Output.Table(["KEY", "VALUE"], secret.Data.EnumerateObject().Select(p => new[] { p.Name, Output.Value(p.Value) }));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(ConnectionOptions connection)
    {
        var prefix = new Option<string?>("--prefix") { Description = "Only names under this path (whole segments).", HelpName = "PATH" };
        var command = new Command("list", "List the secret paths the token may list. Never values.") { prefix };
        ClientAction.Set(command, connection, async run =>
        {
            var keys = await run.Client.ListSecretsAsync(run.Get(prefix), run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { keys });
            }
            else
            {
                foreach (var key in keys)
                {
                    Output.Line(key);
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Metadata(ConnectionOptions connection)
    {
        var path = SecretPath();
        var maxVersions = new Option<int?>("--max-versions") { Description = "Set how many versions to keep (1-1000).", HelpName = "N" };
        var custom = new Option<string[]>("--custom") { Description = "Set plaintext custom metadata KEY=VALUE (repeat; replaces the whole map). Never put secrets here.", HelpName = "KEY=VALUE" };
        var command = new Command("metadata", "Show a secret's versions and metadata; with --max-versions or --custom, set them first.") { path, maxVersions, custom };
        ClientAction.Set(command, connection, async run =>
        {
            var secretPath = run.Get(path)!;
            var max = run.Get(maxVersions);
            var customPairs = run.Get(custom) is { Length: > 0 } given ? Parsing.Pairs(given, "--custom") : null;
            if (max is not null || customPairs is not null)
            {
                await run.Client.UpdateSecretMetadataAsync(secretPath, max, customPairs, run.CancellationToken);
            }

            var metadata = await run.Client.GetSecretMetadataAsync(secretPath, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(metadata);
                return ExitCodes.Ok;
            }

            Output.Fields(
                ("Path", metadata.Path),
                ("Current version", Output.Number(metadata.CurrentVersion)),
                ("Max versions", Output.Number(metadata.MaxVersions)),
                ("Created at", Output.Instant(metadata.CreatedAt)),
                ("Updated at", Output.Instant(metadata.UpdatedAt)),
                ("Custom metadata", metadata.CustomMetadata.Count == 0 ? "-" : string.Join(", ", metadata.CustomMetadata.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"))));
            Output.Line();
            Output.Table(["VERSION", "CREATED", "STATE"], metadata.Versions.Select(v => new[] { Output.Number(v.Version), Output.Instant(v.CreatedAt), v.State }));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Delete(ConnectionOptions connection)
    {
        var path = SecretPath();
        var versions = new Option<string[]>("--versions") { Description = "Soft-delete these versions (such as 1,2) instead of the latest.", HelpName = "N,N" };
        var command = new Command("delete", "Soft-delete the latest version of a secret, or the versions named (undelete restores them).") { path, versions };
        ClientAction.Set(command, connection, async run =>
        {
            var secretPath = run.Get(path)!;
            var list = Parsing.Versions(run.Get(versions), "--versions");
            await run.Client.DeleteSecretAsync(secretPath, list.Length == 0 ? null : list, run.CancellationToken);
            Done(run.Output, "deleted", secretPath, list);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command VersionsAction(ConnectionOptions connection, string verb, string description)
    {
        var path = SecretPath();
        var versions = new Option<string[]>("--versions") { Description = "The versions, such as 1,2.", HelpName = "N,N", Required = true };
        var command = new Command(verb, description) { path, versions };
        ClientAction.Set(command, connection, async run =>
        {
            var secretPath = run.Get(path)!;
            var list = Parsing.Versions(run.Get(versions), "--versions");
            if (list.Length == 0)
            {
                throw new UsageException("--versions names no version.");
            }

            if (verb == "undelete")
            {
                await run.Client.UndeleteSecretAsync(secretPath, list, run.CancellationToken);
                Done(run.Output, "undeleted", secretPath, list);
            }
            else
            {
                await run.Client.DestroySecretAsync(secretPath, list, run.CancellationToken);
                Done(run.Output, "destroyed", secretPath, list);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Done(Output output, string what, string path, long[] versions)
    {
        if (output.IsJson)
        {
            Output.Json(new { path, versions, state = what });
            return;
        }

        var which = versions.Length == 0 ? "The latest version" : (versions.Length == 1 ? "Version " : "Versions ") + string.Join(", ", versions);
        Output.Line($"{which} of {path} {(versions.Length > 1 ? "are" : "is")} {what}.");
    }

    private static async Task<string> ReadFileAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            return await File.ReadAllTextAsync(path, cancellationToken);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"Cannot read --json-file '{path}': {error.GetType().Name}.");
        }
    }

    /// <summary>The data object; a parse error names the position, never the text (it holds secret values).</summary>
    private static JsonDocument ParseData(string text)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException error)
        {
            throw new UsageException($"The data is not valid JSON (line {error.LineNumber + 1}, byte {error.BytePositionInLine + 1}).");
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new UsageException("The data must be a JSON object.");
        }

        return document;
    }
}
