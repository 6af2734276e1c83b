using System.Buffers.Text;
using System.Security.Cryptography;

namespace Keyward.Client.Tests;

/// <summary>The SDK's offline attenuation on its own (the server cross-check is in Keyward.Server.FunctionalTests).</summary>
public sealed class KeywardTokenTests
{
    private const string Accessor = "0123456789abcdef0123456789abcdef";

    private static readonly string Session =
        "kws_" + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32)) + "." + Accessor + "." + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    private static TokenCaveat InAnHour => TokenCaveat.ExpiresAt(DateTimeOffset.UtcNow.AddHours(1));

    [Fact]
    public void Attenuate_Session_ProducesDerivedTokenThatParsesBack()
    {
        var derived = KeywardToken.Parse(Session).Attenuate(InAnHour, TokenCaveat.Path("apps/web/**"), TokenCaveat.Capabilities("read", "list"), TokenCaveat.Tool("crm"), TokenCaveat.SubAgent("w-1"));

        var again = KeywardToken.Parse(derived.Value);

        Assert.StartsWith("kwd_", derived.Value, StringComparison.Ordinal);
        Assert.True(again.IsDerived);
        Assert.Equal(Accessor, again.Accessor);
        Assert.Equal(derived.Caveats.Select(c => c.ToString()), again.Caveats.Select(c => c.ToString()));
        Assert.Equal("capabilities:read,list", again.Caveats[2].ToString());
    }

    [Fact]
    public void Attenuate_Twice_AppendsAndChangesTheTag()
    {
        var first = KeywardToken.Parse(Session).Attenuate(InAnHour);
        var second = first.Attenuate(TokenCaveat.Path("apps/**"));

        Assert.Equal(2, second.Caveats.Count);
        Assert.NotEqual(first.Value[^43..], second.Value[^43..]);
        Assert.StartsWith(first.Value[4..20], second.Value[4..20], StringComparison.Ordinal);
    }

    [Fact]
    public void ToString_NeverShowsTheToken()
    {
        var session = KeywardToken.Parse(Session);
        var derived = session.Attenuate(InAnHour);

        Assert.DoesNotContain(Session.Split('.')[0][4..], session.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Session.Split('.')[2], session.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(derived.Value[4..], derived.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(derived.Value[^20..], derived.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Attenuate_Invalid_Throws()
    {
        var session = KeywardToken.Parse(Session);

        Assert.Throws<ArgumentException>(() => session.Attenuate(TokenCaveat.Path("apps/**")));
        Assert.Throws<ArgumentException>(() => session.Attenuate());
        Assert.Throws<ArgumentException>(() => session.Attenuate([.. Enumerable.Range(0, 17).Select(_ => InAnHour)]));
        Assert.Throws<ArgumentException>(() => session.Attenuate(InAnHour, TokenCaveat.Tool("a"), TokenCaveat.Tool("b")));
        Assert.Throws<ArgumentException>(() => TokenCaveat.Path("apps/web*"));
        Assert.Throws<ArgumentException>(() => TokenCaveat.Path("**/x"));
        Assert.Throws<ArgumentException>(() => TokenCaveat.Path("apps/../x"));
        Assert.Throws<ArgumentException>(() => TokenCaveat.Capabilities("admin"));
        Assert.Throws<ArgumentException>(() => TokenCaveat.Capabilities());
        Assert.Throws<ArgumentException>(() => TokenCaveat.SubAgent("a b"));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenCaveat.ExpiresAt(DateTimeOffset.UnixEpoch));
    }

    [Theory]
    [InlineData("kwa_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")]
    [InlineData("kws_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")]
    [InlineData("kws_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG.0123.abc")]
    [InlineData("kwd_AAAA")]
    [InlineData("kwd_not base64")]
    [InlineData("")]
    public void Parse_NotAttenuable_Throws(string token)
    {
        Assert.False(KeywardToken.TryParse(token, out _));
        Assert.Throws<ArgumentException>(() => KeywardToken.Parse(token));
    }
}
