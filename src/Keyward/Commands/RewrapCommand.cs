using System.CommandLine;
using Keyward.Cli.Cli;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward operator rewrap</c>: re-encrypt a tenant's old secret versions under its newest key, and watch.</summary>
internal static class RewrapCommand
{
    public static Command Create(ConnectionOptions connection)
    {
        var tenant = new Option<string>("--tenant") { Description = "The tenant whose old secret versions to re-encrypt.", Required = true, HelpName = "ID" };
        var interval = new Option<string>("--interval") { Description = "How often to poll the job's progress.", DefaultValueFactory = _ => "1s", HelpName = "DURATION" };
        var command = new Command("rewrap", "Re-encrypt a tenant's old secret versions under its newest key (root token), printing progress until the job ends. Exit code 4 if any version failed.")
        {
            tenant, interval,
        };
        ClientAction.Set(command, connection, async run =>
        {
            var id = run.Get(tenant)!;
            var every = Parsing.Duration(run.Get(interval)!, "--interval");
            var job = await run.Client.StartRewrapAsync(id, run.CancellationToken);
            string? last = null;
            while (true)
            {
                var line = $"rewrapped {job.Done}/{job.Total} ({job.Failed} failed)";
                if (!run.Output.IsJson && line != last)
                {
                    Output.Line(line);
                    await Output.Out.FlushAsync(run.CancellationToken);
                    last = line;
                }

                if (job.IsFinished)
                {
                    break;
                }

                await Task.Delay(every, run.CancellationToken);
                job = await run.Client.GetRewrapJobAsync(id, job.JobId, run.CancellationToken);
            }

            if (run.Output.IsJson)
            {
                Output.Json(job);
            }
            else
            {
                Output.Fields(("Job", job.JobId), ("Key version", job.KeyVersion.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("State", job.State));
            }

            return job.Succeeded
                ? ExitCodes.Ok
                : throw new CommandFailedException(ExitCodes.Unavailable, $"Rewrap job {job.JobId} ended '{job.State}' with {job.Failed} of {job.Total} versions failed.");
        });
        return command;
    }
}
