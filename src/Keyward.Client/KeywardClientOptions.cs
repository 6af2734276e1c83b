using System.Diagnostics;
using System.Text.Json.Serialization;

namespace Keyward.Client;

/// <summary>
/// How a <see cref="KeywardClient"/> reaches the server. <see cref="Address"/> must be <c>https://</c> unless the
/// host is a loopback address (<c>127.0.0.0/8</c>, <c>::1</c> or <c>localhost</c>): a bearer token is never sent in
/// clear text over a network.
/// </summary>
[DebuggerDisplay("{ToString(),nq}")]
public sealed class KeywardClientOptions
{
    /// <summary>The default per-request timeout.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The server's base address, such as <c>https://keyward.internal:8210</c>.</summary>
    public Uri? Address { get; init; }

    /// <summary>
    /// The bearer token (<c>kwr_</c>, <c>kwa_</c>, ...). Optional: health, init, unseal and generate-root need none.
    /// Sent only in the <c>Authorization</c> header, never in a URL, and never included in a message or
    /// <see cref="ToString"/>; it refuses serialization (<see cref="SecretSerialization"/>) and hides from debuggers.
    /// </summary>
    [JsonConverter(typeof(SecretFieldJsonConverter<string>))]
    [DebuggerBrowsable(DebuggerBrowsableState.Never)]
    public string? Token { get; init; }

    /// <summary>How long one request may take, end to end, before it fails with <c>timeout</c>.</summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary>
    /// A handler to send requests through (tests, proxies, custom TLS). The client does not dispose it.
    /// Ignored when <see cref="HttpClient"/> is given.
    /// </summary>
    public HttpMessageHandler? Handler { get; init; }

    /// <summary>
    /// An <see cref="System.Net.Http.HttpClient"/> to send requests through. The client does not dispose it and does
    /// not change its settings: the address, token and timeout still come from these options.
    /// </summary>
    public HttpClient? HttpClient { get; init; }

    /// <summary>
    /// Where the values this client hands out are registered for redaction as they arrive (secret data, passwords, wrapping,
    /// bootstrap, session and issued tokens, key shares; and this client's own token); null means
    /// <see cref="SecretScrubber.Shared"/>, which <see cref="Logging.ScrubbingLoggingExtensions.AddKeywardScrubbing"/> uses by default.
    /// </summary>
    public SecretScrubber? Scrubber { get; init; }

    /// <summary>Describes the options without the token.</summary>
    public override string ToString() =>
        $"KeywardClientOptions {{ Address = {Address}, Token = {(Token is null ? "(none)" : "(redacted)")}, Timeout = {Timeout} }}";
}
