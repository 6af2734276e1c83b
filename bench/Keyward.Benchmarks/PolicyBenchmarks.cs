using BenchmarkDotNet.Attributes;
using Keyward.Core.Policies;

namespace Keyward.Benchmarks;

/// <summary>
/// Policy evaluation as every authorized request and every spawn does it: <see cref="RuleSet.Allows"/> of a role
/// with ten rules (capabilities of all matching rules are unioned, so every rule is tried), and
/// <see cref="RuleSet.IsSubsetOf"/> of a child's rules against that role.
/// </summary>
[MemoryDiagnoser]
public class PolicyBenchmarks
{
    /// <summary>Allowed: <c>apps/web/*/api-key</c> grants read.</summary>
    public const string MatchingPath = "apps/web/prod/api-key";

    /// <summary>Denied: no rule matches (<c>apps/*/prod/stripe-key</c> matches up to its last segment).</summary>
    public const string NonMatchingPath = "apps/search/prod/elastic-password";

    private RuleSet _role = RuleSet.Empty;
    private RuleSet _child = RuleSet.Empty;

    [GlobalSetup]
    public void Setup()
    {
        _role = RuleSet.FromSpecs(
        [
            Rule("apps/billing/*/db-password", "read"),
            Rule("apps/billing/prod/**", "read", "list"),
            Rule("apps/web/*/api-key", "read", "use"),
            Rule("apps/web/staging/**", "read", "write", "list"),
            Rule("apps/*/prod/stripe-key", "use"),
            Rule("shared/certs/*", "read"),
            Rule("shared/certs/internal/**", "list"),
            Rule("infra/terraform/**", "read", "write", "delete"),
            Rule("ci/github/*/deploy-key", "use"),
            Rule("teams/payments/**", "read", "rotate"),
        ]);
        _child = RuleSet.FromSpecs(
        [
            Rule("apps/billing/prod/db-password", "read"),
            Rule("apps/web/staging/config/**", "read", "write"),
            Rule("shared/certs/root-ca", "read"),
            Rule("apps/*/prod/stripe-key", "use"),
        ]);
        if (!_role.Allows(MatchingPath, Capability.Read) || _role.Allows(NonMatchingPath, Capability.Read) || !_child.IsSubsetOf(_role))
        {
            throw new InvalidOperationException("The benchmark's rules no longer mean what the benchmark says.");
        }
    }

    [Benchmark]
    public bool AllowsMatchingPath() => _role.Allows(MatchingPath, Capability.Read);

    [Benchmark]
    public bool AllowsNonMatchingPath() => _role.Allows(NonMatchingPath, Capability.Read);

    [Benchmark]
    public bool IsSubsetOf() => _child.IsSubsetOf(_role);

    private static RuleSpec Rule(string path, params string[] capabilities) => new(path, capabilities);
}
