using System.Net;
using System.Text.RegularExpressions;
using Keyward.Client;
using Keyward.Core.Policies;
using Keyward.Tests.Common;
using Xunit.Abstractions;

namespace Keyward.Server.FunctionalTests.Derived;

/// <summary>
/// Seeded randomized property: for random session rules, random caveats (derived in one or two SDK steps) and a
/// random read, list or write, the server allows exactly what the session's rules AND every caveat allow — checked
/// against a model written here independently (globs as anchored regexes), never against the server's own
/// <see cref="PathGlob"/>. Prints the seed and the failing case.
/// </summary>
public sealed class DerivedTokenPropertyTests : IClassFixture<DerivedTokenFixture>
{
    private const int Cases = 300;

    private static readonly string[] Globs =
    [
        "apps/web/**", "apps/web", "apps/web/key", "apps/*/key", "apps/**", "*/web/key", "**", "apps/web-admin/**",
        "libs/**", "apps/api/*", "*/*/db", "apps/web/*/key",
    ];

    private static readonly string[] CapabilityNames = ["read", "list", "write"];

    private readonly DerivedTokenFixture _fixture;
    private readonly ITestOutputHelper _output;

    public DerivedTokenPropertyTests(DerivedTokenFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = output;
    }

    [Fact]
    public async Task DerivedToken_NeverExceedsSessionOrCaveats()
    {
        var seed = Environment.GetEnvironmentVariable("KEYWARD_PROPERTY_SEED") is { } s ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : Random.Shared.Next();
        _output.WriteLine($"seed {seed} (set KEYWARD_PROPERTY_SEED to replay)");
        var random = new Random(seed);
        var checkedAllowed = 0;
        var checkedDenied = 0;
        for (var i = 0; i < Cases; i++)
        {
            // Arrange: a session of 1-3 rules, and 0-4 path/capability caveats (plus the mandatory expiry).
            var rules = Enumerable.Range(0, random.Next(1, 4)).Select(_ => (Glob: Pick(random, Globs), Caps: Caps(random))).ToArray();
            var caveats = Enumerable.Range(0, random.Next(0, 5))
                .Select(_ => random.Next(2) == 0 ? (Kind: "path", Glob: Pick(random, Globs), Caps: Array.Empty<string>()) : (Kind: "caps", Glob: "", Caps: Caps(random)))
                .ToArray();
            var (session, _) = await _fixture.SessionAsync(DerivedTokenFixture.Acme, rules.Select(r => new RuleSpec(r.Glob, r.Caps)).ToArray());
            var split = random.Next(caveats.Length + 1);
            var token = KeywardToken.Parse(session)
                .Attenuate([TokenCaveat.ExpiresAt(DateTimeOffset.UtcNow.AddHours(1)), .. caveats[..split].Select(ToCaveat)]);
            if (split < caveats.Length)
            {
                token = token.Attenuate(caveats[split..].Select(ToCaveat));
            }

            bool Allowed(string path, string capability) =>
                rules.Any(r => Model(r.Glob, path) && r.Caps.Contains(capability))
                && caveats.All(c => c.Kind == "path" ? Model(c.Glob, path) : c.Caps.Contains(capability));

            var operation = random.Next(3);
            var path = Pick(random, DerivedTokenFixture.Paths);
            var context = $"seed {seed}, case {i}: rules [{string.Join("; ", rules.Select(r => r.Glob + " " + string.Join(',', r.Caps)))}], " +
                          $"caveats [{string.Join("; ", caveats.Select(c => c.Kind == "path" ? "path " + c.Glob : "caps " + string.Join(',', c.Caps)))}], ";

            // Act + Assert
            switch (operation)
            {
                case 0:
                {
                    var response = await _fixture.GetAsync(token.Value, "/v1/secrets/" + path);
                    var expected = Allowed(path, "read");
                    Assert.True(response.StatusCode == (expected ? HttpStatusCode.OK : HttpStatusCode.Forbidden), context + $"read {path}: {(int)response.StatusCode}, expected allowed={expected}");
                    (expected ? ref checkedAllowed : ref checkedDenied)++;
                    break;
                }

                case 1:
                {
                    var prefix = Pick(random, ["apps", "apps/web", "libs", "apps/api"]);
                    var response = await _fixture.GetAsync(token.Value, "/v1/secrets?prefix=" + prefix);
                    var expected = DerivedTokenFixture.Paths.Where(p => p.StartsWith(prefix + "/", StringComparison.Ordinal) && Allowed(p, "list")).Order(StringComparer.Ordinal).ToArray();
                    var body = await Problems.JsonAsync(response);
                    var keys = body.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).Order(StringComparer.Ordinal).ToArray();
                    var listed = keys.Select(k => k.StartsWith(prefix + "/", StringComparison.Ordinal) ? k : prefix + "/" + k).Order(StringComparer.Ordinal).ToArray();
                    Assert.True(expected.SequenceEqual(listed) || expected.SequenceEqual(keys), context + $"list {prefix}: got [{string.Join(", ", keys)}], expected [{string.Join(", ", expected)}]");
                    (expected.Length > 0 ? ref checkedAllowed : ref checkedDenied)++;
                    break;
                }

                default:
                {
                    var value = DerivedTokenFixture.Value(DerivedTokenFixture.Acme, path);
                    var response = await _fixture.PutAsync(token.Value, path, new { value });
                    var expected = Allowed(path, "write");
                    Assert.True(response.StatusCode == (expected ? HttpStatusCode.OK : HttpStatusCode.Forbidden), context + $"write {path}: {(int)response.StatusCode}, expected allowed={expected}");
                    (expected ? ref checkedAllowed : ref checkedDenied)++;
                    break;
                }
            }
        }

        _output.WriteLine($"{checkedAllowed} allowed and {checkedDenied} denied cases checked");
        Assert.True(checkedAllowed > 20 && checkedDenied > 20, $"seed {seed}: the generator must exercise both outcomes ({checkedAllowed} allowed, {checkedDenied} denied)");
    }

    private static TokenCaveat ToCaveat((string Kind, string Glob, string[] Caps) c) =>
        c.Kind == "path" ? TokenCaveat.Path(c.Glob) : TokenCaveat.Capabilities(c.Caps);

    private static string[] Caps(Random random)
    {
        var caps = CapabilityNames.Where(_ => random.Next(3) != 0).ToArray();
        return caps.Length > 0 ? caps : [Pick(random, CapabilityNames)];
    }

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    /// <summary>The glob semantics of API.md as an anchored regex: literal segments, '*' one segment, last '**' one or more.</summary>
    private static bool Model(string glob, string path)
    {
        var segments = glob.Split('/').Select(s => s switch
        {
            "**" => "[^/]+(/[^/]+)*",
            "*" => "[^/]+",
            _ => Regex.Escape(s),
        });
        return Regex.IsMatch(path, @"\A" + string.Join("/", segments) + @"\z", RegexOptions.CultureInvariant);
    }
}
