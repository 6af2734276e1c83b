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
    DateTimeOffset UpdatedAt)
{
    /// <summary>
    /// The tenant's revocation epoch: every token and lease of the tenant issued at or before this instant is revoked
    /// (set by a lockdown, in one row). The rows themselves are marked afterwards in bounded batches while
    /// <see cref="RevocationPending"/>; authentication honours the epoch either way.
    /// </summary>
    public DateTimeOffset? RevokedBefore { get; init; }

    public bool RevocationPending { get; init; }
}

/// <summary>Storage port for tenants. Rows are never deleted: a deleted tenant's row stays, retired.</summary>
public interface ITenantStore
{
    Task<Tenant?> GetByIdAsync(string id, CancellationToken cancellationToken = default);

    Task<Tenant?> GetByUidAsync(string uid, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<Tenant>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Inserts a tenant; returns false if the id is taken (by a live or retired tenant).</summary>
    Task<bool> TryInsertAsync(Tenant tenant, CancellationToken cancellationToken = default);

    Task UpdateStateAsync(string uid, TenantState state, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Sets the revocation epoch and marks its per-row revocation pending.</summary>
    Task SetRevokedBeforeAsync(string uid, DateTimeOffset revokedBefore, CancellationToken cancellationToken = default);

    /// <summary>Tenants whose revocation epoch still has rows to mark.</summary>
    Task<IReadOnlyList<Tenant>> ListRevocationPendingAsync(CancellationToken cancellationToken = default);

    Task ClearRevocationPendingAsync(string uid, CancellationToken cancellationToken = default);
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

    /// <summary>Uids of retired tenants whose keys still exist (kept until logins made for them outside Keyward are dropped).</summary>
    Task<IReadOnlyList<string>> ListRetiredHoldersAsync(CancellationToken cancellationToken = default);
}

/// <summary>What a lockdown did: the incident id (in the audit log), how much it revoked and how long that took.</summary>
public sealed record LockdownIncident(string IncidentId, int RevokedTokens, int RevokedLeases, int PendingExternal, TimeSpan Took);
