using Keyward.Core.Errors;
using Keyward.Core.Policies;

namespace Keyward.Core.Tests.Policies;

public sealed class RuleSetTests
{
    [Fact]
    public void CapabilitiesOn_OverlappingRules_AreUnioned()
    {
        var rules = Rules(("app/**", ["read"]), ("app/db", ["write"]), ("*/db", ["list"]));

        Assert.Equal(Capability.Read | Capability.Write | Capability.List, rules.CapabilitiesOn("app/db"));
        Assert.Equal(Capability.Read, rules.CapabilitiesOn("app/cache"));
        Assert.Equal(Capability.List, rules.CapabilitiesOn("web/db"));
        Assert.Equal(Capability.None, rules.CapabilitiesOn("web/cache"));
    }

    [Fact]
    public void Allows_NoMatchingRule_IsDeniedByDefault()
    {
        var rules = Rules(("app/*", ["read", "write", "list", "delete", "rotate", "use"]));

        Assert.False(rules.Allows("app", Capability.Read));
        Assert.False(rules.Allows("app/db/x", Capability.Read));
        Assert.False(rules.Allows("other/db", Capability.Read));
        Assert.False(RuleSet.Empty.Allows("app/db", Capability.Read));
        Assert.Equal(Capability.None, RuleSet.Empty.CapabilitiesOn("app/db"));
    }

    [Fact]
    public void Allows_Use_NeverImpliesRead()
    {
        var rules = Rules(("app/**", ["use"]));

        Assert.True(rules.Allows("app/db", Capability.Use));
        Assert.False(rules.Allows("app/db", Capability.Read));
        Assert.False(rules.Allows("app/db", Capability.List));
    }

    [Fact]
    public void Allows_Read_DoesNotImplyAnythingElse()
    {
        var rules = Rules(("app/**", ["read"]));

        foreach (var other in new[] { Capability.Use, Capability.List, Capability.Write, Capability.Delete, Capability.Rotate })
        {
            Assert.False(rules.Allows("app/db", other), $"read implied {other}");
        }
    }

    [Fact]
    public void Allows_SeveralCapabilities_NeedsAllOfThem()
    {
        var rules = Rules(("app/**", ["read"]), ("app/db", ["write"]));

        Assert.True(rules.Allows("app/db", Capability.Read | Capability.Write));
        Assert.False(rules.Allows("app/x", Capability.Read | Capability.Write));
    }

    [Fact]
    public void IsSubsetOf_EachCapabilityCoveredByOneParentRule_IsTrue()
    {
        var parent = Rules(("app/**", ["read"]), ("app/db", ["write"]));

        Assert.True(Rules(("app/db", ["read", "write"])).IsSubsetOf(parent));
        Assert.True(Rules(("app/*", ["read"]), ("app/x/y", ["read"])).IsSubsetOf(parent));
        Assert.True(RuleSet.Empty.IsSubsetOf(parent));
        Assert.True(parent.IsSubsetOf(parent));
    }

    [Fact]
    public void IsSubsetOf_CapabilityOrPathNotCovered_IsFalse()
    {
        var parent = Rules(("app/**", ["read"]), ("app/db", ["write"]));

        Assert.False(Rules(("app/*", ["write"])).IsSubsetOf(parent));
        Assert.False(Rules(("app/**", ["list"])).IsSubsetOf(parent));
        Assert.False(Rules(("**", ["read"])).IsSubsetOf(parent));
        Assert.False(Rules(("other", ["read"])).IsSubsetOf(parent));
        Assert.False(Rules(("app/db", ["read"]), ("web/db", ["read"])).IsSubsetOf(parent));
        Assert.False(Rules(("app/db", ["read"])).IsSubsetOf(RuleSet.Empty));
    }

    [Fact]
    public void IsSubsetOf_UseAndReadAreNotInterchangeable()
    {
        Assert.False(Rules(("app/db", ["use"])).IsSubsetOf(Rules(("app/**", ["read"]))));
        Assert.False(Rules(("app/db", ["read"])).IsSubsetOf(Rules(("app/**", ["use"]))));
    }

    [Fact]
    public void IsSubsetOf_CoverageSplitAcrossParentRules_IsFalse()
    {
        // 'app/*' with read is covered only if one parent rule covers the glob and holds read.
        var parent = Rules(("app/db", ["read"]), ("app/*", ["list"]));

        Assert.False(Rules(("app/*", ["read"])).IsSubsetOf(parent));
    }

    [Fact]
    public void FromSpecs_ThenToSpecs_RoundTrips()
    {
        var specs = new List<RuleSpec> { new("app/**", ["read", "list"]), new("app/db", ["write", "rotate", "delete", "use"]) };

        var rules = RuleSet.FromSpecs(specs);
        var back = rules.ToSpecs();

        Assert.Equal(2, back.Count);
        Assert.Equal("app/**", back[0].Path);
        Assert.Equal(["read", "list"], back[0].Capabilities);
        Assert.Equal(["use", "write", "delete", "rotate"], back[1].Capabilities);
    }

    public static TheoryData<List<RuleSpec>, string> BadSpecs() => new()
    {
        { [new RuleSpec("app/**/db", ["read"])], "rules[0].path" },
        { [new RuleSpec("", ["read"])], "rules[0].path" },
        { [new RuleSpec("app//db", ["read"])], "rules[0].path" },
        { [new RuleSpec("app/db", ["read"]), new RuleSpec("/app", ["read"])], "rules[1].path" },
        { [new RuleSpec("app/db", ["admin"])], "unknown capability" },
        { [new RuleSpec("app/db", ["Read"])], "unknown capability" },
        { [new RuleSpec("app/db", ["read", "sudo"])], "unknown capability" },
        { [new RuleSpec("app/db", [])], "at least one capability" },
        { [new RuleSpec("app/db", null!)], "at least one capability" },
        { [null!], "rules[0] is null" },
    };

    [Theory]
    [MemberData(nameof(BadSpecs))]
    public void FromSpecs_BadRule_IsRefusedAsInvalidRule(List<RuleSpec> specs, string expectedDetail)
    {
        var error = Assert.Throws<KeywardException>(() => RuleSet.FromSpecs(specs));

        Assert.Equal(400, error.Status);
        Assert.Equal("invalid_rule", error.Code);
        Assert.Contains(expectedDetail, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromSpecs_Null_IsMissingField()
    {
        var error = Assert.Throws<KeywardException>(() => RuleSet.FromSpecs(null));

        Assert.Equal("missing_field", error.Code);
    }

    [Fact]
    public void FromSpecs_TooManyRules_IsRefused()
    {
        var specs = Enumerable.Range(0, RuleSet.MaxRules + 1).Select(i => new RuleSpec($"p{i}", ["read"])).ToList();

        Assert.Equal("invalid_rule", Assert.Throws<KeywardException>(() => RuleSet.FromSpecs(specs)).Code);
        Assert.Equal(RuleSet.MaxRules, RuleSet.FromSpecs(specs[..^1]).Rules.Count);
    }

    [Fact]
    public void FromSpecs_Empty_DeniesEverything()
    {
        var rules = RuleSet.FromSpecs([]);

        Assert.Equal(Capability.None, rules.CapabilitiesOn("a"));
    }

    private static RuleSet Rules(params (string Path, string[] Capabilities)[] rules) =>
        RuleSet.FromSpecs(rules.Select(r => new RuleSpec(r.Path, r.Capabilities)).ToList());
}

public sealed class CapabilitiesTests
{
    [Theory]
    [InlineData("read", Capability.Read)]
    [InlineData("use", Capability.Use)]
    [InlineData("list", Capability.List)]
    [InlineData("write", Capability.Write)]
    [InlineData("delete", Capability.Delete)]
    [InlineData("rotate", Capability.Rotate)]
    public void TryParse_KnownName_RoundTripsThroughName(string name, Capability expected)
    {
        Assert.True(Capabilities.TryParse(name, out var capability));
        Assert.Equal(expected, capability);
        Assert.Equal(name, Capabilities.Name(capability));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("READ")]
    [InlineData("admin")]
    [InlineData(" read")]
    public void TryParse_UnknownName_IsFalse(string? name)
    {
        Assert.False(Capabilities.TryParse(name, out var capability));
        Assert.Equal(Capability.None, capability);
    }

    [Fact]
    public void Name_Combination_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Capabilities.Name(Capability.Read | Capability.Use));
    }

    [Fact]
    public void NamesAndEach_ListSetFlagsInFixedOrder()
    {
        var set = Capability.Rotate | Capability.Read | Capability.Use;

        Assert.Equal(["read", "use", "rotate"], Capabilities.Names(set));
        Assert.Equal([Capability.Read, Capability.Use, Capability.Rotate], Capabilities.Each(set));
        Assert.Empty(Capabilities.Names(Capability.None));
    }
}
