namespace Keyward.Core.Policies;

/// <summary>A tenant's role: rules, the longest session it grants, and the roles its agents may spawn.</summary>
public sealed record Role(
    string TenantUid,
    string Name,
    RuleSet Rules,
    TimeSpan MaxTtl,
    IReadOnlyList<string> MaySpawn,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);
