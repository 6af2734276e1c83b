using System.CommandLine;
using Keyward.Cli.Cli;
using Keyward.Client.Models;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward audit</c>: read the audit trail and verify the chain on a running server.</summary>
internal static class AuditCommand
{
    /// <summary>The largest page the server serves.</summary>
    private const int PageSize = 1000;

    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var command = new Command("audit", "Read the audit trail (tenant admin token; root with --tenant or for all tenants) and verify the chain (root token).");
        connection.AddTo(command);
        command.Subcommands.Add(Tail(connection));
        command.Subcommands.Add(Verify(connection));
        return command;
    }

    private static Command Tail(ConnectionOptions connection)
    {
        var after = new Option<long?>("--after") { Description = "Print records after this seq, in ascending order (default: the newest --limit records).", HelpName = "SEQ" };
        var limit = new Option<int>("--limit") { Description = "At most this many records.", DefaultValueFactory = _ => 20, HelpName = "N" };
        var follow = new Option<bool>("--follow") { Description = "Keep printing new records as they arrive, until interrupted (JSON format: one record per line)." };
        var tenant = new Option<string?>("--tenant") { Description = "Read this tenant's records with the root token (GET /v1/sys/audit); a root token without --tenant reads every tenant's.", HelpName = "ID" };
        var agent = new Option<string?>("--agent-id") { Description = "Only this agent's records.", HelpName = "ID" };
        var path = new Option<string?>("--path") { Description = "Only records about this secret path.", HelpName = "PATH" };
        var interval = new Option<string>("--interval") { Description = "With --follow: how often to poll.", DefaultValueFactory = _ => "1s", HelpName = "DURATION" };
        var command = new Command("tail", "Print audit records: the newest ones, or those after --after; --follow keeps going.")
        {
            after, limit, follow, tenant, agent, path, interval,
        };
        ClientAction.Set(command, connection, async run =>
        {
            var max = run.Get(limit);
            if (max < 1)
            {
                throw new UsageException("--limit must be at least 1.");
            }

            var every = Parsing.Duration(run.Get(interval)!, "--interval");
            var tenantId = run.Get(tenant);
            var system = tenantId is not null || (connection.TokenValue(run.Parse)?.StartsWith("kwr_", StringComparison.Ordinal) ?? false);
            var filter = new AuditQuery { AgentId = run.Get(agent), Path = run.Get(path) };
            Task<AuditPage> PageAsync(long? from, int size) =>
                system
                    ? run.Client.GetSystemAuditAsync(tenantId, filter with { After = from, Limit = size }, run.CancellationToken)
                    : run.Client.GetAuditAsync(filter with { After = from, Limit = size }, run.CancellationToken);

            List<AuditRecord> records;
            if (run.Get(after) is { } start)
            {
                records = [.. (await PageAsync(start, Math.Min(max, PageSize))).Records];
                while (records.Count < max && records.Count > 0)
                {
                    var page = await PageAsync(records[^1].Seq, Math.Min(max - records.Count, PageSize));
                    if (page.Records.Count == 0)
                    {
                        break;
                    }

                    records.AddRange(page.Records);
                }
            }
            else
            {
                // The API pages forward; the newest records are the last ones of the walk.
                var newest = new Queue<AuditRecord>();
                long? cursor = null;
                while (true)
                {
                    var page = await PageAsync(cursor, PageSize);
                    foreach (var record in page.Records)
                    {
                        newest.Enqueue(record);
                        if (newest.Count > max)
                        {
                            newest.Dequeue();
                        }
                    }

                    if (page.Next is null || page.Records.Count == 0)
                    {
                        break;
                    }

                    cursor = page.Next;
                }

                records = [.. newest];
            }

            var followMode = run.Get(follow);
            if (run.Output.IsJson && !followMode)
            {
                Output.Json(new { records, next = records.Count == 0 ? run.Get(after) : records[^1].Seq });
                return ExitCodes.Ok;
            }

            var header = true;
            Print(run.Output, records, ref header);
            if (!followMode)
            {
                return ExitCodes.Ok;
            }

            var last = records.Count == 0 ? run.Get(after) : records[^1].Seq;
            try
            {
                while (true)
                {
                    await Output.Out.FlushAsync(run.CancellationToken);
                    await Task.Delay(every, run.CancellationToken);
                    while (true)
                    {
                        var page = await PageAsync(last, PageSize);
                        Print(run.Output, page.Records, ref header);
                        if (page.Records.Count > 0)
                        {
                            last = page.Records[^1].Seq;
                        }

                        if (page.Next is null || page.Records.Count == 0)
                        {
                            break;
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (run.CancellationToken.IsCancellationRequested)
            {
                return ExitCodes.Ok;
            }
        });
        return command;
    }

    private static Command Verify(ConnectionOptions connection)
    {
        var command = new Command("verify", "Verify the whole audit chain on the running server (root token). Exit code 5 if it is broken. For a stopped server: keyward operator audit verify.");
        ClientAction.Set(command, connection, async run =>
        {
            var result = await run.Client.VerifyAuditAsync(run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(result);
            }
            else
            {
                PrintVerification(
                    result.Records, result.Ok, result.FirstBadSeq, result.TruncatedAfter, result.Checkpoints, result.LastCheckpointSeq, result.Problem,
                    result.HeadMac);
            }

            return result.Ok ? ExitCodes.Ok : ExitCodes.VerificationFailed;
        });
        return command;
    }

    /// <summary>A verification as fields; the anchor lines only when anchors were given (offline, <c>--anchor</c>).</summary>
    internal static void PrintVerification(
        long records, bool ok, long? firstBadSeq, long? truncatedAfter, int checkpoints, long? lastCheckpointSeq, string? problem,
        string? headMac, (int Count, long? Last, IReadOnlyList<int> BadLines)? anchors = null)
    {
        List<(string Key, string? Value)> fields =
        [
            ("Result", ok ? "ok: the audit chain verifies" : "FAILED: the audit chain is broken"),
            ("Records", Output.Number(records)),
            ("First bad seq", Output.Number(firstBadSeq)),
            ("Truncated after", Output.Number(truncatedAfter)),
            ("Checkpoints", Output.Number(checkpoints)),
            ("Last checkpoint", Output.Number(lastCheckpointSeq)),
            ("Head MAC", headMac ?? "-"),
        ];
        if (anchors is { } a)
        {
            fields.Add(("Anchors", Output.Number(a.Count)));
            fields.Add(("Last anchor", Output.Number(a.Last)));
            fields.Add(("Bad anchor lines", a.BadLines.Count == 0 ? "-" : string.Join(", ", a.BadLines)));
        }

        fields.Add(("Problem", problem));
        Output.Fields([.. fields]);
    }

    private static void Print(Output output, IReadOnlyList<AuditRecord> records, ref bool header)
    {
        if (output.IsJson)
        {
            foreach (var record in records)
            {
                Output.JsonLine(record);
            }

            return;
        }

        if (records.Count == 0 && !header)
        {
            return;
        }

        var rows = records.Select(r => new[]
        {
            Output.Number(r.Seq), Output.Instant(r.Time), r.Tenant, Actor(r.Actor), r.Operation, r.Path,
            r.Version is null ? null : Output.Number(r.Version), $"{r.Outcome} {r.Status}", r.Code, r.Anomaly,
        });
        if (header)
        {
            Output.Table(["SEQ", "TIME", "TENANT", "ACTOR", "OPERATION", "PATH", "VERSION", "OUTCOME", "CODE", "ANOMALY"], rows);
            header = false;
        }
        else
        {
            // Later batches keep their own widths; good enough for a stream.
            foreach (var row in rows)
            {
                Output.Line(string.Join("  ", row.Select(c => c ?? "-")));
            }
        }
    }

    private static string Actor(AuditActor actor) =>
        actor.AgentId is null ? actor.Kind : $"{actor.Kind}:{actor.AgentId}";
}
