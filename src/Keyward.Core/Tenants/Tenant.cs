namespace Keyward.Core.Tenants;

public enum TenantState
{
    Active,
    Locked,
    Deleting,
    Retired,
}

/// <summary>
/// A tenant: its public <see cref="Id"/> (retired for good when the tenant is deleted) and its internal random
/// <see cref="Uid"/>, which every ciphertext of the tenant is bound to.
/// </summary>
public sealed record Tenant(
    string Uid,
    string Id,
    string? Name,
    TenantState State,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>Storage port for tenants. Rows are never deleted: a deleted tenant's row stays, retired.</summary>
public interface ITenantStore
{
    Task<Tenant?> GetByIdAsync(string id, CancellationToken cancellationToken = default);

    Task<Tenant?> GetByUidAsync(string uid, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<Tenant>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Inserts a tenant; returns false if the id is taken (by a live or retired tenant).</summary>
    Task<bool> TryInsertAsync(Tenant tenant, CancellationToken cancellationToken = default);

    Task UpdateStateAsync(string uid, TenantState state, DateTimeOffset at, CancellationToken cancellationToken = default);
}

/// <summary>One wrapped version of a tenant's key-encryption key.</summary>
public sealed record TenantKey(string TenantUid, int Version, byte[] WrappedKey, DateTimeOffset CreatedAt);

/// <summary>Storage port for tenants' key rings (wrapped under the root-derived wrapping key).</summary>
public interface ITenantKeyStore
{
    Task<IReadOnlyList<TenantKey>> ListAsync(string tenantUid, CancellationToken cancellationToken = default);

    Task InsertAsync(TenantKey key, CancellationToken cancellationToken = default);

    /// <summary>Destroys every key version of the tenant; its ciphertexts become unreadable for good.</summary>
    Task<int> DeleteAllAsync(string tenantUid, CancellationToken cancellationToken = default);
}

/// <summary>What a lockdown did: the incident id (in the audit log), how much it revoked and how long that took.</summary>
public sealed record LockdownIncident(string IncidentId, int RevokedTokens, int RevokedLeases, int PendingExternal, TimeSpan Took);
