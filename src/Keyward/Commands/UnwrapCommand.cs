using System.CommandLine;
using Keyward.Cli.Cli;
using Keyward.Client;
using Keyward.Client.Models;

namespace Keyward.Cli.Commands;

/// <summary>
/// Response wrapping on the command line: <c>--wrap-ttl</c> on <c>secrets get</c> and <c>creds postgres</c> prints a
/// wrapping token instead of the value; <c>keyward unwrap</c> turns it into the original body, once.
/// </summary>
internal static class UnwrapCommand
{
    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var token = new Argument<string?>("TOKEN")
        {
            Description = "The kww_ wrapping token. Prefer standard input: command-line arguments are visible to other local users.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var command = new Command(
            "unwrap",
            "Print the original JSON body of a wrapped secret read or credential, once. The wrapping token is the only credential " +
            "(--token and $KEYWARD_TOKEN are not sent); it comes from the TOKEN argument or standard input.") { token };
        connection.AddTo(command);
        ClientAction.Set(command, connection, async run =>
        {
            var wrapping = run.Get(token) ?? SecretInput.ReadLine("Wrapping token: ")
                ?? throw new UsageException("Give the wrapping token on standard input (or as the TOKEN argument).");
            if (!wrapping.Trim().StartsWith("kww_", StringComparison.Ordinal))
            {
                throw new UsageException("That is not a wrapping token (they start with kww_).");
            }

            Output.Json(await run.Client.UnwrapAsync(wrapping, run.CancellationToken));
            return ExitCodes.Ok;
        });
        return command;
    }
}

/// <summary>The <c>--wrap-ttl</c> option of the wrappable verbs, and how they print a <see cref="WrapInfo"/>.</summary>
internal static class WrapTtlOption
{
    public static Option<string?> Create() => new("--wrap-ttl")
    {
        Description = "Answer with a single-use wrapping token valid this long (such as 60s, at most 10m) instead of the value; 'keyward unwrap' opens it.",
        HelpName = "DURATION",
    };

    public static TimeSpan? Get(Invocation run, Option<string?> option) =>
        run.Get(option) is { } text ? Parsing.Duration(text, "--wrap-ttl") : null;

    public static void Print(Invocation run, WrapInfo info)
    {
        if (run.Output.IsJson)
        {
            Output.Json(new
            {
                wrap_info = new
                {
                    token = info.Token,
                    accessor = info.Accessor,
                    ttl = (long)info.Ttl.TotalSeconds,
                    created_at = info.CreatedAt,
                    creation_path = info.CreationPath,
                },
            });
            return;
        }

        Output.Fields(
            ("Wrapping token", info.Token), ("Accessor", info.Accessor), ("TTL", Durations.Format(info.Ttl)),
            ("Created at", Output.Instant(info.CreatedAt)), ("Creation path", info.CreationPath));
    }
}
