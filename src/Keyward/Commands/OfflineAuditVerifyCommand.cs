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
        var verify = new Command("verify", "Verify the audit chain OFFLINE on a stopped server's data: every record's hash under the audit key, every link and checkpoint. Exit code 5 if the chain is broken.")
        {
            data, keyFile, keys,
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

            AuditVerification result;
            await using (var store = SqliteStore.InDirectory(directory))
            {
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
                    result = await AuditVerifier.VerifyAsync(store, root, cancellationToken);
                }
            }

            if (json)
            {
                Output.Json(result);
            }
            else
            {
                AuditCommand.PrintVerification(result.Records, result.Ok, result.FirstBadSeq, result.TruncatedAfter, result.Checkpoints, result.LastCheckpointSeq, result.Problem);
            }

            return result.Ok ? ExitCodes.Ok : ExitCodes.VerificationFailed;
        }));
        return new Command("audit", "The audit chain of a stopped server's data.") { verify };
    }
}
