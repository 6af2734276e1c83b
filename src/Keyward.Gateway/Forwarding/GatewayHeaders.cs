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
/// no cookie jar), HTTP/2 pseudo-headers, <c>Accept-Encoding</c> (replaced by <c>identity</c>, so the scrubber sees
/// plain bytes) and any header named like the injected one (case-insensitive). Names are compared case-insensitively;
/// several values of one header all go on. Content headers (<c>Content-Type</c>, <c>Content-Length</c>…) go on the
/// request's content only when the caller gave it one (none is created here: a request without a body sends no
/// content headers). An <c>Upgrade</c> request is refused, and so is any remaining header name or value carrying
/// something shaped like a Keyward token (<see cref="TokenKinds.ContainsToken(ReadOnlySpan{char})"/>) — 400 <c>gateway_header_refused</c>
/// / <c>gateway_query_refused</c>. Response: hop-by-hop headers and those named in its <c>Connection</c> dropped, and
/// <c>X-Keyward-*</c> (only Keyward speaks as Keyward), <c>Alt-Svc</c> (it speaks for the upstream's origin, not
/// Keyward's), <c>Content-Length</c> and body digests (<c>Content-MD5</c>, <c>Content-Digest</c>, <c>Repr-Digest</c>:
/// scrubbing may change the body); every other value
/// passed through the scrubber, <c>Set-Cookie</c> and <c>Location</c> included (decided: kept, scrubbed — the agent
/// gets what the upstream says, minus any echo of the secret); a header whose NAME carries an echo is dropped.
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
        "Accept-Encoding",
    ];

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
    /// hidden behind it must not survive).
    /// </summary>
    /// <exception cref="KeywardException">400 <c>gateway_query_refused</c>: a token-shaped parameter.</exception>
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
