using System.CommandLine;
using Keyward.Cli.Cli;
using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Seal;
using Keyward.Storage.Sqlite;

namespace Keyward.Cli.Commands;

/// <summary>
/// <c>keyward operator audit verify</c>: verifies the audit chain of a stopped server straight from its data
/// directory, with the root key rebuilt from key shares. The one verb that works on Core and Storage directly:
/// it must not trust a running server to check the server's own log.
/// </summary>
internal static class OfflineAuditVerifyCommand
{
    public static Command Create(ConnectionOptions connection)
    {
        var data = new Option<string>("--data") { Description = "The stopped server's data directory (holds keyward.db).", Required = true, HelpName = "DIR" };
        var keyFile = new Option<string?>("--unseal-key-file") { Description = "A file with a threshold of key shares, one per line ('#' starts a comment).", HelpName = "FILE" };
        var keys = new Option<string[]>("--key") { Description = "A key share (repeat for each). Prefer --unseal-key-file: arguments are visible to other local users.", HelpName = "KEY" };
        var anchor = new Option<string?>("--anchor")
        {
            Description = "A file of checkpoints kept outside the store: the checkpoint lines of the server log (event 3001) or of a file audit sink "
                + "(one JSON object per line; other lines are skipped). The store must reach every anchored checkpoint, with the same hash; "
                + "an anchor line whose MAC does not verify is reported and not trusted.",
            HelpName = "FILE",
        };
        var verify = new Command("verify", "Verify the audit chain OFFLINE on a stopped server's data: every record's hash under the audit key, every link, checkpoint and the head's MAC, and the anchors given with --anchor. Exit code 5 if the chain is broken.")
        {
            data, keyFile, keys, anchor,
        };
        verify.SetAction((parse, cancellationToken) => Guard.RunAsync(async () =>
        {
            var json = connection.CreateOutput(parse).IsJson;
            var directory = parse.GetValue(data)!;
            var shares = Parsing.Shares(parse.GetValue(keys), parse.GetValue(keyFile), "--unseal-key-file");
            if (!File.Exists(Path.Combine(directory, SqliteStore.FileName)))
            {
                throw new UsageException($"No Keyward store in '{directory}' ({SqliteStore.FileName} not found).");
            }

            AuditAnchorFile? anchors = null;
            if (parse.GetValue(anchor) is { } anchorFile)
            {
                if (!File.Exists(anchorFile))
                {
                    throw new UsageException($"No anchor file '{anchorFile}'.");
                }

                using var reader = File.OpenText(anchorFile);
                anchors = AuditAnchors.Parse(reader);
            }

            AuditVerification result;
            await using (var store = SqliteStore.InDirectory(directory))
            {
                var schema = store.ReadSchemaVersion();
                if (schema != SqliteStore.LatestSchemaVersion)
                {
                    throw new CommandFailedException(
                        ExitCodes.Refused,
                        schema < SqliteStore.LatestSchemaVersion
                            ? $"The store in '{directory}' has schema version {schema}; this keyward verifies version {SqliteStore.LatestSchemaVersion}. "
                                + "Start the server on it once (that upgrades the store, and the first commit gives the audit head its MAC), stop it, "
                                + "and verify again — or verify with the keyward version that wrote it."
                            : $"The store in '{directory}' has schema version {schema}, newer than this keyward understands ({SqliteStore.LatestSchemaVersion}). Upgrade Keyward.");
                }

                SealConfig? config;
                await using (var session = await store.ReadAsync(cancellationToken))
                {
                    config = await session.Seal.GetAsync(cancellationToken);
                }

                if (config is null)
                {
                    throw new CommandFailedException(ExitCodes.NotFound, $"The store in '{directory}' was never initialized: there is no audit chain to verify.");
                }

                Crypto.Keys.RootKey root;
                try
                {
                    root = SealService.ReconstructFromText(config, shares);
                }
                catch (KeywardException refused)
                {
                    throw new CommandFailedException(ExitCodes.Refused, $"{refused.Message} ({refused.Code})");
                }

                using (root)
                {
                    result = await AuditVerifier.VerifyAsync(store, root, anchors, cancellationToken);
                }
            }

            if (json)
            {
                Output.Json(result);
            }
            else
            {
                AuditCommand.PrintVerification(
                    result.Records, result.Ok, result.FirstBadSeq, result.TruncatedAfter, result.Checkpoints, result.LastCheckpointSeq, result.Problem,
                    result.HeadMac, anchors is null ? null : (result.Anchors, result.LastAnchorSeq, result.BadAnchorLines ?? []));
            }

            return result.Ok ? ExitCodes.Ok : ExitCodes.VerificationFailed;
        }));
        return new Command("audit", "The audit chain of a stopped server's data.") { verify };
    }
}
