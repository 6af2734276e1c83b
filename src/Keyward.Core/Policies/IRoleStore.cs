namespace Keyward.Core.Policies;

/// <summary>Storage port for a tenant's roles.</summary>
public interface IRoleStore
{
    Task<Role?> GetAsync(string tenantUid, string name, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<Role>> ListAsync(string tenantUid, CancellationToken cancellationToken = default);

    Task UpsertAsync(Role role, CancellationToken cancellationToken = default);

    Task<bool> DeleteAsync(string tenantUid, string name, CancellationToken cancellationToken = default);
}
