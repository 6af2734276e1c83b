using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Policies;
using Keyward.Core.Tokens.Derived;

namespace Keyward.Core.Tests.Tokens;

/// <summary>
/// The derived-token format and tag chain on their own (no store): round trip, and every way a holder could try to
/// widen a token — tampered, reordered, dropped or un-MACed caveats, another session's id — plus malformed input.
/// Raw tokens are built here independently of <see cref="DerivedToken.Encode"/>, with a correct chain, so that a
/// refusal is the parser's doing and not a broken MAC.
/// </summary>
public sealed class DerivedTokenTests
{
    private const string Session = "0123456789abcdef0123456789abcdef";
    private const string OtherSession = "fedcba9876543210fedcba9876543210";
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);
    private static readonly long Future = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();

    private static string Derive(params Caveat[] caveats) =>
        DerivedToken.Encode(Session, [], DerivedToken.RootTag(Key, Session), caveats);

    private static DerivedToken Parse(string token)
    {
        Assert.True(DerivedToken.TryParse(token, out var parsed, out var reason), reason);
        return parsed!;
    }

    [Fact]
    public void Encode_ThenParse_RoundTripsCaveatsInOrderAndVerifies()
    {
        // Arrange
        var token = Derive(Caveat.Expiry(Future), Caveat.Path("apps/web/**"), Caveat.Allow(Capability.Read | Capability.List), Caveat.Tool("crm"), Caveat.Agent("sub-1"));

        // Act
        var parsed = Parse(token);

        // Assert
        Assert.StartsWith("kwd_", token, StringComparison.Ordinal);
        Assert.Equal(Session, parsed.TokenId);
        Assert.Equal(["expiry:" + Future, "path:apps/web/**", "capabilities:read,list", "tool:crm", "agent:sub-1"], parsed.Caveats.Select(c => c.ToString()));
        Assert.True(parsed.HasValidTag(Key));
        Assert.DoesNotContain(Convert.ToHexString(parsed.CopyTag()), parsed.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Encode_SameCaveatsTwice_SameToken_AndRawBuilderAgrees()
    {
        var caveats = new[] { Caveat.Expiry(Future), Caveat.Path("a/*") };
        var raw = Raw(Session, [Expiry(Future), Text(2, "a/*")]);

        Assert.Equal(Derive(caveats), Derive(caveats));
        Assert.Equal(raw, Derive(caveats));
    }

    [Fact]
    public void HasValidTag_OtherKey_False()
    {
        var parsed = Parse(Derive(Caveat.Expiry(Future)));

        Assert.False(parsed.HasValidTag(RandomNumberGenerator.GetBytes(32)));
    }

    [Fact]
    public void HasValidTag_EveryTagBitFlipped_False()
    {
        var payload = Payload(Derive(Caveat.Expiry(Future), Caveat.Path("apps/**")));
        for (var bit = 0; bit < DerivedToken.TagBytes * 8; bit++)
        {
            var tampered = (byte[])payload.Clone();
            tampered[^(DerivedToken.TagBytes - (bit / 8))] ^= (byte)(1 << (bit % 8));
            Assert.False(Parse(Token(tampered)).HasValidTag(Key), $"bit {bit}");
        }
    }

    [Fact]
    public void HasValidTag_CaveatBodyTampered_False()
    {
        // 'apps/web/**' → 'apps/wex/**': still a valid glob, so only the MAC can catch it.
        var payload = Payload(Derive(Caveat.Expiry(Future), Caveat.Path("apps/web/**")));
        var at = Encoding.ASCII.GetString(payload).IndexOf("web", StringComparison.Ordinal) + 2;
        payload[at] = (byte)'x';

        var parsed = Parse(Token(payload));

        Assert.Equal("path:apps/wex/**", parsed.Caveats[1].ToString());
        Assert.False(parsed.HasValidTag(Key));
    }

    [Fact]
    public void HasValidTag_LaterExpiryWritten_False()
    {
        var payload = Payload(Derive(Caveat.Expiry(Future)));
        BinaryPrimitives.WriteUInt64BigEndian(payload.AsSpan(18 + 3), (ulong)(Future + 86_400));

        var parsed = Parse(Token(payload));

        Assert.Equal(Future + 86_400, parsed.Caveats[0].UnixSeconds);
        Assert.False(parsed.HasValidTag(Key));
    }

    [Fact]
    public void HasValidTag_CaveatsReordered_False()
    {
        var original = Payload(Derive(Caveat.Expiry(Future), Caveat.Path("apps/web/**")));
        var expiry = original.AsSpan(18, 11).ToArray();
        var path = original.AsSpan(18 + 11, 3 + "apps/web/**".Length).ToArray();
        var reordered = Concat(original.AsSpan(0, 18).ToArray(), path, expiry, original.AsSpan(original.Length - 32).ToArray());

        var parsed = Parse(Token(reordered));

        Assert.Equal(CaveatType.Path, parsed.Caveats[0].Type);
        Assert.False(parsed.HasValidTag(Key));
    }

    [Fact]
    public void HasValidTag_LastCaveatDropped_False()
    {
        var payload = Payload(Derive(Caveat.Expiry(Future), Caveat.Path("apps/web/**")));
        var dropped = Concat(payload.AsSpan(0, 18 + 11).ToArray(), payload.AsSpan(payload.Length - 32).ToArray());
        dropped[17] = 1;

        Assert.False(Parse(Token(dropped)).HasValidTag(Key));
    }

    [Fact]
    public void HasValidTag_FirstCaveatDropped_False()
    {
        var payload = Payload(Derive(Caveat.Expiry(Future), Caveat.Expiry(Future - 10)));
        var dropped = Concat(payload.AsSpan(0, 18).ToArray(), payload.AsSpan(18 + 11).ToArray());
        dropped[17] = 1;

        Assert.False(Parse(Token(dropped)).HasValidTag(Key));
    }

    [Fact]
    public void HasValidTag_CaveatAppendedWithoutMac_False()
    {
        var payload = Payload(Derive(Caveat.Expiry(Future), Caveat.Path("apps/web/**")));
        var extra = new byte[11];
        Caveat.Expiry(Future - 5).WriteTo(extra);
        var appended = Concat(payload.AsSpan(0, payload.Length - 32).ToArray(), extra, payload.AsSpan(payload.Length - 32).ToArray());
        appended[17] = 3;

        Assert.False(Parse(Token(appended)).HasValidTag(Key));
    }

    [Fact]
    public void Encode_AppendingToDerivedToken_VerifiesAndNarrows()
    {
        // Arrange: the holder of a derived token appends with that token's tag (it never sees t0).
        var first = Parse(Derive(Caveat.Expiry(Future), Caveat.Path("apps/**")));

        // Act
        var second = Parse(DerivedToken.Encode(first.TokenId, first.Caveats, first.CopyTag(), [Caveat.Path("apps/web/**"), Caveat.Agent("child")]));

        // Assert
        Assert.True(second.HasValidTag(Key));
        Assert.Equal(4, second.Caveats.Count);
        Assert.True(second.Attenuation.Allows("apps/web/key", Capability.Read));
        Assert.False(second.Attenuation.Allows("apps/api/key", Capability.Read));
        Assert.Equal(["session:" + Session, "agent:child"], second.Attenuation.Chain(Session));
    }

    [Fact]
    public void HasValidTag_OtherSessionsTokenId_False()
    {
        var payload = Payload(Derive(Caveat.Expiry(Future)));
        Convert.FromHexString(OtherSession).CopyTo(payload, 1);

        var parsed = Parse(Token(payload));

        Assert.Equal(OtherSession, parsed.TokenId);
        Assert.False(parsed.HasValidTag(Key));
    }

    [Fact]
    public void HasValidTag_ChainRootedAtOtherSession_FalseForThisSession()
    {
        var other = DerivedToken.Encode(OtherSession, [], DerivedToken.RootTag(Key, OtherSession), [Caveat.Expiry(Future)]);
        var payload = Payload(other);
        Convert.FromHexString(Session).CopyTo(payload, 1);

        Assert.True(Parse(other).HasValidTag(Key));
        Assert.False(Parse(Token(payload)).HasValidTag(Key));
    }

    public static TheoryData<string, string> MalformedRaw => new()
    {
        { "unknown caveat type", Raw(Session, [Expiry(Future), [9, 0, 1, 0]]) },
        { "type zero", Raw(Session, [Expiry(Future), [0, 0, 0]]) },
        { "no expiry", Raw(Session, [Text(2, "apps/**")]) },
        { "expiry zero", Raw(Session, [[1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]]) },
        { "expiry 7 bytes", Raw(Session, [[1, 0, 7, 0, 0, 0, 0, 0x70, 0, 0]]) },
        { "expiry 9 bytes", Raw(Session, [[1, 0, 9, 0, 0, 0, 0, 0x70, 0, 0, 0, 0]]) },
        { "expiry negative", Raw(Session, [[1, 0, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]]) },
        { "no capabilities", Raw(Session, [Expiry(Future), [3, 0, 1, 0]]) },
        { "unknown capability bit", Raw(Session, [Expiry(Future), [3, 0, 1, 0x41]]) },
        { "capabilities 2 bytes", Raw(Session, [Expiry(Future), [3, 0, 2, 1, 0]]) },
        { "dot-dot path", Raw(Session, [Expiry(Future), Text(2, "apps/../admin")]) },
        { "inner double star", Raw(Session, [Expiry(Future), Text(2, "**/admin")]) },
        { "empty path", Raw(Session, [Expiry(Future), [2, 0, 0]]) },
        { "trailing slash", Raw(Session, [Expiry(Future), Text(2, "apps/")]) },
        { "partial-segment glob", Raw(Session, [Expiry(Future), Text(2, "apps/web*")]) },
        { "non-ascii path", Raw(Session, [Expiry(Future), [2, 0, 2, 0xC3, 0xA9]]) },
        { "bad tool name", Raw(Session, [Expiry(Future), Text(4, "-tool")]) },
        { "bad agent id", Raw(Session, [Expiry(Future), Text(5, "a b")]) },
        { "agent id too long", Raw(Session, [Expiry(Future), Text(5, new string('a', 65))]) },
        { "conflicting tools", Raw(Session, [Expiry(Future), Text(4, "crm"), Text(4, "mail")]) },
        { "length past the end", Raw(Session, [Expiry(Future), [2, 0x7F, 0xFF, (byte)'a']]) },
        { "17 caveats", Raw(Session, [.. Enumerable.Repeat(Expiry(Future), 17)]) },
        { "version 2", Raw(Session, [Expiry(Future)], version: 2) },
        { "count too high", Raw(Session, [Expiry(Future)], count: 2) },
        { "count too low", Raw(Session, [Expiry(Future), Expiry(Future)], count: 1) },
        { "count zero", Raw(Session, [Expiry(Future)], count: 0) },
        { "no caveats", Raw(Session, [], count: 0) },
    };

    [Theory]
    [MemberData(nameof(MalformedRaw))]
    public void TryParse_MalformedButCorrectlyMaced_Refused(string why, string token)
    {
        Assert.False(DerivedToken.TryParse(token, out var parsed, out var reason), why);
        Assert.Null(parsed);
        Assert.False(string.IsNullOrEmpty(reason));
    }

    [Fact]
    public void TryParse_SixteenCaveats_Accepted_AndRawBuilderIsSound()
    {
        var token = Raw(Session, [.. Enumerable.Repeat(Expiry(Future), 16)]);

        Assert.True(Parse(token).HasValidTag(Key));
        Assert.True(Parse(Raw(Session, [Expiry(Future), Text(4, "crm"), Text(4, "crm")])).HasValidTag(Key));
    }

    [Fact]
    public void TryParse_BadBase64_Refused()
    {
        var good = Derive(Caveat.Expiry(Future), Caveat.Path("apps/web/**"));
        var body = good[4..];
        var lastIndex = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".IndexOf(body[^1], StringComparison.Ordinal);
        var spareBits = body.Length % 4 == 2 ? 4 : body.Length % 4 == 3 ? 2 : 0;
        string[] bad =
        [
            "kwd_",
            "kwd_" + body.Replace('-', '+').Replace('_', '/') + (body.Contains('-', StringComparison.Ordinal) || body.Contains('_', StringComparison.Ordinal) ? "" : "+"),
            good + "=",
            good + "==",
            good + "A",
            good[..^1],
            good.Insert(10, " "),
            good.Insert(10, "\n"),
            good.Insert(10, "."),
            "kwd_" + body[..10] + "!" + body[11..],
            "KWD_" + body,
            good + new string('A', 2048),
        ];
        foreach (var token in bad)
        {
            Assert.False(DerivedToken.TryParse(token, out _, out _), token.Length > 80 ? token[..80] : token);
        }

        if (spareBits > 0)
        {
            // Same bytes, another spelling: a non-zero spare bit in the last character.
            var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            var other = good[..^1] + alphabet[lastIndex | 1];
            Assert.False(DerivedToken.TryParse(other, out _, out var reason), reason);
        }
    }

    [Fact]
    public void TryParse_Oversize_RefusedBeforeDecoding()
    {
        var huge = "kwd_" + new string('A', DerivedToken.MaxLength);

        Assert.False(DerivedToken.TryParse(huge, out _, out var reason));
        Assert.Equal("derived token too long", reason);
    }

    [Fact]
    public void Encode_SeventeenCaveatsOrNoExpiry_Throws()
    {
        Assert.Throws<ArgumentException>(() => Derive([.. Enumerable.Repeat(Caveat.Expiry(Future), 17)]));
        Assert.Throws<ArgumentException>(() => Derive(Caveat.Path("apps/**")));
        Assert.Throws<ArgumentException>(() => Caveat.Path("apps/../x"));
        Assert.Throws<ArgumentOutOfRangeException>(() => Caveat.Allow(Capability.None));
        Assert.Throws<ArgumentException>(() => Caveat.Tool("a b"));
    }

    [Theory]
    [InlineData("apps/web/**", "apps/web/key", true)]
    [InlineData("apps/web/**", "apps/web/prod/key", true)]
    [InlineData("apps/web/**", "apps/web-admin/key", false)]
    [InlineData("apps/web/**", "apps/webx", false)]
    [InlineData("apps/web/**", "apps/web", false)]
    [InlineData("apps/web", "apps/web", true)]
    [InlineData("apps/web", "apps/web-admin", false)]
    [InlineData("apps/web", "apps/web/key", false)]
    [InlineData("apps/*/key", "apps/web/key", true)]
    [InlineData("apps/*/key", "apps/web/key2", false)]
    public void Attenuation_PathCaveat_MatchesWholeSegments(string glob, string path, bool allowed)
    {
        var attenuation = Parse(Derive(Caveat.Expiry(Future), Caveat.Path(glob))).Attenuation;

        Assert.Equal(allowed, attenuation.Allows(path, Capability.Read));
    }

    [Fact]
    public void Attenuation_SeveralCaveatsOfOneType_Intersect()
    {
        var attenuation = Parse(Derive(
            Caveat.Expiry(Future),
            Caveat.Expiry(Future - 60),
            Caveat.Path("apps/**"),
            Caveat.Path("*/web/**"),
            Caveat.Allow(Capability.Read | Capability.List | Capability.Write),
            Caveat.Allow(Capability.Read | Capability.Delete))).Attenuation;

        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(Future - 60), attenuation.ExpiresAt);
        Assert.Equal(Capability.Read, attenuation.Capabilities);
        Assert.True(attenuation.Allows("apps/web/k", Capability.Read));
        Assert.False(attenuation.Allows("apps/web/k", Capability.List));
        Assert.False(attenuation.Allows("apps/web/k", Capability.Write));
        Assert.False(attenuation.Allows("apps/api/k", Capability.Read));
        Assert.False(attenuation.Allows("libs/web/k", Capability.Read));
        Assert.False(attenuation.Allows("apps/web/k", Capability.None));
    }

    [Fact]
    public void Attenuation_ToolCaveat_FailsClosedOutsideTheGateway_AndKeepsChain()
    {
        var attenuation = Parse(Derive(Caveat.Expiry(Future), Caveat.Agent("planner"), Caveat.Tool("crm"), Caveat.Agent("crm-worker"))).Attenuation;

        Assert.Equal("crm", attenuation.Tool);
        foreach (var capability in Capabilities.Each((Capability)63))
        {
            Assert.False(attenuation.Allows("apps/web/k", capability));
        }

        Assert.Equal(["session:" + Session, "agent:planner", "tool:crm", "agent:crm-worker"], attenuation.Chain(Session));
    }

    // ----- a raw builder, independent of Caveat/DerivedToken.Encode: same spec, written out by hand -----

    private static byte[] Expiry(long unixSeconds)
    {
        var c = new byte[11];
        c[0] = 1;
        c[2] = 8;
        BinaryPrimitives.WriteInt64BigEndian(c.AsSpan(3), unixSeconds);
        return c;
    }

    private static byte[] Text(byte type, string text)
    {
        var body = Encoding.UTF8.GetBytes(text);
        var c = new byte[3 + body.Length];
        c[0] = type;
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(1), (ushort)body.Length);
        body.CopyTo(c, 3);
        return c;
    }

    private static string Raw(string tokenId, byte[][] caveats, byte version = 1, int? count = null)
    {
        var tag = HMACSHA256.HashData(Key, Encoding.ASCII.GetBytes(tokenId));
        foreach (var caveat in caveats)
        {
            tag = HMACSHA256.HashData(tag, caveat);
        }

        return Token(Concat([version], Convert.FromHexString(tokenId), [(byte)(count ?? caveats.Length)], Concat(caveats), tag));
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static byte[] Payload(string token) => Base64Url.DecodeFromChars(token.AsSpan(4));

    private static string Token(byte[] payload) => "kwd_" + Base64Url.EncodeToString(payload);
}
