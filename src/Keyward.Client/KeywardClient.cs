using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Keyward.Client.Internal;

namespace Keyward.Client;

/// <summary>
/// The Keyward SDK: one method per API route, grouped by feature (system, tenants, roles, secrets, audit).
/// Thread-safe; create one per address and token and reuse it. A failed request throws
/// <see cref="KeywardRequestFailedException"/>; misuse (an invalid path, a missing argument) throws an
/// <see cref="ArgumentException"/> before anything is sent. The token is sent only as
/// <c>Authorization: Bearer</c>, never in a URL, and never appears in a message.
/// </summary>
public partial class KeywardClient : IDisposable
{
    private static readonly MediaTypeWithQualityHeaderValue AcceptJson = new("application/json");

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly Uri _address;
    [DebuggerBrowsable(DebuggerBrowsableState.Never)]
    private readonly string? _token;
    private readonly TimeSpan _timeout;
    private readonly SecretScrubber _scrubber;

    /// <summary>For mocking only.</summary>
    protected KeywardClient()
    {
        _http = null!;
        _address = null!;
        _scrubber = SecretScrubber.Shared;
    }

    /// <summary>A client for <paramref name="address"/> sending <paramref name="token"/> (none if null).</summary>
    public KeywardClient(Uri address, string? token = null)
        : this(new KeywardClientOptions { Address = address, Token = token })
    {
    }

    /// <summary>A client configured by <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException">
    /// The address is missing, not absolute, not http(s), carries credentials, a query or a fragment, or is
    /// <c>http://</c> to a host that is not loopback; or the token is blank or has whitespace or control characters.
    /// </exception>
    public KeywardClient(KeywardClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _address = ValidateAddress(options.Address);
        _token = ValidateToken(options.Token);
        _scrubber = options.Scrubber ?? SecretScrubber.Shared;
        _scrubber.RegisterIfAny(_token);
        if (options.Timeout <= TimeSpan.Zero && options.Timeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Timeout must be positive (or infinite).");
        }

        _timeout = options.Timeout;
        if (options.HttpClient is not null)
        {
            _http = options.HttpClient;
        }
        else if (options.Handler is not null)
        {
            _http = new HttpClient(options.Handler, disposeHandler: false) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
            _ownsHttp = true;
        }
        else
        {
            // No redirects: a redirect could carry the bearer token to another origin.
            var handler = new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(10) };
            _http = new HttpClient(handler, disposeHandler: true) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
            _ownsHttp = true;
        }
    }

    /// <summary>The server's base address.</summary>
    public virtual Uri Address => _address;

    /// <summary>Whether this client sends a token.</summary>
    public virtual bool HasToken => _token is not null;

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing && _ownsHttp)
        {
            _http.Dispose();
        }
    }

    private static Uri ValidateAddress(Uri? address)
    {
        if (address is null)
        {
            throw new ArgumentException("An address is required, such as https://keyward.example:8210.", nameof(address));
        }

        if (!address.IsAbsoluteUri || (address.Scheme != Uri.UriSchemeHttps && address.Scheme != Uri.UriSchemeHttp))
        {
            throw new ArgumentException("The address must be an absolute http:// or https:// URI.", nameof(address));
        }

        if (!string.IsNullOrEmpty(address.UserInfo) || !string.IsNullOrEmpty(address.Query) || !string.IsNullOrEmpty(address.Fragment))
        {
            throw new ArgumentException("The address may not carry credentials, a query or a fragment: the token goes in KeywardClientOptions.Token.", nameof(address));
        }

        if (address.Scheme == Uri.UriSchemeHttp && !address.IsLoopback)
        {
            throw new ArgumentException(
                $"Refusing http:// to '{address.Host}': the token would cross the network in clear text. Use https://, or http:// only to a loopback address.",
                nameof(address));
        }

        var text = address.GetLeftPart(UriPartial.Path);
        return new Uri(text.EndsWith('/') ? text : text + "/", UriKind.Absolute);
    }

    private static string? ValidateToken(string? token)
    {
        if (token is null)
        {
            return null;
        }

        if (token.Length == 0 || token.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw new ArgumentException("The token is blank or contains whitespace or control characters.", nameof(token));
        }

        return token;
    }

    /// <summary>Sends a request and returns a successful response; any other answer becomes the exception.</summary>
    private Task<HttpResponseMessage> SendAsync(
        HttpMethod method, string relative, object? body, bool authenticate, HttpStatusCode? alsoAccept, CancellationToken cancellationToken) =>
        SendAsync(method, relative, body, authenticate, alsoAccept, configure: null, cancellationToken);

    /// <summary>As above; <paramref name="configure"/> adds headers (response wrapping) or another bearer token (unwrap).</summary>
    private async Task<HttpResponseMessage> SendAsync(
        HttpMethod method, string relative, object? body, bool authenticate, HttpStatusCode? alsoAccept, Action<HttpRequestMessage>? configure,
        CancellationToken cancellationToken)
    {
        byte[]? payload = body is null ? null : JsonSerializer.SerializeToUtf8Bytes(body, body.GetType(), KeywardJson.Options);
        try
        {
            using var request = new HttpRequestMessage(method, new Uri(_address, relative));
            request.Headers.Accept.Add(AcceptJson);
            if (authenticate && _token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
            }

            configure?.Invoke(request);

            if (payload is not null)
            {
                request.Content = new ByteArrayContent(payload);
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            }

            var response = await TransmitAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode || response.StatusCode == alsoAccept)
            {
                return response;
            }

            using (response)
            {
                throw await FailureAsync(response, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            if (payload is not null)
            {
                // The body may hold secret values.
                CryptographicOperations.ZeroMemory(payload);
            }
        }
    }

    /// <summary>
    /// Sends within the client's timeout (for a streamed response: until the headers arrive) and turns transport
    /// failures into <see cref="KeywardRequestFailedException"/>s without tokens in their messages.
    /// </summary>
    private async Task<HttpResponseMessage> TransmitAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (_timeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            timeout.CancelAfter(_timeout);
        }

        try
        {
            return await _http.SendAsync(request, completion, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException canceled) when (!cancellationToken.IsCancellationRequested)
        {
            throw new KeywardRequestFailedException(
                0, KeywardRequestFailedException.TimeoutCode, $"The request to {Origin} did not complete within {_timeout}.", canceled);
        }
        catch (HttpRequestException failed)
        {
            throw new KeywardRequestFailedException(
                0, KeywardRequestFailedException.ConnectionFailedCode, $"Could not reach the Keyward server at {Origin}: {Redact(failed.Message)}", failed);
        }
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string relative, object? body, bool authenticate, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(method, relative, body, authenticate, alsoAccept: null, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<T>(response, cancellationToken).ConfigureAwait(false);
    }

    private async Task SendNoContentAsync(HttpMethod method, string relative, object? body, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(method, relative, body, authenticate: true, alsoAccept: null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads an answer; the values it carries (<see cref="IValueCarrier"/>) are registered with the scrubber first.</summary>
    private async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var result = await JsonSerializer.DeserializeAsync<T>(stream, KeywardJson.Options, cancellationToken).ConfigureAwait(false)
                    ?? throw InvalidResponse(response, null);
                (result as IValueCarrier)?.RegisterValues(_scrubber);
                return result;
            }
        }
        catch (JsonException malformed)
        {
            throw InvalidResponse(response, malformed);
        }
    }

    private static KeywardRequestFailedException InvalidResponse(HttpResponseMessage response, Exception? inner) =>
        new((int)response.StatusCode, "invalid_response", "The server's answer could not be read as the expected JSON.", inner)
        {
            RequestId = RequestIdOf(response),
        };

    /// <summary>Turns a problem document (or any other error answer) into the exception.</summary>
    private async Task<KeywardRequestFailedException> FailureAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var code = "http_" + status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var detail = $"The server answered HTTP {status} ({response.ReasonPhrase ?? response.StatusCode.ToString()}).";
        try
        {
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String && !string.IsNullOrEmpty(c.GetString()))
                {
                    code = c.GetString()!;
                }

                if (root.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String && !string.IsNullOrEmpty(d.GetString()))
                {
                    detail = d.GetString()!;
                }
            }
        }
        catch (JsonException)
        {
            // Not a problem document (a proxy, or Kestrel before routing): keep the status line.
        }

        return new KeywardRequestFailedException(status, code, Redact(detail)) { RequestId = RequestIdOf(response) };
    }

    private static string? RequestIdOf(HttpResponseMessage response) =>
        response.Headers.TryGetValues("X-Request-Id", out var values) ? values.FirstOrDefault() : null;

    private string Origin => _address.GetLeftPart(UriPartial.Authority);

    /// <summary>Belt and braces: no message this SDK builds carries this client's token or anything shaped like one.</summary>
    private string Redact(string message)
    {
        if (_token is not null)
        {
            message = message.Replace(_token, "(redacted)", StringComparison.Ordinal);
        }

        return TokenShape().Replace(message, "(redacted)");
    }

    [GeneratedRegex("kw[a-z]_[A-Za-z0-9_-]{16,}")]
    private static partial Regex TokenShape();

    private static string Query(params (string Name, string? Value)[] parameters)
    {
        var parts = parameters
            .Where(p => p.Value is not null)
            .Select(p => p.Name + "=" + Uri.EscapeDataString(p.Value!))
            .ToArray();
        return parts.Length == 0 ? "" : "?" + string.Join('&', parts);
    }

    private static string? Number(long? value) => value?.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
