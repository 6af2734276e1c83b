using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Tokens;
using Keyward.Tests.Common;

namespace Keyward.Core.Tests.Tokens;

public sealed class TokenHasherTests
{
    public static TheoryData<TokenKind, string> KindPrefixes => new()
    {
        { TokenKind.Root, "kwr_" },
        { TokenKind.Admin, "kwa_" },
        { TokenKind.Orchestrator, "kwo_" },
        { TokenKind.Agent, "kws_" },
        { TokenKind.Bootstrap, "kwb_" },
        { TokenKind.Derived, "kwd_" },
        { TokenKind.Wrapping, "kww_" },
    };

    [Theory]
    [MemberData(nameof(KindPrefixes))]
    public void NewToken_EachKind_HasItsPrefixAnd256RandomBits(TokenKind kind, string prefix)
    {
        var token = TokenHasher.NewToken(kind);

        Assert.StartsWith(prefix, token, StringComparison.Ordinal);
        var random = token[prefix.Length..];
        Assert.Equal(43, random.Length); // 32 bytes in unpadded base64url
        Assert.Matches("^[A-Za-z0-9_-]{43}$", random);
        Assert.Equal(32, FromBase64Url(random).Length);
        Assert.True(TokenHasher.IsWellFormed(token, out var parsedKind));
        Assert.Equal(kind, parsedKind);
    }

    [Fact]
    public void NewToken_ManyTokens_AreDistinctAndEveryBitVaries()
    {
        var tokens = Enumerable.Range(0, 1000).Select(_ => TokenHasher.NewToken(TokenKind.Agent)).ToList();

        Assert.Equal(tokens.Count, tokens.Distinct(StringComparer.Ordinal).Count());

        // Each of the 256 bits is set in some tokens and clear in others (a constant bit would fail with
        // probability ~2^-990 for a good generator).
        var ones = new int[256];
        foreach (var token in tokens)
        {
            var bytes = FromBase64Url(token[4..]);
            for (var bit = 0; bit < 256; bit++)
            {
                ones[bit] += (bytes[bit / 8] >> (bit % 8)) & 1;
            }
        }

        Assert.All(ones, count => Assert.InRange(count, 1, tokens.Count - 1));
    }

    [Fact]
    public void Hash_IsSha256OfTheUtf8String()
    {
        var token = TokenHasher.NewToken(TokenKind.Admin);

        var hash = TokenHasher.Hash(token);

        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(token)), hash);
        Assert.Equal(32, hash.Length);
        Assert.Equal("a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3", Convert.ToHexStringLower(TokenHasher.Hash("123")));
    }

    [Fact]
    public void Hash_DistinctTokens_GiveDistinctHashes()
    {
        var a = TokenHasher.NewToken(TokenKind.Admin);
        var b = a[..^1] + (a[^1] == 'A' ? 'B' : 'A');

        Assert.NotEqual(TokenHasher.Hash(a), TokenHasher.Hash(b));
    }

    [Fact]
    public void FixedTimeEquals_ComparesBytes()
    {
        var hash = TokenHasher.Hash("x");

        Assert.True(TokenHasher.FixedTimeEquals(hash, TokenHasher.Hash("x")));
        Assert.False(TokenHasher.FixedTimeEquals(hash, TokenHasher.Hash("y")));
        Assert.False(TokenHasher.FixedTimeEquals(hash, hash.AsSpan(0, 31)));
    }

    [Theory]
    [InlineData("kwa_abcdefghijklmnopq", true)] // 4 + 17 characters: just over the lower bound
    [InlineData("kwa_abcdefghijklmnop", false)] // 4 + 16
    [InlineData("kwd_abc.def-ghi_jklmnopqrstu", true)]
    [InlineData("kwx_abcdefghijklmnopqrstuvwxyz", false)]
    [InlineData("KWA_abcdefghijklmnopqrstuvwxyz", false)]
    [InlineData("abcdefghijklmnopqrstuvwxyz", false)]
    [InlineData("kwa_", false)]
    [InlineData("", false)]
    [InlineData("kwa_abcdefghijklmnopqrstuvwxyz$", false)]
    [InlineData("kwa_abcdefghijklmnop qrstuvwxyz", false)]
    [InlineData("kwa_abcdefghijklmnop+qrstuvwxyz", false)]
    [InlineData("kwa_abcdefghijklmnop/qrstuvwxyz", false)]
    [InlineData("kwa_abcdefghijklmnopqrstuvwxyz=", false)]
    [InlineData("kwa_abcdefghijklmnopqrstuvw\u00e9", false)]
    [InlineData("kwa_abcdefghijklmnopqrstuvw\uFF41", false)]
    public void IsWellFormed_Table(string token, bool expected)
    {
        Assert.Equal(expected, TokenHasher.IsWellFormed(token, out _));
    }

    [Fact]
    public void IsWellFormed_NullOrOverlong_IsFalse()
    {
        Assert.False(TokenHasher.IsWellFormed(null, out _));
        Assert.True(TokenHasher.IsWellFormed("kwa_" + new string('a', TokenHasher.MaxLength - 4), out _));
        Assert.False(TokenHasher.IsWellFormed("kwa_" + new string('a', TokenHasher.MaxLength - 3), out _));
    }

    [Theory]
    [InlineData("kwr_0123456789abcdefghijklmnopqrstuv", true)] // exactly 32
    [InlineData("kwr_0123456789abcdefghijklmnopqrstu", false)] // 31
    [InlineData("kwr_0123456789ABCDEF-_ghijklmnopqrstuvwxyz", true)]
    [InlineData("kwa_0123456789abcdefghijklmnopqrstuv", false)]
    [InlineData("KWR_0123456789abcdefghijklmnopqrstuv", false)]
    [InlineData("kwr_0123456789abcdefghijklmnopqrstu.", false)]
    [InlineData("kwr_0123456789abcdefghijklmnopqrstu+", false)]
    [InlineData("kwr_0123456789abcdefghijklmnopqrstu ", false)]
    [InlineData("kwr_0123456789abcdefghijklmnopqrst\u00e9u", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void IsValidDevRootToken_Table(string? token, bool expected)
    {
        Assert.Equal(expected, TokenHasher.IsValidDevRootToken(token));
    }

    [Fact]
    public void IsValidDevRootToken_TestHostToken_IsValid()
    {
        Assert.True(TokenHasher.IsValidDevRootToken(KeywardTestHost.RootToken));
        Assert.False(TokenHasher.IsValidDevRootToken("kwr_" + new string('a', TokenHasher.MaxLength - 3)));
    }

    private static byte[] FromBase64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        padded += new string('=', (4 - (padded.Length % 4)) % 4);
        return Convert.FromBase64String(padded);
    }
}

public sealed class TokenKindsTests
{
    [Fact]
    public void Prefixes_AreDistinctKwXUnderscore()
    {
        var prefixes = TokenKinds.Prefixes.ToList();

        Assert.Equal(7, prefixes.Count);
        Assert.Equal(prefixes.Count, prefixes.Distinct(StringComparer.Ordinal).Count());
        Assert.All(prefixes, p => Assert.Matches("^kw[a-z]_$", p));
    }

    [Theory]
    [InlineData(TokenKind.Root, "root")]
    [InlineData(TokenKind.Admin, "admin")]
    [InlineData(TokenKind.Orchestrator, "orchestrator")]
    [InlineData(TokenKind.Agent, "agent")]
    [InlineData(TokenKind.Bootstrap, "bootstrap")]
    [InlineData(TokenKind.Derived, "derived")]
    [InlineData(TokenKind.Wrapping, "wrapping")]
    public void Name_RoundTripsThroughTryParseName(TokenKind kind, string name)
    {
        Assert.Equal(name, TokenKinds.Name(kind));
        Assert.True(TokenKinds.TryParseName(name, out var parsed));
        Assert.Equal(kind, parsed);
        Assert.True(TokenKinds.TryFromToken(TokenKinds.Prefix(kind) + "x", out var fromToken));
        Assert.Equal(kind, fromToken);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Admin")]
    [InlineData("superuser")]
    public void TryParseName_Unknown_IsFalse(string? name)
    {
        Assert.False(TokenKinds.TryParseName(name, out _));
    }

    [Theory]
    [InlineData("Bearer kwa_abcdefghijklmnopqrstuvwxyz", true)]
    [InlineData("x=kws_0123456789abcdef", true)]
    [InlineData("KWR_ABCDEFGHIJKLMNOP", true)]
    [InlineData("prefix-KwB_abcdefghijklmnop-_.", true)]
    [InlineData("team/kwa_backup/kww_0123456789ABCDEF", true)]
    [InlineData("kwd_a.b.c.d.e.f.g.h.i", true)]
    [InlineData("kwo_abcdefghijklmno", false)]
    [InlineData("team/kwa_backup", false)]
    [InlineData("kww_", false)]
    [InlineData("kwa_short kws_also-short", false)]
    [InlineData("kw_abcdefghijklmnopqrstuvwxyz", false)]
    [InlineData("kwa-abcdefghijklmnopqrstuvwxyz", false)]
    [InlineData("kwz_abcdefghijklmnopqrstuvwxyz", false)]
    [InlineData("", false)]
    [InlineData("token=abc", false)]
    public void ContainsToken_Table(string text, bool expected)
    {
        Assert.Equal(expected, TokenKinds.ContainsToken(text));
    }
}
