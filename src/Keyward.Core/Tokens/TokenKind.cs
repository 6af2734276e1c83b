namespace Keyward.Core.Tokens;

public enum TokenKind
{
    Root,
    Admin,
    Orchestrator,
    Agent,
    Bootstrap,
    Derived,
    Wrapping,
}

/// <summary>Token strings carry their kind as a prefix so that leak scanners can spot them.</summary>
public static class TokenKinds
{
    private static readonly (TokenKind Kind, string Prefix, string Name)[] All =
    [
        (TokenKind.Root, "kwr_", "root"),
        (TokenKind.Admin, "kwa_", "admin"),
        (TokenKind.Orchestrator, "kwo_", "orchestrator"),
        (TokenKind.Agent, "kws_", "agent"),
        (TokenKind.Bootstrap, "kwb_", "bootstrap"),
        (TokenKind.Derived, "kwd_", "derived"),
        (TokenKind.Wrapping, "kww_", "wrapping"),
    ];

    public static IEnumerable<string> Prefixes => All.Select(k => k.Prefix);

    public static string Prefix(TokenKind kind) => All.First(k => k.Kind == kind).Prefix;

    public static string Name(TokenKind kind) => All.First(k => k.Kind == kind).Name;

    public static bool TryParseName(string? name, out TokenKind kind)
    {
        foreach (var k in All)
        {
            if (k.Name == name)
            {
                kind = k.Kind;
                return true;
            }
        }

        kind = default;
        return false;
    }

    public static bool TryFromToken(string token, out TokenKind kind)
    {
        foreach (var k in All)
        {
            if (token.StartsWith(k.Prefix, StringComparison.Ordinal))
            {
                kind = k.Kind;
                return true;
            }
        }

        kind = default;
        return false;
    }

    /// <summary>Shortest run of token characters after a kind prefix that counts as a token (real ones carry 32+).</summary>
    public const int MinimumTokenBody = 16;

    /// <summary>
    /// In a request path, where ordinary names may start with a prefix (<c>kws_integration_settings_v2</c>), a token is a
    /// prefix followed by at least this many token characters (API.md): real tokens carry 43.
    /// </summary>
    public const int MinimumPathTokenBody = 32;

    /// <summary>
    /// Whether a text carries something shaped like a Keyward token: a kind prefix (any case) followed by at least
    /// <see cref="MinimumTokenBody"/> token characters. A name such as <c>kwa_backup</c> is not one.
    /// </summary>
    public static bool ContainsToken(ReadOnlySpan<char> text) => ContainsToken(text, MinimumTokenBody);

    /// <summary>
    /// Whether a text carries a kind prefix (any case: the random part is the secret, whatever the prefix looks like)
    /// followed by at least <paramref name="minimumBody"/> characters of <c>[A-Za-z0-9_.-]</c>.
    /// </summary>
    public static bool ContainsToken(ReadOnlySpan<char> text, int minimumBody)
    {
        foreach (var k in All)
        {
            var rest = text;
            int at;
            while ((at = rest.IndexOf(k.Prefix, StringComparison.OrdinalIgnoreCase)) >= 0)
            {
                rest = rest[(at + k.Prefix.Length)..];
                var body = rest.IndexOfAnyExcept(TokenCharacters);
                if ((body < 0 ? rest.Length : body) >= minimumBody)
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static readonly System.Buffers.SearchValues<char> TokenCharacters =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.");
}
