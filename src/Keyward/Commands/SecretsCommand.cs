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
        var command = new Command("secrets", "Read and write versioned secrets (tenant token): put, get, list, metadata, delete, undelete, destroy, rotate, promote, rollback.");
        connection.AddTo(command);
        command.Subcommands.Add(Put(connection));
        command.Subcommands.Add(Get(connection));
        command.Subcommands.Add(List(connection));
        command.Subcommands.Add(Metadata(connection));
        command.Subcommands.Add(Delete(connection));
        command.Subcommands.Add(VersionsAction(connection, "undelete", "Restore soft-deleted versions."));
        command.Subcommands.Add(VersionsAction(connection, "destroy", "Erase versions' ciphertext for good (cannot be undone)."));
        command.Subcommands.Add(Rotate(connection));
        command.Subcommands.Add(Promote(connection));
        command.Subcommands.Add(Rollback(connection));
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
            using var data = await ReadDataAsync(run, pairs, json, jsonFile, required: true)
                ?? throw new UsageException("Give the data one way: KEY=VALUE arguments, --json or --json-file.");
            var written = await run.Client.PutSecretAsync(run.Get(path)!, data.RootElement, run.Get(cas), run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(written);
            }
            else
            {
                Output.Fields(("Path", run.Get(path)), ("Version", Output.Number(written.Version)), ("Epoch", Output.Number(written.Epoch)), ("Created at", Output.Instant(written.CreatedAt)));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Get(ConnectionOptions connection)
    {
        var path = SecretPath();
        var version = new Option<long?>("--version") { Description = "Read this version instead of the current one.", HelpName = "N" };
        var stage = new Option<string?>("--stage") { Description = "Read the version holding this stage: current, previous (within the grace window) or pending.", HelpName = "STAGE" };
        stage.AcceptOnlyFromAmong("current", "previous", "pending");
        var field = new Option<string?>("--field") { Description = "Print only this field's value (strings bare, anything else as JSON), for scripts.", HelpName = "NAME" };
        var wrapTtl = WrapTtlOption.Create();
        var command = new Command("get", "Read a secret: its data fields (the current version unless --version or --stage).") { path, version, stage, field, wrapTtl };
        ClientAction.Set(command, connection, async run =>
        {
            if (run.Get(version) is not null && run.Get(stage) is not null)
            {
                throw new UsageException("Give --version or --stage, not both.");
            }

            if (WrapTtlOption.Get(run, wrapTtl) is { } ttl)
            {
                if (run.Get(field) is not null)
                {
                    throw new UsageException("--field prints a value; a wrapped read has none: unwrap it with 'keyward unwrap'.");
                }

                WrapTtlOption.Print(run, await run.Client.GetSecretWrappedAsync(run.Get(path)!, ttl, run.Get(version), run.Get(stage), run.CancellationToken));
                return ExitCodes.Ok;
            }

            var secret = run.Get(stage) is { } wanted
                ? await run.Client.GetSecretStageAsync(run.Get(path)!, wanted, run.CancellationToken)
                : await run.Client.GetSecretAsync(run.Get(path)!, run.Get(version), run.CancellationToken);
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

            Output.Fields(
                ("Path", secret.Path), ("Version", Output.Number(secret.Version)), ("Stage", secret.Stage ?? "-"), ("Epoch", Output.Number(secret.Epoch)),
                ("Created at", Output.Instant(secret.CreatedAt)));
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
        var period = new Option<string?>("--rotation-period") { Description = "Rotate and promote automatically this often (at least 1m), such as 30d.", HelpName = "DURATION" };
        var maxUses = new Option<long?>("--max-uses") { Description = "Rotate and promote after this many reads of the current version.", HelpName = "N" };
        var grace = new Option<string?>("--grace") { Description = "How long the previous version stays readable with --stage previous (default 1h).", HelpName = "DURATION" };
        var length = new Option<int?>("--generate-length") { Description = "Generate rotated values: this many random characters per field (16-4096).", HelpName = "N" };
        var alphabet = new Option<string?>("--generate-alphabet") { Description = "The characters to draw from (default A-Z a-z 0-9).", HelpName = "CHARS" };
        var fields = new Option<string[]>("--generate-field") { Description = "Generate only this field (repeat; default: every field of the current version).", HelpName = "NAME" };
        var command = new Command(
            "metadata",
            "Show a secret's versions, stages and metadata; with --max-versions, --custom or the rotation options, set them first (the rotation options replace the whole policy).")
        {
            path, maxVersions, custom, period, maxUses, grace, length, alphabet, fields,
        };
        ClientAction.Set(command, connection, async run =>
        {
            var secretPath = run.Get(path)!;
            var max = run.Get(maxVersions);
            var customPairs = run.Get(custom) is { Length: > 0 } given ? Parsing.Pairs(given, "--custom") : null;
            if (max is not null || customPairs is not null)
            {
                await run.Client.UpdateSecretMetadataAsync(secretPath, max, customPairs, run.CancellationToken);
            }

            var generatorFields = run.Get(fields) is { Length: > 0 } named ? named : null;
            if (run.Get(period) is not null || run.Get(maxUses) is not null || run.Get(grace) is not null || run.Get(length) is not null
                || run.Get(alphabet) is not null || generatorFields is not null)
            {
                if (run.Get(length) is null && (run.Get(alphabet) is not null || generatorFields is not null))
                {
                    throw new UsageException("--generate-alphabet and --generate-field need --generate-length.");
                }

                var policy = new RotationPolicy
                {
                    Period = run.Get(period) is { } p ? Parsing.Duration(p, "--rotation-period") : null,
                    MaxUses = run.Get(maxUses),
                    Grace = run.Get(grace) is { } g ? Parsing.Duration(g, "--grace") : null,
                    Generator = run.Get(length) is { } n ? new SecretGenerator(n) { Alphabet = run.Get(alphabet), Fields = generatorFields } : null,
                };
                await run.Client.SetRotationPolicyAsync(secretPath, policy, run.CancellationToken);
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
                ("Pending version", metadata.PendingVersion is { } pendingVersion ? Output.Number(pendingVersion) : "-"),
                ("Previous version", metadata.PreviousVersion is { } previousVersion ? Output.Number(previousVersion) : "-"),
                ("Epoch", Output.Number(metadata.Epoch)),
                ("Rotation", Describe(metadata.Rotation)),
                ("Max versions", Output.Number(metadata.MaxVersions)),
                ("Created at", Output.Instant(metadata.CreatedAt)),
                ("Updated at", Output.Instant(metadata.UpdatedAt)),
                ("Custom metadata", metadata.CustomMetadata.Count == 0 ? "-" : string.Join(", ", metadata.CustomMetadata.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"))));
            Output.Line();
            Output.Table(["VERSION", "CREATED", "STATE", "STAGE"], metadata.Versions.Select(v => new[] { Output.Number(v.Version), Output.Instant(v.CreatedAt), v.State, v.Stage ?? "-" }));
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

    private static Command Rotate(ConnectionOptions connection)
    {
        var path = SecretPath();
        var pairs = new Argument<string[]>("KEY=VALUE") { Description = "The new value's fields; or --json / --json-file; none: the secret's generator makes it.", Arity = ArgumentArity.ZeroOrMore };
        var json = new Option<string?>("--json") { Description = "The new value as a JSON object.", HelpName = "JSON" };
        var jsonFile = new Option<string?>("--json-file") { Description = "Read the new value from a JSON file ('-' for standard input).", HelpName = "FILE" };
        var now = new Option<bool>("--now") { Description = "Promote at once (reason anomaly: tenant admin only), for a credential believed exposed." };
        var command = new Command("rotate", "Stage a new pending version (promote it with 'secrets promote'); readers keep the current one until then.") { path, pairs, json, jsonFile, now };
        ClientAction.Set(command, connection, async run =>
        {
            var secretPath = run.Get(path)!;
            using var data = await ReadDataAsync(run, pairs, json, jsonFile, required: false);
            var result = data is not null
                ? await run.Client.RotateSecretAsync(secretPath, data.RootElement, run.Get(now), run.CancellationToken)
                : run.Get(now)
                    ? await run.Client.RotateSecretNowAsync(secretPath, null, run.CancellationToken)
                    : await run.Client.RotateSecretAsync(secretPath, (IReadOnlyDictionary<string, string>?)null, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(result);
            }
            else
            {
                Output.Fields(
                    ("Path", secretPath), ("Version", Output.Number(result.Version)), ("Stage", result.Stage),
                    ("Epoch", result.Epoch is { } epoch ? Output.Number(epoch) : "-"), ("Created at", Output.Instant(result.CreatedAt)));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Promote(ConnectionOptions connection)
    {
        var path = SecretPath();
        var version = new Option<long>("--version") { Description = "The pending version to make current.", HelpName = "N", Required = true };
        var command = new Command("promote", "Make the pending version current; the old current becomes previous (readable for the grace window).") { path, version };
        ClientAction.Set(command, connection, async run =>
        {
            Promoted(run.Output, run.Get(path)!, await run.Client.PromoteSecretAsync(run.Get(path)!, run.Get(version), run.CancellationToken));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Rollback(ConnectionOptions connection)
    {
        var path = SecretPath();
        var command = new Command("rollback", "Swap the current and previous versions.") { path };
        ClientAction.Set(command, connection, async run =>
        {
            Promoted(run.Output, run.Get(path)!, await run.Client.RollbackSecretAsync(run.Get(path)!, run.CancellationToken));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Promoted(Output output, string path, SecretPromotion promotion)
    {
        if (output.IsJson)
        {
            Output.Json(promotion);
            return;
        }

        Output.Fields(("Path", path), ("Current version", Output.Number(promotion.Version)), ("Epoch", Output.Number(promotion.Epoch)));
    }

    private static string Describe(SecretRotationState? rotation)
    {
        if (rotation is null)
        {
            return "-";
        }

        var parts = new List<string>();
        if (rotation.Period is { } period)
        {
            parts.Add("every " + Client.Durations.Format(period));
        }

        if (rotation.MaxUses is { } maxUses)
        {
            parts.Add($"after {Output.Number(maxUses)} uses ({Output.Number(rotation.Uses)} so far)");
        }

        parts.Add("grace " + Client.Durations.Format(rotation.Grace));
        if (rotation.Generator is { } generator)
        {
            parts.Add($"generator {generator.Kind}/{generator.Length}");
        }

        if (rotation.NextRotationAt is { } next)
        {
            parts.Add("next " + Output.Instant(next));
        }

        return string.Join(", ", parts);
    }

    /// <summary>The data given one way — KEY=VALUE arguments, --json or --json-file — or null when none was and none is required.</summary>
    private static async Task<JsonDocument?> ReadDataAsync(
        Invocation run, Argument<string[]> pairs, Option<string?> json, Option<string?> jsonFile, bool required)
    {
        var fields = run.Get(pairs) ?? [];
        var jsonText = run.Get(json);
        var file = run.Get(jsonFile);
        var sources = (fields.Length > 0 ? 1 : 0) + (jsonText is not null ? 1 : 0) + (file is not null ? 1 : 0);
        if (sources > 1 || (sources == 0 && required))
        {
            throw new UsageException("Give the data one way: KEY=VALUE arguments, --json or --json-file.");
        }

        if (sources == 0)
        {
            return null;
        }

        if (fields.Length > 0)
        {
            return JsonSerializer.SerializeToDocument(Parsing.Pairs(fields, "KEY=VALUE argument"));
        }

        var text = jsonText ?? (file == "-" ? await Console.In.ReadToEndAsync(run.CancellationToken) : await ReadFileAsync(file!, run.CancellationToken));
        return ParseData(text);
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
