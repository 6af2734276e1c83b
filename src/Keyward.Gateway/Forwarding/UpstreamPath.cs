using Keyward.Core.Errors;

namespace Keyward.Gateway.Forwarding;

/// <summary>
/// The raw path a proxied request sends upstream (what follows <c>/v1/gateway/{integration}/</c>, exactly as the agent
/// sent it, never decoded, without the query). Refused with 400 <c>invalid_path</c>
/// (<see cref="Core.Errors.KeywardErrors.InvalidPath"/>): <c>%2F</c>, <c>%5C</c>, <c>%2E</c>, <c>%00</c> (any case)
/// and every other escaped control character (<c>%01</c>–<c>%1F</c>, <c>%7F</c>), <c>%C0</c> and <c>%C1</c> (they
/// only start overlong UTF-8, <c>%C0%AE</c> being a dot to some decoders), a <c>%</c> not followed by two hex
/// digits, a backslash, control characters, non-ASCII, anything else that is not an RFC 3986 <c>pchar</c> or <c>/</c>,
/// an empty segment (<c>//</c>, a leading slash), and a segment made only of dots (<c>.</c>, <c>..</c>, <c>...</c>) —
/// also before a <c>;</c> parameter (<c>..;x</c>, which some servers read as <c>..</c>). The empty path (a call to the
/// upstream's base) is allowed, and so is one trailing slash (<c>v1/models/</c>): its empty last segment is the only
/// empty segment a path may have. <c>%25</c> is fine (it decodes to <c>%</c>, so <c>%252e</c> is the literal text
/// <c>%2e</c>, not a dot); other escapes (<c>%20</c>, <c>%3A</c>) pass as written.
/// </summary>
public static class UpstreamPath
{
    /// <summary>Returns <paramref name="rawPath"/> unchanged when it may be sent; throws otherwise.</summary>
    /// <exception cref="KeywardException">400 <c>invalid_path</c>, saying what is wrong (the path itself is not repeated).</exception>
    public static string Validate(string rawPath)
    {
        ArgumentNullException.ThrowIfNull(rawPath);
        return Check(rawPath) is { } reason ? throw KeywardErrors.InvalidPath($"The gateway path {reason}") : rawPath;
    }

    /// <summary>Null when the path may be sent; otherwise what is wrong with it (a sentence tail).</summary>
    internal static string? Check(string rawPath)
    {
        if (rawPath.Length == 0)
        {
            return null;
        }

        var start = 0;
        while (true)
        {
            var slash = rawPath.IndexOf('/', start);
            var end = slash < 0 ? rawPath.Length : slash;
            if (end == start)
            {
                // Empty: allowed only as the last segment after at least one other (a trailing slash).
                if (slash >= 0 || start == 0)
                {
                    return "has an empty segment ('//' or a leading '/').";
                }

                return null;
            }

            if (CheckSegment(rawPath.AsSpan(start, end - start)) is { } reason)
            {
                return reason;
            }

            if (slash < 0)
            {
                return null;
            }

            start = slash + 1;
        }
    }

    /// <summary>Null when <paramref name="segment"/> (non-empty, no <c>/</c>) is a valid raw segment.</summary>
    internal static string? CheckSegment(ReadOnlySpan<char> segment)
    {
        for (var i = 0; i < segment.Length; i++)
        {
            var c = segment[i];
            if (c == '%')
            {
                if (i + 2 >= segment.Length || !char.IsAsciiHexDigit(segment[i + 1]) || !char.IsAsciiHexDigit(segment[i + 2]))
                {
                    return "has a '%' that is not followed by two hex digits.";
                }

                var decoded = (char)((HexValue(segment[i + 1]) << 4) | HexValue(segment[i + 2]));
                switch (decoded)
                {
                    case '/':
                        return "has an encoded slash (%2F).";
                    case '\\':
                        return "has an encoded backslash (%5C).";
                    case '.':
                        return "has an encoded dot (%2E).";
                    case < ' ' or '\x7f':
                        return "has an encoded control character (%00-%1F, %7F).";
                    case '\xc0' or '\xc1':
                        return "has an overlong UTF-8 escape (%C0, %C1: old decoders read %C0%AE as '.').";
                }

                i += 2;
            }
            else if (c == '\\')
            {
                return "has a backslash.";
            }
            else if (char.IsControl(c))
            {
                return "has a control character.";
            }
            else if (!char.IsAscii(c))
            {
                return "has a non-ASCII character (percent-encode it as UTF-8).";
            }
            else if (!IsPathChar(c))
            {
                return $"has a character a URL path cannot hold ('{c}').";
            }
        }

        // Dot segments, also with a ';' parameter after them (Tomcat and others read "..;x" as "..").
        var beforeParameter = segment.IndexOf(';') is var semicolon and >= 0 ? segment[..semicolon] : segment;
        if (!beforeParameter.IsEmpty && !beforeParameter.ContainsAnyExcept('.'))
        {
            return "has a '.' or '..' segment.";
        }

        return null;
    }

    /// <summary>RFC 3986 <c>pchar</c> without <c>%</c>: unreserved, sub-delims, ':' and '@'.</summary>
    private static bool IsPathChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~'
        or '!' or '$' or '&' or '\'' or '(' or ')' or '*' or '+' or ',' or ';' or '='
        or ':' or '@';

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/// <summary>
/// An allow-list glob over upstream paths, segment-wise and case-sensitive like the policy globs: a literal, <c>*</c>
/// (one whole non-empty segment) or <c>**</c> (one or more segments, last only). Literal segments may hold any character
/// a valid raw path segment may hold; they are compared with the raw (undecoded) segment, ordinal. <c>*</c> is a
/// wildcard only as a whole segment; inside a literal (<c>model*</c>) it is refused rather than taken literally or as a
/// prefix match. Vault-style: <c>v1/**</c> matches <c>v1/a</c>, <c>v1/a/b</c> and <c>v1/a/</c> but not <c>v1</c> nor
/// <c>v1/</c> (list <c>v1</c> too to allow it). A trailing slash is significant: <c>v1/models</c> does not match
/// <c>v1/models/</c>; a glob may end with one (<c>v1/models/</c>) to match exactly that. No glob matches the empty path
/// (a glob cannot be empty).
/// </summary>
public sealed class UpstreamPathGlob
{
    private readonly string[] _segments;

    private UpstreamPathGlob(string text, string[] segments)
    {
        Text = text;
        _segments = segments;
    }

    public string Text { get; } = "";

    /// <summary>Parses a glob (no leading slash), or gives the reason it is invalid.</summary>
    public static bool TryParse(string? text, out UpstreamPathGlob? glob, out string? reason)
    {
        glob = null;
        reason = Reason(text);
        if (reason is not null)
        {
            return false;
        }

        glob = new UpstreamPathGlob(text!, text!.Split('/'));
        return true;
    }

    private static string? Reason(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "A path glob cannot be empty.";
        }

        if (text[0] == '/')
        {
            return "A path glob does not start with '/' (it is relative to the upstream's base URL).";
        }

        var segments = text.Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            var segment = segments[i];
            var last = i == segments.Length - 1;
            if (segment == "**")
            {
                if (!last)
                {
                    return "'**' may only be the last segment of a path glob.";
                }
            }
            else if (segment == "*")
            {
            }
            else if (segment.Length == 0)
            {
                if (!last)
                {
                    return "A path glob cannot have an empty segment ('//').";
                }

                if (segments[i - 1] == "**")
                {
                    return "'**' may only be the last segment of a path glob.";
                }
            }
            else if (segment.Contains('*', StringComparison.Ordinal))
            {
                return "'*' stands for a whole segment only ('v1/*/x', not 'v1/model*').";
            }
            else if (UpstreamPath.CheckSegment(segment) is { } invalid)
            {
                return $"A path glob segment {invalid}";
            }
        }

        return null;
    }

    /// <summary>Whether a validated raw path matches (a path that is not valid never matches).</summary>
    public bool Matches(string rawPath)
    {
        if (rawPath is null || rawPath.Length == 0 || UpstreamPath.Check(rawPath) is not null)
        {
            return false;
        }

        var path = rawPath.Split('/');
        for (var i = 0; i < _segments.Length; i++)
        {
            var glob = _segments[i];
            if (glob == "**")
            {
                return i < path.Length && path[i].Length > 0;
            }

            if (i >= path.Length)
            {
                return false;
            }

            if (glob == "*" ? path[i].Length == 0 : !string.Equals(glob, path[i], StringComparison.Ordinal))
            {
                return false;
            }
        }

        return path.Length == _segments.Length;
    }

    public override string ToString() => Text;
}
