namespace Keyward.Client.Models;

/// <summary>How the gateway injects the secret's field: <c>bearer</c>, <c>header</c> (Name = the header), <c>basic</c> (Name = the user), <c>query</c> (Name = the parameter).</summary>
public sealed record IntegrationInject(string Kind, string? Name = null);

/// <summary>Methods and an upstream path glob (<c>v1/**</c>) the gateway lets through.</summary>
public sealed record IntegrationAllow(IReadOnlyList<string> Methods, string Path);

/// <summary>Requests per second per agent session, and requests per run (split along the agent tree).</summary>
public sealed record IntegrationLimits(int? PerAgentRps = null, long? RunBudget = null);

/// <summary>What <c>PUT /v1/integrations/{name}</c> sends: never a secret (the value stays at <see cref="SecretPath"/>).</summary>
public sealed record IntegrationSpec(
    Uri Upstream, string SecretPath, string SecretField, IntegrationInject Inject, IReadOnlyList<IntegrationAllow> Allow,
    bool? AllowInsecureLoopback = null, IntegrationLimits? Limits = null);

/// <summary>An integration as reads return it.</summary>
public sealed record Integration(
    string Name, Uri Upstream, string SecretPath, string SecretField, IntegrationInject Inject, IReadOnlyList<IntegrationAllow> Allow,
    bool AllowInsecureLoopback, IntegrationLimits? Limits, long Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);
