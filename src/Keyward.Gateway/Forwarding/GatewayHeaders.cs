using Microsoft.AspNetCore.Http;

namespace Keyward.Gateway.Forwarding;

/// <summary>
/// What crosses the gateway in headers and query strings. Request: hop-by-hop headers (Connection, Keep-Alive,
/// Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade…) and every header named in <c>Connection</c> are dropped,
/// and so are <c>Host</c>, <c>Authorization</c>, <c>Proxy-Authorization</c>, <c>Forwarded</c>, <c>X-Forwarded-*</c>,
/// <c>X-Keyward-*</c>, <c>Accept-Encoding</c> (replaced by <c>identity</c>), <c>Cookie</c>? (decide) and any header
/// named like the injected one (case-insensitive). An <c>Upgrade</c> request is refused, and so is any remaining
/// header or query value carrying something shaped like a Keyward token (<see cref="Core.Tokens.TokenKinds.ContainsToken"/>)
/// — 400 <c>gateway_header_refused</c> / <c>gateway_query_refused</c>. Response: hop-by-hop headers dropped; every
/// value passed through the scrubber; <c>Location</c> of a 3xx scrubbed (decide: dropped or reduced).
/// </summary>
public static class GatewayHeaders
{
    /// <summary>
    /// Copies the agent's request headers that may go upstream onto <paramref name="upstream"/> (headers onto the
    /// request, content headers onto <paramref name="upstream"/>.Content when it has one), then sets
    /// <c>Accept-Encoding: identity</c>. The injected credential is set afterwards by the caller.
    /// </summary>
    /// <param name="from">The agent's request headers.</param>
    /// <param name="upstream">The request being built.</param>
    /// <param name="injectedHeader">The header the integration injects (<c>Authorization</c> for bearer/basic), or null for query injection.</param>
    public static void CopyRequestHeaders(IHeaderDictionary from, HttpRequestMessage upstream, string? injectedHeader) =>
        throw new NotImplementedException();

    /// <summary>
    /// The raw query (with its leading <c>?</c>, or empty) to send upstream: parameters named like the injected one
    /// (<paramref name="injectedQuery"/>, compared after decoding the name) removed, a value carrying a Keyward token refused.
    /// Everything else is kept byte for byte.
    /// </summary>
    public static string FilterQuery(string rawQuery, string? injectedQuery) => throw new NotImplementedException();

    /// <summary>Copies the upstream response's headers (and content headers) to the agent's response, each value through <paramref name="scrub"/>.</summary>
    public static void CopyResponseHeaders(HttpResponseMessage from, IHeaderDictionary to, Func<string, string> scrub) =>
        throw new NotImplementedException();
}
