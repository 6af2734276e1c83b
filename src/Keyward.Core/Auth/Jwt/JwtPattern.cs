namespace Keyward.Core.Auth.Jwt;

/// <summary>
/// The patterns of JWT bindings: <c>*</c> matches any run of characters (including none, and including <c>/</c> and
/// <c>:</c>), every other character matches itself; case-sensitive; the whole value must match. There is no escape:
/// a literal <c>*</c> cannot be required.
/// Examples: <c>system:serviceaccount:ci:*</c>, <c>spiffe://prod.example/ns/*/sa/builder</c>.
/// </summary>
public static class JwtPattern
{
    public const int MaxLength = 256;

    public static bool IsMatch(string pattern, string value)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(value);

        // Greedy matching with one backtrack point (the last star): linear in practice, O(n·m) at worst, and both are bounded.
        int p = 0, v = 0, star = -1, mark = 0;
        while (v < value.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = v;
            }
            else if (p < pattern.Length && pattern[p] == value[v])
            {
                p++;
                v++;
            }
            else if (star >= 0)
            {
                p = star + 1;
                v = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
