using System.Security.Cryptography;
using System.Text;

namespace Keyward.Core.Tokens;

/// <summary>
/// Token strings: the kind prefix and 256 random bits in base64url. Only SHA-256 hashes are stored; a presented
/// token is hashed and compared in constant time with the stored hash.
/// </summary>
public static class TokenHasher
{
    public const int RandomBytes = 32;

    /// <summary>Presented tokens longer than this are refused before hashing.</summary>
    public const int MaxLength = 512;

    public static string NewToken(TokenKind kind)
    {
        Span<byte> random = stackalloc byte[RandomBytes];
        RandomNumberGenerator.Fill(random);
        var token = TokenKinds.Prefix(kind) + Base64Url(random);
        CryptographicOperations.ZeroMemory(random);
        return token;
    }

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    public static bool FixedTimeEquals(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => CryptographicOperations.FixedTimeEquals(a, b);

    /// <summary>Well-formed: a known prefix, then only base64url characters, within the length bound.</summary>
    public static bool IsWellFormed(string? token, out TokenKind kind)
    {
        kind = default;
        if (token is null || token.Length > MaxLength || !TokenKinds.TryFromToken(token, out kind))
        {
            return false;
        }

        for (var i = 4; i < token.Length; i++)
        {
            var c = token[i];
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return false;
            }
        }

        return token.Length > 4 + 16;
    }

    /// <summary>The dev root token grammar of API.md: kwr_ then at least 32 of [A-Za-z0-9_-].</summary>
    public static bool IsValidDevRootToken(string? token) =>
        token is not null
        && token.StartsWith("kwr_", StringComparison.Ordinal)
        && token.Length >= 4 + 32
        && token.Length <= MaxLength
        && token.AsSpan(4).IndexOfAnyExcept(DevRootTokenChars) < 0;

    private static readonly System.Buffers.SearchValues<char> DevRootTokenChars =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");

    private static string Base64Url(ReadOnlySpan<byte> bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
