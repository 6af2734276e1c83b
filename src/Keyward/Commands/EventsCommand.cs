using System.CommandLine;
using System.Globalization;
using Keyward.Cli.Cli;
using Keyward.Client.Models;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward events tail</c>: the tenant's server-sent events, one line each (any tenant token).</summary>
internal static class EventsCommand
{
    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var command = new Command("events", "Watch the tenant's events (any tenant token; agents see their own reach): tail.");
        connection.AddTo(command);
        command.Subcommands.Add(Tail(connection));
        return command;
    }

    private static Command Tail(ConnectionOptions connection)
    {
        var prefix = new Option<string?>("--prefix") { Description = "Only events on paths under this prefix (whole segments).", HelpName = "PREFIX" };
        var lastEventId = new Option<long?>("--last-event-id")
        {
            Description = "Resume after this event id (0: everything still kept). Without it the stream starts at the newest event.",
            HelpName = "ID",
        };
        var command = new Command(
            "tail",
            "Print events as they happen, one line each (id, type, JSON data; never a value), until the server closes the stream (token revoked or expired, tenant locked down) or Ctrl-C. A 'reset' line means events were missed for good.")
        {
            prefix, lastEventId,
        };
        ClientAction.Set(command, connection, async run =>
        {
            if (run.Get(lastEventId) is < 0)
            {
                throw new UsageException("--last-event-id is an event id, 0 or more.");
            }

            try
            {
                await foreach (var e in run.Client.StreamEventsAsync(run.Get(prefix), run.Get(lastEventId), run.CancellationToken))
                {
                    if (run.Output.IsJson)
                    {
                        Output.JsonLine(new { id = e.Id, type = e.Type, data = e.Data });
                    }
                    else
                    {
                        Output.Line(Format(e));
                    }

                    await Output.Out.FlushAsync(run.CancellationToken);
                }
            }
            catch (OperationCanceledException) when (run.CancellationToken.IsCancellationRequested)
            {
                return ExitCodes.Ok;
            }

            await Output.Error.WriteLineAsync("The server closed the event stream.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string Format(KeywardEvent e) =>
        e.IsReset
            ? "-  reset  (events were missed for good: drop every cached value)"
            : string.Create(CultureInfo.InvariantCulture, $"{e.Id}  {e.Type}  {e.Data.GetRawText()}");
}
