using Keyward.Core.Errors;

namespace Keyward.Core.Policies;

public sealed record Rule(PathGlob Path, Capability Capabilities);

/// <summary>
/// A token's or role's rules: capabilities of all matching rules are unioned; anything unmatched is denied.
/// </summary>
public sealed class RuleSet
{
    public static readonly RuleSet Empty = new([]);

    public const int MaxRules = 256;

    public RuleSet(IReadOnlyList<Rule> rules)
    {
        Rules = rules;
    }

    public IReadOnlyList<Rule> Rules { get; }

    public Capability CapabilitiesOn(string path)
    {
        var granted = Capability.None;
        foreach (var rule in Rules)
        {
            if (rule.Path.Matches(path))
            {
                granted |= rule.Capabilities;
            }
        }

        return granted;
    }

    public bool Allows(string path, Capability capability) => (CapabilitiesOn(path) & capability) == capability;

    /// <summary>
    /// Every (child glob, capability) must be covered by a single parent rule holding that capability.
    /// </summary>
    public bool IsSubsetOf(RuleSet parent)
    {
        foreach (var rule in Rules)
        {
            foreach (var capability in Capabilities.Each(rule.Capabilities))
            {
                var covered = parent.Rules.Any(p => (p.Capabilities & capability) != 0 && rule.Path.IsCoveredBy(p.Path));
                if (!covered)
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>Builds a rule set from the wire shape, refusing unknown capabilities and bad globs.</summary>
    public static RuleSet FromSpecs(IReadOnlyList<RuleSpec>? specs)
    {
        if (specs is null)
        {
            throw KeywardErrors.MissingField("rules");
        }

        if (specs.Count > MaxRules)
        {
            throw KeywardErrors.InvalidRule($"At most {MaxRules} rules.");
        }

        var rules = new List<Rule>(specs.Count);
        for (var i = 0; i < specs.Count; i++)
        {
            var spec = specs[i] ?? throw KeywardErrors.InvalidRule($"rules[{i}] is null.");
            if (!PathGlob.TryParse(spec.Path, out var glob, out var reason))
            {
                throw KeywardErrors.InvalidRule($"rules[{i}].path: {reason}.");
            }

            if (spec.Capabilities is null || spec.Capabilities.Count == 0)
            {
                throw KeywardErrors.InvalidRule($"rules[{i}].capabilities must name at least one capability.");
            }

            var caps = Capability.None;
            foreach (var name in spec.Capabilities)
            {
                if (!Policies.Capabilities.TryParse(name, out var cap))
                {
                    throw KeywardErrors.InvalidRule($"rules[{i}]: unknown capability '{name}' (read, use, list, write, delete, rotate).");
                }

                caps |= cap;
            }

            rules.Add(new Rule(glob!, caps));
        }

        return new RuleSet(rules);
    }

    public IReadOnlyList<RuleSpec> ToSpecs() =>
        Rules.Select(r => new RuleSpec(r.Path.Text, Policies.Capabilities.Names(r.Capabilities))).ToArray();
}

/// <summary>The wire and storage shape of a rule: <c>{path, capabilities}</c>.</summary>
public sealed record RuleSpec(string Path, IReadOnlyList<string> Capabilities);
