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

    /// <summary>Whether a text carries anything shaped like a Keyward token (for query-string and header refusal).</summary>
    public static bool ContainsTokenPrefix(ReadOnlySpan<char> text)
    {
        foreach (var k in All)
        {
            if (text.Contains(k.Prefix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
