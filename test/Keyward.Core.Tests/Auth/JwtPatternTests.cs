using Keyward.Core.Auth.Jwt;

namespace Keyward.Core.Tests.Auth;

public sealed class JwtPatternTests
{
    [Theory]
    [InlineData("system:serviceaccount:ci:*", "system:serviceaccount:ci:builder", true)]
    [InlineData("system:serviceaccount:ci:*", "system:serviceaccount:ci:", true)]
    [InlineData("system:serviceaccount:ci:*", "system:serviceaccount:cid:builder", false)]
    [InlineData("system:serviceaccount:ci:*", "System:serviceaccount:ci:builder", false)]
    [InlineData("spiffe://prod.example/ns/*/sa/builder", "spiffe://prod.example/ns/a/b/sa/builder", true)]
    [InlineData("spiffe://prod.example/ns/*/sa/builder", "spiffe://prod.example/ns/a/sa/builder-2", false)]
    [InlineData("*", "", true)]
    [InlineData("*", "anything at all", true)]
    [InlineData("exact", "exact", true)]
    [InlineData("exact", "exact ", false)]
    [InlineData("exact", "xexact", false)]
    [InlineData("a*b*c", "a-b-b-c", true)]
    [InlineData("a*b*c", "a-b-b-cd", false)]
    [InlineData("**x", "x", true)]
    [InlineData("", "", true)]
    [InlineData("", "a", false)]
    public void IsMatch_Glob_MatchesWholeValueCaseSensitively(string pattern, string value, bool expected) =>
        Assert.Equal(expected, JwtPattern.IsMatch(pattern, value));

    [Fact]
    public void IsMatch_AdversarialBacktracking_StaysFast()
    {
        var pattern = string.Concat(Enumerable.Repeat("*a", 120)) + "b";
        var value = new string('a', 16 * 1024);
        var watch = System.Diagnostics.Stopwatch.StartNew();

        Assert.False(JwtPattern.IsMatch(pattern, value));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");
    }
}
