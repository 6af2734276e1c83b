using Keyward.Core.Policies;

namespace Keyward.Core.Tests.Policies;

public sealed class PathGlobTests
{
    [Theory]
    [InlineData("app/db", "app/db", true)]
    [InlineData("app/db", "app/db/x", false)]
    [InlineData("app/db", "app", false)]
    [InlineData("app/db", "app/dbx", false)]
    [InlineData("app/db", "app/d", false)]
    [InlineData("app/db", "App/db", false)]
    [InlineData("app/db", "app/DB", false)]
    [InlineData("app/*", "app/db", true)]
    [InlineData("app/*", "app/x.y-z_0", true)]
    [InlineData("app/*", "app", false)]
    [InlineData("app/*", "app/db/x", false)]
    [InlineData("app/*", "apple/db", false)]
    [InlineData("app/**", "app/db", true)]
    [InlineData("app/**", "app/db/x/y/z", true)]
    [InlineData("app/**", "app", false)]
    [InlineData("app/**", "apple", false)]
    [InlineData("app/**", "apple/db", false)]
    [InlineData("app/**", "App/db", false)]
    [InlineData("*", "a", true)]
    [InlineData("*", "a/b", false)]
    [InlineData("**", "a", true)]
    [InlineData("**", "a/b/c", true)]
    [InlineData("*/db", "x/db", true)]
    [InlineData("*/db", "db", false)]
    [InlineData("*/db", "x/y/db", false)]
    [InlineData("a/*/c", "a/b/c", true)]
    [InlineData("a/*/c", "a/c", false)]
    [InlineData("a/*/c", "a/b/b/c", false)]
    [InlineData("*/*/**", "a/b/c", true)]
    [InlineData("*/*/**", "a/b", false)]
    [InlineData("a.b", "a.b", true)]
    [InlineData("a.b", "aXb", false)]
    public void Matches_Table(string glob, string path, bool expected)
    {
        Assert.Equal(expected, PathGlob.Parse(glob).Matches(path));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/")]
    [InlineData("/app")]
    [InlineData("app/")]
    [InlineData("app//db")]
    [InlineData("**/app")]
    [InlineData("app/**/db")]
    [InlineData("app/***")]
    [InlineData("app/d*")]
    [InlineData("app/*b")]
    [InlineData("app/.")]
    [InlineData("app/..")]
    [InlineData("app db")]
    [InlineData("app/%2F")]
    [InlineData("app/ａ")]
    public void TryParse_Invalid_IsRefusedWithReason(string text)
    {
        var ok = PathGlob.TryParse(text, out var glob, out var reason);

        Assert.False(ok);
        Assert.Null(glob);
        Assert.False(string.IsNullOrEmpty(reason));
        Assert.Throws<FormatException>(() => PathGlob.Parse(text));
    }

    [Fact]
    public void TryParse_Null_IsRefused()
    {
        Assert.False(PathGlob.TryParse(null, out _, out var reason));
        Assert.NotNull(reason);
    }

    [Fact]
    public void TryParse_LongerThan512_IsRefused()
    {
        Assert.True(PathGlob.TryParse(new string('a', 512), out _, out _));
        Assert.False(PathGlob.TryParse(new string('a', 513), out _, out _));
    }

    [Theory]
    // A literal is covered by the same literal, '*' or '**'.
    [InlineData("a/b", "a/b", true)]
    [InlineData("a/b", "a/*", true)]
    [InlineData("a/b", "a/**", true)]
    [InlineData("a/b", "*/b", true)]
    [InlineData("a/b", "*/*", true)]
    [InlineData("a/b", "**", true)]
    [InlineData("a/b", "a/c", false)]
    [InlineData("a/b", "A/b", false)]
    [InlineData("a/b", "a", false)]
    [InlineData("a/b", "a/b/c", false)]
    [InlineData("a/b", "a/b/*", false)]
    [InlineData("a/b", "a/b/**", false)]
    [InlineData("a", "a/**", false)]
    // '*' by '*' or '**'.
    [InlineData("a/*", "a/*", true)]
    [InlineData("a/*", "a/**", true)]
    [InlineData("a/*", "*/*", true)]
    [InlineData("a/*", "**", true)]
    [InlineData("a/*", "a/b", false)]
    [InlineData("*", "a", false)]
    [InlineData("a/*", "a/*/*", false)]
    // '**' only by '**'.
    [InlineData("a/**", "a/**", true)]
    [InlineData("a/**", "*/**", true)]
    [InlineData("a/**", "**", true)]
    [InlineData("**", "**", true)]
    [InlineData("a/**", "a/*", false)]
    [InlineData("a/**", "a/b", false)]
    [InlineData("a/**", "a/b/**", false)]
    [InlineData("**", "*", false)]
    [InlineData("**", "a/**", false)]
    [InlineData("**", "*/**", false)]
    // Longer children under a parent '**'.
    [InlineData("a/b/c", "a/**", true)]
    [InlineData("a/*/c", "a/**", true)]
    [InlineData("a/b/**", "a/**", true)]
    [InlineData("a/b/**", "*/*/**", true)]
    [InlineData("a/b/c", "b/**", false)]
    public void IsCoveredBy_Table(string child, string parent, bool expected)
    {
        Assert.Equal(expected, PathGlob.Parse(child).IsCoveredBy(PathGlob.Parse(parent)));
    }

    [Fact]
    public void IsCoveredBy_RandomGlobs_CoveredChildMatchesOnlyWhatParentMatches()
    {
        var paths = AllPaths(["a", "b", "z"], 5).ToList();
        var covered = 0;
        for (var seed = 1; seed <= 2000; seed++)
        {
            // Arrange
            var random = new Random(seed);
            var child = PathGlob.Parse(RandomGlob(random));
            var parent = PathGlob.Parse(RandomGlob(random));

            // Act
            if (!child.IsCoveredBy(parent))
            {
                continue;
            }

            // Assert: exhaustive over every path of up to 5 segments, plus random longer ones.
            covered++;
            foreach (var path in paths.Concat(Enumerable.Range(0, 20).Select(_ => RandomPath(random, 12))))
            {
                Assert.False(child.Matches(path) && !parent.Matches(path), $"seed {seed}: '{child}' is covered by '{parent}' but only the child matches '{path}'");
            }
        }

        Assert.True(covered >= 200, $"only {covered} covered pairs were generated; the property was barely exercised");
    }

    [Fact]
    public void IsCoveredBy_RandomGlobs_NotCoveredHasAWitnessPath()
    {
        // The segment-wise rule is also exact for single parent globs: when it says no, some path shows why
        // ('z' is a literal no glob names, standing in for "any other segment").
        var paths = AllPaths(["a", "b", "z"], 5).ToList();
        var refused = 0;
        for (var seed = 1; seed <= 600; seed++)
        {
            var random = new Random(seed);
            var child = PathGlob.Parse(RandomGlob(random));
            var parent = PathGlob.Parse(RandomGlob(random));
            if (child.IsCoveredBy(parent))
            {
                continue;
            }

            refused++;
            Assert.True(paths.Exists(p => child.Matches(p) && !parent.Matches(p)), $"seed {seed}: '{child}' is not covered by '{parent}', yet no path tells them apart");
        }

        Assert.True(refused >= 100, $"only {refused} refused pairs were generated");
    }

    [Fact]
    public void Equals_SameText_AreEqual()
    {
        Assert.Equal(PathGlob.Parse("a/*"), PathGlob.Parse("a/*"));
        Assert.Equal(PathGlob.Parse("a/*").GetHashCode(), PathGlob.Parse("a/*").GetHashCode());
        Assert.NotEqual(PathGlob.Parse("a/*"), PathGlob.Parse("a/**"));
        Assert.Equal("a/**", PathGlob.Parse("a/**").ToString());
    }

    private static string RandomGlob(Random random)
    {
        var length = random.Next(1, 5);
        var segments = new string[length];
        for (var i = 0; i < length; i++)
        {
            var last = i == length - 1;
            segments[i] = random.Next(last ? 4 : 3) switch
            {
                0 => "a",
                1 => "b",
                2 => "*",
                _ => "**",
            };
        }

        return string.Join('/', segments);
    }

    private static string RandomPath(Random random, int maxSegments) =>
        string.Join('/', Enumerable.Range(0, random.Next(1, maxSegments + 1)).Select(_ => random.Next(3) switch { 0 => "a", 1 => "b", _ => "z" }));

    private static IEnumerable<string> AllPaths(string[] alphabet, int maxSegments)
    {
        IEnumerable<string> level = alphabet;
        for (var depth = 1; depth <= maxSegments; depth++)
        {
            foreach (var path in level)
            {
                yield return path;
            }

            level = level.SelectMany(p => alphabet.Select(s => p + "/" + s)).ToList();
        }
    }
}
