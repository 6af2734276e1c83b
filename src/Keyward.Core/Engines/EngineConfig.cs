namespace Keyward.Core.Engines;

/// <summary>
/// One stored piece of a secrets engine's configuration in a tenant: a connection (<see cref="Item"/> empty) or
/// something under it (a role: <c>role/NAME</c>). <see cref="Settings"/> is the engine's non-secret JSON, returned
/// by reads; <see cref="Sealed"/> holds the secret fields (a password) sealed under the tenant's key ring, bound
/// to tenant, engine, name, item and <see cref="Version"/> (see <see cref="EngineSecrets"/>), and is never returned.
/// </summary>
public sealed record EngineConfig(
    string TenantUid,
    string Engine,
    string Name,
    string Item,
    string Settings,
    int KeyVersion,
    byte[]? Sealed,
    long Version,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>Storage port for engine configuration.</summary>
public interface IEngineConfigStore
{
    Task<EngineConfig?> GetAsync(string tenantUid, string engine, string name, string item, CancellationToken cancellationToken = default);

    /// <summary>
    /// With <paramref name="name"/> null: the tenant's connections of <paramref name="engine"/> (item empty), by name.
    /// Otherwise: the items under that connection (not the connection itself), by item.
    /// </summary>
    Task<IReadOnlyList<EngineConfig>> ListAsync(string tenantUid, string engine, string? name, CancellationToken cancellationToken = default);

    /// <summary>Inserts, or replaces every field but <c>created_at</c> of, the row with the same key.</summary>
    Task UpsertAsync(EngineConfig config, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes one item, or with <paramref name="item"/> null the connection and every item under it. Returns the rows deleted.
    /// </summary>
    Task<int> DeleteAsync(string tenantUid, string engine, string name, string? item, CancellationToken cancellationToken = default);
}
