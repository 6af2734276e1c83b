namespace Keyward.Client.Models;

/// <summary>One rule of a role: a path glob and the capabilities it grants (<c>read</c>, <c>use</c>, <c>list</c>, <c>write</c>, <c>delete</c>, <c>rotate</c>).</summary>
public sealed record RoleRule(string Path, IReadOnlyList<string> Capabilities);

/// <summary>A role: its rules, the longest session it allows, and the roles it may spawn.</summary>
public sealed record KeywardRole(
    string Name, IReadOnlyList<RoleRule> Rules, TimeSpan MaxTtl, IReadOnlyList<string> MaySpawn, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);
