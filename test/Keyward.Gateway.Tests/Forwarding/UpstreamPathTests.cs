using Keyward.Core.Errors;
using Keyward.Gateway.Forwarding;

namespace Keyward.Gateway.Tests.Forwarding;

public sealed class UpstreamPathTests
{
    [Theory]
    [InlineData("")]
    [InlineData("v1")]
    [InlineData("v1/models")]
    [InlineData("v1/models/")]                    // a trailing slash: its empty last segment only
    [InlineData("v1/chat/completions")]
    [InlineData("v1/files/file-abc123/content")]
    [InlineData("v1/%252e")]                      // %25 is '%': the literal text "%2e", not a dot
    [InlineData("v1/%252E%252E/admin")]
    [InlineData("v1/a%20b")]
    [InlineData("v1/a%3Ab")]
    [InlineData("v1/models:generateContent")]
    [InlineData("v1/user@example.com")]
    [InlineData("v1/!$&'()*+,;=")]
    [InlineData("v1/a-b_c~d.e")]
    [InlineData("v1/...x")]
    [InlineData("v1/.well-known/x")]
    [InlineData("v1/x..")]
    [InlineData("v1/%E2%82%AC")]                  // UTF-8, percent-encoded
    public void Validate_KeepsAValidPathUnchanged(string path) => Assert.Same(path, UpstreamPath.Validate(path));

    [Theory]
    [InlineData("v1/../admin")]
    [InlineData("../admin")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("v1/..")]
    [InlineData("v1/./x")]
    [InlineData("v1/.")]
    [InlineData("v1/...")]
    [InlineData("v1/..;/admin")]                  // Tomcat reads "..;" as ".."
    [InlineData("v1/.;x/admin")]
    [InlineData("v1/%2e%2e/admin")]
    [InlineData("v1/%2E%2E/admin")]
    [InlineData("v1/%2e/admin")]
    [InlineData("v1/.%2e/admin")]
    [InlineData("v1/a%2Eb")]                      // an encoded dot anywhere
    [InlineData("v1%2Fadmin")]
    [InlineData("v1%2fadmin")]
    [InlineData("v1/x%5c")]
    [InlineData("v1/x%5C..%5Cadmin")]
    [InlineData("v1\\x")]
    [InlineData("v1\\..\\admin")]
    [InlineData("v1//x")]
    [InlineData("/v1")]
    [InlineData("/")]
    [InlineData("//")]
    [InlineData("v1//")]
    [InlineData("v1/%00")]
    [InlineData("v1/x%00.json")]
    [InlineData("v1/%0a")]
    [InlineData("v1/%0D%0AHost:%20evil")]
    [InlineData("v1/%7f")]
    [InlineData("v1/%c0%ae%c0%ae/admin")]         // overlong UTF-8 dots
    [InlineData("v1%C0%AFadmin")]                 // overlong UTF-8 slash
    [InlineData("v1/%")]
    [InlineData("v1/%2")]
    [InlineData("v1/%zz")]
    [InlineData("v1/%g0")]
    [InlineData("v1/%%32%65")]
    [InlineData("v1/ x")]
    [InlineData("v1/x y")]
    [InlineData("v1/x\ty")]
    [InlineData("v1/x\r\nHost: evil")]
    [InlineData("v1/x\0")]
    [InlineData("v1/\u007f")]
    [InlineData("v1/é")]
    [InlineData("v1/\u2024\u2024/admin")]         // one-dot leader twice: looks like ".."
    [InlineData("v1/\uff0e\uff0e/admin")]         // fullwidth full stops
    [InlineData("v1/\u0085")]
    [InlineData("v1/x?y=1")]
    [InlineData("v1/x#frag")]
    [InlineData("v1/[::1]")]
    [InlineData("v1/<script>")]
    [InlineData("v1/\"x\"")]
    [InlineData("v1/a|b")]
    [InlineData("v1/{x}")]
    [InlineData("v1/a^b")]
    [InlineData("v1/`x`")]
    public void Validate_RefusesAHostilePath(string path)
    {
        var refused = Assert.Throws<KeywardException>(() => UpstreamPath.Validate(path));
        Assert.Equal("invalid_path", refused.Code);
        Assert.Equal(400, refused.Status);
    }

    [Fact]
    public void Validate_SaysWhatIsWrong_WithoutRepeatingThePath()
    {
        var refused = Assert.Throws<KeywardException>(() => UpstreamPath.Validate("v1%2Fsecret-admin"));
        Assert.Contains("%2F", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-admin", refused.Message, StringComparison.Ordinal);
    }
}

public sealed class UpstreamPathGlobTests
{
    private static UpstreamPathGlob Glob(string text)
    {
        Assert.True(UpstreamPathGlob.TryParse(text, out var glob, out var reason), reason);
        Assert.Null(reason);
        Assert.Equal(text, glob!.Text);
        return glob;
    }

    [Theory]
    [InlineData("v1/models", "v1/models", true)]
    [InlineData("v1/models", "v1/Models", false)]          // case-sensitive
    [InlineData("v1/models", "v1/models/", false)]         // a trailing slash is significant
    [InlineData("v1/models", "v1/models/x", false)]
    [InlineData("v1/models", "v1", false)]
    [InlineData("v1/models/", "v1/models/", true)]
    [InlineData("v1/models/", "v1/models", false)]
    [InlineData("v1/*", "v1/models", true)]
    [InlineData("v1/*", "v1/models/x", false)]
    [InlineData("v1/*", "v1/", false)]                     // '*' is one non-empty segment
    [InlineData("v1/*", "v1", false)]
    [InlineData("v1/*/x", "v1/a/x", true)]
    [InlineData("v1/*/x", "v1/a/b/x", false)]
    [InlineData("*", "v1", true)]
    [InlineData("*", "v1/x", false)]
    [InlineData("v1/**", "v1/a", true)]
    [InlineData("v1/**", "v1/a/b/c", true)]
    [InlineData("v1/**", "v1/a/", true)]
    [InlineData("v1/**", "v1", false)]                     // Vault-style: '**' needs at least one segment
    [InlineData("v1/**", "v1/", false)]
    [InlineData("v1/**", "v2/a", false)]
    [InlineData("v1/**", "v1x/a", false)]
    [InlineData("**", "anything/at/all", true)]
    [InlineData("**", "", false)]                          // no glob matches the empty path
    [InlineData("v1/**", "v1/../admin", false)]            // an invalid path never matches
    [InlineData("v1/**", "v1/%2e%2e/admin", false)]
    [InlineData("v1/**", "v1%2Fadmin", false)]
    [InlineData("v1/**", "v1//admin", false)]
    [InlineData("v1/%2e", "v1/%2e", false)]                // not even a glob (see below); here: the path is invalid
    [InlineData("v1/a%20b", "v1/a%20b", true)]             // literal segments compare raw
    [InlineData("v1/a%20b", "v1/a b", false)]
    [InlineData("v1/a%20b", "v1/a%2520b", false)]
    [InlineData("v1/a%3a", "v1/a%3A", false)]              // raw: the escape's case counts
    [InlineData("v1/models:generate", "v1/models:generate", true)]
    public void Matches_IsSegmentwiseRawAndCaseSensitive(string glob, string path, bool expected)
    {
        if (!UpstreamPathGlob.TryParse(glob, out var parsed, out _))
        {
            Assert.False(expected);
            return;
        }

        Assert.Equal(expected, parsed!.Matches(path));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("/v1")]
    [InlineData("/")]
    [InlineData("v1//x")]
    [InlineData("**/x")]
    [InlineData("v1/**/x")]
    [InlineData("v1/**/")]
    [InlineData("v1/***")]
    [InlineData("v1/model*")]
    [InlineData("v1/*x*")]
    [InlineData("v1/..")]
    [InlineData("v1/.")]
    [InlineData("v1/%2e%2e")]
    [InlineData("v1/%2F")]
    [InlineData("v1/%")]
    [InlineData("v1/a b")]
    [InlineData("v1\\x")]
    [InlineData("v1/é")]
    [InlineData("v1/x?y")]
    [InlineData("v1/x#y")]
    public void TryParse_RefusesAnInvalidGlob(string? text)
    {
        Assert.False(UpstreamPathGlob.TryParse(text, out var glob, out var reason));
        Assert.Null(glob);
        Assert.False(string.IsNullOrEmpty(reason));
    }

    [Fact]
    public void TryParse_AcceptsTheUsualGlobs()
    {
        Glob("v1/chat/completions");
        Glob("v1/*");
        Glob("v1/**");
        Glob("**");
        Glob("*");
        Glob("v1/models/");
        Glob("v1/*/content");
        Glob("v1/a%20b");
    }
}
