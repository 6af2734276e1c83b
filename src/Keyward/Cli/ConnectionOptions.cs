using System.CommandLine;
using Keyward.Client;

namespace Keyward.Cli.Cli;

/// <summary>
/// The options every client verb shares: <c>--addr</c>, <c>--token</c> and <c>--format</c>. They are recursive, so
/// they are accepted anywhere under the verb group that adds them.
/// </summary>
internal sealed class ConnectionOptions
{
    public const string DefaultAddress = "http://127.0.0.1:8210";
    public const string AddressVariable = "KEYWARD_ADDR";
    public const string TokenVariable = "KEYWARD_TOKEN";

    public Option<string> Address { get; } = new("--addr")
    {
        Description = $"Server address. Default: ${AddressVariable}, else {DefaultAddress}. https:// is required unless the host is loopback.",
        HelpName = "URL",
        Recursive = true,
    };

    // No DefaultValueFactory: help would print its value, and the token must never be printed.
    public Option<string?> Token { get; } = new("--token")
    {
        Description = $"Bearer token. Default: ${TokenVariable}. Prefer the environment variable: command-line arguments are visible to other local users.",
        HelpName = "TOKEN",
        Recursive = true,
    };

    public Option<string> Format { get; } = new Option<string>("--format")
    {
        Description = "Output: 'human' (aligned fields and tables) or 'json' (one JSON document, for scripts).",
        DefaultValueFactory = _ => "human",
        Recursive = true,
    }.AcceptOnlyFromAmong("human", "json");

    public void AddTo(Command command)
    {
        command.Options.Add(Address);
        command.Options.Add(Token);
        command.Options.Add(Format);
    }

    public Output CreateOutput(ParseResult parse) => new(string.Equals(parse.GetValue(Format), "json", StringComparison.Ordinal));

    public string? TokenValue(ParseResult parse)
    {
        var token = parse.GetValue(Token);
        if (string.IsNullOrEmpty(token))
        {
            token = Environment.GetEnvironmentVariable(TokenVariable);
        }

        return string.IsNullOrWhiteSpace(token) ? null : token.Trim();
    }

    public KeywardClient CreateClient(ParseResult parse)
    {
        var text = parse.GetValue(Address);
        if (string.IsNullOrWhiteSpace(text))
        {
            text = Environment.GetEnvironmentVariable(AddressVariable);
        }

        if (string.IsNullOrWhiteSpace(text))
        {
            text = DefaultAddress;
        }

        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var address))
        {
            throw new UsageException("--addr must be an absolute URL such as https://keyward.example:8210.");
        }

        return new KeywardClient(new KeywardClientOptions { Address = address, Token = TokenValue(parse) });
    }
}
