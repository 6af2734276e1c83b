using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Tokens;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Keyward.Gateway.Forwarding;

/// <summary>
/// What crosses the gateway in headers and query strings. Request: hop-by-hop headers (RFC 9110 §7.6.1: Connection,
/// Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade; plus Trailer) and every header named in
/// <c>Connection</c> are dropped, and so are <c>Host</c>, <c>Authorization</c>, <c>Proxy-Authorization</c>,
/// <c>Forwarded</c>, <c>X-Forwarded-*</c>, <c>X-Real-IP</c>, <c>Via</c>, <c>X-Keyward-*</c>, <c>Expect</c> (the client
/// handles its own), <c>Cookie</c> (decided: the agent's cookies are not the upstream's business, and the gateway keeps
/// no cookie jar), HTTP/2 pseudo-headers, <c>Range</c> and <c>If-Range</c> (pieces of a body, each too short to be an
/// echo, could rebuild one), the method and URL overrides (<c>X-HTTP-Method-Override</c>, <c>X-HTTP-Method</c>,
/// <c>X-Method-Override</c>, <c>X-Original-URL</c>, <c>X-Rewrite-URL</c>, <c>X-Original-Host</c>, <c>X-Host</c>: the
/// upstream must act on the method and path the allow-list saw) and client-address claims (<c>True-Client-IP</c>,
/// <c>X-Client-IP</c>, <c>X-Cluster-Client-IP</c>, <c>CF-Connecting-IP</c>), <c>Accept-Encoding</c> (replaced by
/// <c>identity</c>, so the scrubber sees plain bytes) and any header named like the injected one (case-insensitive).
/// Names are compared case-insensitively; several values of one header all go on. Content headers
/// (<c>Content-Type</c>, <c>Content-Length</c>…) go on the request's content only when the caller gave it one (none is
/// created here: a request without a body sends no content headers). An <c>Upgrade</c> request is refused, and so is
/// any remaining header name or value carrying something shaped like a Keyward token
/// (<see cref="TokenKinds.ContainsToken(ReadOnlySpan{char})"/>) — 400 <c>gateway_header_refused</c> — and a <c>_method</c> query parameter
/// or a token-shaped one — 400 <c>gateway_query_refused</c>. Response: a 206 is refused (502
/// <c>upstream_partial_refused</c>), and so is a body coding the gateway cannot undo (502
/// <c>upstream_encoding_refused</c>, <see cref="CheckResponse"/>); hop-by-hop headers and those named in its
/// <c>Connection</c> dropped, and <c>X-Keyward-*</c> (only Keyward speaks as Keyward), <c>Alt-Svc</c> (it speaks for the
/// upstream's origin, not Keyward's), <c>Content-Length</c> and body digests (<c>Content-MD5</c>, <c>Content-Digest</c>,
/// <c>Repr-Digest</c>: scrubbing may change the body); every other value passed through the scrubber, <c>Set-Cookie</c>
/// and <c>Location</c> included (decided: kept, scrubbed — the agent gets what the upstream says, minus any echo of the
/// secret); a header whose NAME carries an echo is dropped.
/// </summary>
public static class GatewayHeaders
{
    /// <summary>What an error names instead of a header or parameter name shaped like a token (errors never carry one).</summary>
    private const string Withheld = "(name withheld)";

    /// <summary>Hop-by-hop headers (RFC 9110 §7.6.1 and the usual extras), dropped both ways.</summary>
    internal static readonly string[] HopByHop =
        ["Connection", "Proxy-Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade"];

    /// <summary>Request headers that never go upstream (besides hop-by-hop and the prefixes below).</summary>
    internal static readonly string[] RequestDropped =
    [
        "Host", "Authorization", "Proxy-Authorization", "Forwarded", "X-Real-IP", "Via", "Expect", "Cookie",
        "Accept-Encoding", "Range", "If-Range",
        "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "X-Original-URL", "X-Rewrite-URL", "X-Original-Host", "X-Host",
        "True-Client-IP", "X-Client-IP", "X-Cluster-Client-IP", "CF-Connecting-IP",
    ];

    /// <summary>The query parameter Rails, Laravel, Symfony and others read as the request's method: never sent.</summary>
    internal const string MethodOverrideParameter = "_method";

    /// <summary>The content codings the gateway undoes before scrubbing (one at most per response).</summary>
    internal static readonly string[] DecodedCodings = ["gzip", "x-gzip", "br", "deflate"];

    /// <summary>Request header prefixes that never go upstream.</summary>
    internal static readonly string[] RequestDroppedPrefixes = ["X-Forwarded-", "X-Keyward-", ":"];

    /// <summary>Response headers that never go back to the agent (besides hop-by-hop).</summary>
    internal static readonly string[] ResponseDropped =
        ["Proxy-Authenticate", "Alt-Svc", "Content-Length", "Content-MD5", "Content-Digest", "Repr-Digest"];

    /// <summary>
    /// Copies the agent's request headers that may go upstream onto <paramref name="upstream"/> (headers onto the
    /// request, content headers onto <paramref name="upstream"/>.Content when it has one, dropped when it has none),
    /// then sets <c>Accept-Encoding: identity</c>. The injected credential is set afterwards by the caller.
    /// </summary>
    /// <param name="from">The agent's request headers.</param>
    /// <param name="upstream">The request being built.</param>
    /// <param name="injectedHeader">The header the integration injects (<c>Authorization</c> for bearer/basic), or null for query injection.</param>
    /// <exception cref="KeywardException">400 <c>gateway_header_refused</c>: an <c>Upgrade</c> request, or a token-shaped header.</exception>
    public static void CopyRequestHeaders(IHeaderDictionary from, HttpRequestMessage upstream, string? injectedHeader)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(upstream);
        RefuseUpgrade(from);

        var named = NamedInConnection(from.TryGetValue("Connection", out var connection) ? connection : default);
        foreach (var (name, values) in from)
        {
            if (IsDroppedRequestHeader(name, injectedHeader, named))
            {
                continue;
            }

            if (TokenKinds.ContainsToken(name))
            {
                throw KeywardErrors.GatewayHeaderRefused(Withheld, "its name is shaped like a Keyward token.");
            }

            var kept = new List<string>(values.Count);
            foreach (var value in values)
            {
                if (value is null)
                {
                    continue;
                }

                if (TokenKinds.ContainsToken(value))
                {
                    throw KeywardErrors.GatewayHeaderRefused(name, "its value carries something shaped like a Keyward token.");
                }

                kept.Add(value);
            }

            if (kept.Count == 0)
            {
                continue;
            }

            // A content header is refused by the request's collection: it belongs on the content, if there is one.
            if (!upstream.Headers.TryAddWithoutValidation(name, kept))
            {
                upstream.Content?.Headers.TryAddWithoutValidation(name, kept);
            }
        }

        upstream.Headers.Remove("Accept-Encoding");
        upstream.Headers.TryAddWithoutValidation("Accept-Encoding", "identity");
    }

    /// <summary>400 <c>gateway_header_refused</c> for a protocol upgrade (WebSocket, h2c…): never proxied.</summary>
    public static void RefuseUpgrade(IHeaderDictionary from)
    {
        if (from.TryGetValue("Upgrade", out var upgrade) && !StringValues.IsNullOrEmpty(upgrade))
        {
            throw KeywardErrors.GatewayHeaderRefused("Upgrade", "protocol upgrades (WebSocket, h2c…) are not proxied.");
        }
    }

    /// <summary>
    /// The raw query (with its leading <c>?</c>, or empty when nothing is left) to send upstream: parameters named like
    /// the injected one (<paramref name="injectedQuery"/>) removed, a name or value carrying a Keyward token refused.
    /// Everything else is kept byte for byte, separators included. Names are compared after decoding (<c>+</c> and
    /// <c>%XX</c>), case-insensitively (the upstream decides how it reads names, so every case variant goes), and also
    /// the way PHP-style servers read them (<c>api.key</c>, <c>api key</c> and <c>api_key[]</c> all count as
    /// <c>api_key</c>). <c>;</c> separates parameters as well as <c>&amp;</c> (some servers split on it, and a parameter
    /// hidden behind it must not survive). A <c>_method</c> parameter (compared the same way) is refused: frameworks read
    /// it as the request's method, which the allow-list already judged.
    /// </summary>
    /// <exception cref="KeywardException">400 <c>gateway_query_refused</c>: a method override or a token-shaped parameter.</exception>
    public static string FilterQuery(string rawQuery, string? injectedQuery)
    {
        ArgumentNullException.ThrowIfNull(rawQuery);
        var query = rawQuery.StartsWith('?') ? rawQuery[1..] : rawQuery;
        if (query.Length == 0)
        {
            return "";
        }

        var injected = string.IsNullOrEmpty(injectedQuery) ? null : Normalize(injectedQuery);
        var result = new StringBuilder(rawQuery.Length + 1);
        var start = 0;
        var before = '?';
        while (true)
        {
            var end = query.AsSpan(start).IndexOfAny('&', ';') is var at and >= 0 ? start + at : query.Length;
            var parameter = query.AsSpan(start, end - start);
            var equals = parameter.IndexOf('=');
            var name = Decode(equals < 0 ? parameter : parameter[..equals]);
            if (string.Equals(Normalize(name), MethodOverrideParameter, StringComparison.OrdinalIgnoreCase))
            {
                throw KeywardErrors.GatewayQueryRefused(MethodOverrideParameter, "the upstream would read it as the request's method, which the integration's allow-list already judged.");
            }

            if (injected is null || !string.Equals(Normalize(name), injected, StringComparison.OrdinalIgnoreCase))
            {
                if (TokenKinds.ContainsToken(parameter) || TokenKinds.ContainsToken(name)
                    || (equals >= 0 && TokenKinds.ContainsToken(Decode(parameter[(equals + 1)..]))))
                {
                    throw KeywardErrors.GatewayQueryRefused(
                        TokenKinds.ContainsToken(name) || TokenKinds.ContainsToken(parameter[..(equals < 0 ? parameter.Length : equals)]) ? Withheld : name,
                        "it carries something shaped like a Keyward token.");
                }

                // A kept parameter goes with the separator written before it ('?' for the first one kept).
                result.Append(result.Length == 0 ? '?' : before).Append(parameter);
            }

            if (end == query.Length)
            {
                break;
            }

            before = query[end];
            start = end + 1;
        }

        return result.Length <= 1 ? "" : result.ToString();
    }

    /// <summary>
    /// Copies the upstream response's headers (and content headers) to the agent's response, each value through
    /// <paramref name="scrub"/>; hop-by-hop headers, those named in <c>Connection</c>, <c>X-Keyward-*</c>, <c>Alt-Svc</c>,
    /// <c>Content-Length</c> and body digests are dropped, and so is a header whose name <paramref name="scrub"/> would change.
    /// </summary>
    public static void CopyResponseHeaders(HttpResponseMessage from, IHeaderDictionary to, Func<string, string> scrub)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        ArgumentNullException.ThrowIfNull(scrub);
        var connection = from.Headers.NonValidated.TryGetValues("Connection", out var c) ? new StringValues([.. c]) : default;
        var named = NamedInConnection(connection);
        Copy(from.Headers.NonValidated);
        if (from.Content is not null)
        {
            Copy(from.Content.Headers.NonValidated);
        }

        void Copy(System.Net.Http.Headers.HttpHeadersNonValidated headers)
        {
            foreach (var (name, values) in headers)
            {
                if (Contains(HopByHop, name) || Contains(ResponseDropped, name) || named.Contains(name)
                    || name.StartsWith("X-Keyward-", StringComparison.OrdinalIgnoreCase)
                    || !string.Equals(scrub(name), name, StringComparison.Ordinal))
                {
                    continue;
                }

                var scrubbed = new string[values.Count];
                var i = 0;
                foreach (var value in values)
                {
                    scrubbed[i++] = scrub(value);
                }

                to[name] = to.TryGetValue(name, out var existing) ? StringValues.Concat(existing, scrubbed) : new StringValues(scrubbed);
            }
        }
    }

    /// <summary>
    /// Judges the upstream's answer before any of it goes to the agent; returns the content coding to undo before
    /// scrubbing (<c>gzip</c>, <c>x-gzip</c>, <c>br</c> or <c>deflate</c>; null for none). Refused: a 206 (pieces of a
    /// body could rebuild an echo that no single piece shows), a <c>Content-Encoding</c> the gateway cannot decode — not
    /// one of those, unparseable (<c>gzip;q=1</c>), or more than one coding — and a <c>Transfer-Encoding</c> other than
    /// plain <c>chunked</c> (the client would pass <c>gzip, chunked</c> on still compressed). <c>identity</c> codings are
    /// ignored. The errors never repeat the upstream's header values (they could carry an echo).
    /// </summary>
    /// <exception cref="KeywardException">502 <c>upstream_partial_refused</c> or <c>upstream_encoding_refused</c>.</exception>
    public static string? CheckResponse(HttpResponseMessage response, string integration)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.StatusCode == HttpStatusCode.PartialContent)
        {
            throw KeywardErrors.UpstreamPartialRefused(integration);
        }

        if (response.Headers.NonValidated.TryGetValues("Transfer-Encoding", out var transfer)
            && !(Codings(transfer) is [var only] && string.Equals(only, "chunked", StringComparison.OrdinalIgnoreCase)))
        {
            throw KeywardErrors.UpstreamEncodingRefused(integration, "a Transfer-Encoding other than chunked");
        }

        string[] content = response.Content is not null && response.Content.Headers.NonValidated.TryGetValues("Content-Encoding", out var values)
            ? [.. Codings(values).Where(c => !string.Equals(c, "identity", StringComparison.OrdinalIgnoreCase))]
            : [];
        return content switch
        {
            [] => null,
            [var one] when Contains(DecodedCodings, one) => one.ToLowerInvariant(),
            [_] => throw KeywardErrors.UpstreamEncodingRefused(integration, "a Content-Encoding other than gzip, br or deflate"),
            _ => throw KeywardErrors.UpstreamEncodingRefused(integration, "several content codings"),
        };
    }

    /// <summary>The comma-separated codings of a header's values, trimmed, empty ones skipped (a parameter stays part of its coding).</summary>
    private static List<string> Codings(HeaderStringValues values)
    {
        var codings = new List<string>();
        foreach (var value in values)
        {
            codings.AddRange(value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        }

        return codings;
    }

    private static bool IsDroppedRequestHeader(string name, string? injectedHeader, HashSet<string> named) =>
        Contains(HopByHop, name) || Contains(RequestDropped, name) || named.Contains(name)
        || RequestDroppedPrefixes.Any(p => name.StartsWith(p, StringComparison.OrdinalIgnoreCase))
        || (injectedHeader is not null && string.Equals(name, injectedHeader.Trim(), StringComparison.OrdinalIgnoreCase));

    private static bool Contains(string[] names, string name)
    {
        foreach (var n in names)
        {
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The header names listed in <c>Connection</c> values (comma-separated tokens).</summary>
    private static HashSet<string> NamedInConnection(StringValues connection)
    {
        var named = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var value in connection)
        {
            if (value is null)
            {
                continue;
            }

            foreach (var token in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                named.Add(token);
            }
        }

        return named;
    }

    /// <summary>Form decoding of a query name or value: <c>+</c> is a space, <c>%XX</c> a byte (UTF-8); bad escapes stay as written.</summary>
    private static string Decode(ReadOnlySpan<char> raw) => Uri.UnescapeDataString(raw.ToString().Replace('+', ' '));

    /// <summary>A parameter name the way lenient servers read it: trimmed, '.' and ' ' as '_', an array suffix ('[…]') cut.</summary>
    private static string Normalize(string name)
    {
        var bracket = name.IndexOf('[', StringComparison.Ordinal);
        var trimmed = (bracket > 0 ? name[..bracket] : name).Trim();
        return trimmed.Replace('.', '_').Replace(' ', '_');
    }
}
