using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;
using Keyward.Core.Validation;

namespace Keyward.Core.Policies;

/// <summary>A tenant's roles (tenant admin token): rules, session ceiling and the roles its agents may spawn.</summary>
public sealed class RoleService
{
    /// <summary>No agent session outlives a month; sessions are meant to be short.</summary>
    public static readonly TimeSpan MaxRoleTtl = TimeSpan.FromDays(30);

    public const int MaxMaySpawn = 64;

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly TimeProvider _time;

    public RoleService(IKeywardStore store, GroupCommitter committer, TimeProvider time)
    {
        _store = store;
        _committer = committer;
        _time = time;
    }

    public async Task<Role> PutAsync(
        Principal caller, string name, IReadOnlyList<RuleSpec>? rules, TimeSpan? maxTtl, IReadOnlyList<string>? maySpawn, AuditDraft audit)
    {
        audit.Path = "roles/" + name;
        var tenant = caller.RequireAdmin();
        Names.RequireName("Role name", name);
        var ruleSet = RuleSet.FromSpecs(rules);
        if (maxTtl is null)
        {
            throw KeywardErrors.MissingField("max_ttl");
        }

        if (maxTtl > MaxRoleTtl)
        {
            throw KeywardErrors.TtlExceedsLimit($"A role's max_ttl is at most {Durations.Format(MaxRoleTtl)}.");
        }

        maySpawn ??= [];
        if (maySpawn.Count > MaxMaySpawn)
        {
            throw KeywardErrors.InvalidField("may_spawn", $"at most {MaxMaySpawn} roles");
        }

        foreach (var spawnable in maySpawn)
        {
            Names.RequireName("may_spawn role", spawnable);
        }

        return await _committer.ExecuteAsync(audit, async session =>
        {
            var now = _time.GetUtcNow();
            var existing = await session.Roles.GetAsync(tenant.Uid, name);
            var role = new Role(tenant.Uid, name, ruleSet, maxTtl.Value, maySpawn.Distinct().ToArray(), existing?.CreatedAt ?? now, now);
            await session.Roles.UpsertAsync(role);
            return role;
        });
    }

    public async Task<Role> GetAsync(Principal caller, string name, AuditDraft audit, CancellationToken cancellationToken = default)
    {
        audit.Path = "roles/" + name;
        var tenant = caller.RequireAdmin();
        await using var session = await _store.ReadAsync(cancellationToken);
        return await session.Roles.GetAsync(tenant.Uid, name, cancellationToken) ?? throw KeywardErrors.RoleNotFound(name);
    }

    public async Task<IReadOnlyList<Role>> ListAsync(Principal caller, CancellationToken cancellationToken = default)
    {
        var tenant = caller.RequireAdmin();
        await using var session = await _store.ReadAsync(cancellationToken);
        return await session.Roles.ListAsync(tenant.Uid, cancellationToken);
    }

    public async Task DeleteAsync(Principal caller, string name, AuditDraft audit)
    {
        audit.Path = "roles/" + name;
        var tenant = caller.RequireAdmin();
        await _committer.ExecuteAsync(audit, async session =>
        {
            if (!await session.Roles.DeleteAsync(tenant.Uid, name))
            {
                throw KeywardErrors.RoleNotFound(name);
            }
        });
    }
}
