using System.CommandLine;
using Keyward.Client;

namespace Keyward.Cli.Cli;

/// <summary>What a client verb's body gets.</summary>
internal sealed record Invocation(ParseResult Parse, KeywardClient Client, Output Output, ConnectionOptions Connection, CancellationToken CancellationToken)
{
    public T? Get<T>(Option<T> option) => Parse.GetValue(option);

    public T? Get<T>(Argument<T> argument) => Parse.GetValue(argument);
}

/// <summary>
/// Runs a client verb: builds the client from the shared options, and turns every failure into one stderr line
/// <c>Error: detail (code, HTTP status)</c> and a documented exit code (see <see cref="ExitCodes"/>).
/// </summary>
internal static class ClientAction
{
    public static void Set(Command command, ConnectionOptions connection, Func<Invocation, Task<int>> body) =>
        command.SetAction((parse, cancellationToken) => RunAsync(parse, connection, body, cancellationToken));

    private static async Task<int> RunAsync(ParseResult parse, ConnectionOptions connection, Func<Invocation, Task<int>> body, CancellationToken cancellationToken)
    {
        return await Guard.RunAsync(async () =>
        {
            using var client = connection.CreateClient(parse);
            return await body(new Invocation(parse, client, connection.CreateOutput(parse), connection, cancellationToken));
        });
    }
}

/// <summary>The one place failures become stderr lines and exit codes.</summary>
internal static class Guard
{
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (KeywardRequestFailedException failed)
        {
            var where = failed.Status == 0 ? failed.ErrorCode : $"{failed.ErrorCode}, HTTP {failed.Status}";
            await Output.Error.WriteLineAsync($"Error: {failed.Message} ({where})");
            return ExitCodeFor(failed);
        }
        catch (UsageException usage)
        {
            await Output.Error.WriteLineAsync("Error: " + usage.Message);
            return ExitCodes.Usage;
        }
        catch (CommandFailedException failed)
        {
            await Output.Error.WriteLineAsync("Error: " + failed.Message);
            return failed.ExitCode;
        }
        catch (ArgumentException misuse)
        {
            // The SDK refused an argument before sending anything (an invalid path, http:// to a remote host).
            var message = misuse.ParamName is null ? misuse.Message : misuse.Message.Replace($" (Parameter '{misuse.ParamName}')", "", StringComparison.Ordinal);
            await Output.Error.WriteLineAsync("Error: " + message);
            return ExitCodes.Usage;
        }
    }

    public static int ExitCodeFor(KeywardRequestFailedException failed) => ExitCodeFor(failed.Status);

    /// <summary>The exit code for an HTTP status (0: no answer).</summary>
    public static int ExitCodeFor(int status) => status switch
    {
        0 => ExitCodes.Unavailable,
        404 => ExitCodes.NotFound,
        >= 500 => ExitCodes.Unavailable,
        >= 400 => ExitCodes.Refused,
        _ => ExitCodes.Unavailable,
    };
}
