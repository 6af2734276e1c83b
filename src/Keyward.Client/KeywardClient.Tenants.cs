using System.Net;
using Keyward.Client.Internal;
using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>Tenant routes (root token).</summary>
public partial class KeywardClient
{
    /// <summary><c>POST /v1/tenants</c>: onboards a tenant. A used or retired id is 409.</summary>
    public virtual Task<KeywardTenant> CreateTenantAsync(string id, string? name = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        return SendAsync<KeywardTenant>(HttpMethod.Post, "v1/tenants", new CreateTenantBody(id, name), authenticate: true, cancellationToken);
    }

    /// <summary><c>GET /v1/tenants</c>: every tenant, including retired ones.</summary>
    public virtual async Task<IReadOnlyList<KeywardTenant>> ListTenantsAsync(CancellationToken cancellationToken = default) =>
        (await SendAsync<TenantList>(HttpMethod.Get, "v1/tenants", null, authenticate: true, cancellationToken).ConfigureAwait(false)).Tenants;

    /// <summary><c>GET /v1/tenants/{id}</c>.</summary>
    public virtual Task<KeywardTenant> GetTenantAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync<KeywardTenant>(HttpMethod.Get, TenantUrl(id), null, authenticate: true, cancellationToken);

    /// <summary><c>DELETE /v1/tenants/{id}</c>: offboards the tenant for good (lock, revoke all, destroy its key, retire the id).</summary>
    public virtual async Task<TenantDeletion> DeleteTenantAsync(string id, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Delete, TenantUrl(id), null, authenticate: true, alsoAccept: null, cancellationToken).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.Accepted ? TenantDeletion.Pending : TenantDeletion.Completed;
    }

    /// <summary>
    /// <c>POST /v1/tenants/{id}/tokens</c>: mints an admin or orchestrator token (ttl defaults to 1h on the server,
    /// at most 30d).
    /// </summary>
    public virtual Task<IssuedToken> CreateTenantTokenAsync(
        string tenantId, TenantTokenKind kind, TimeSpan? ttl = null, string? displayName = null, CancellationToken cancellationToken = default)
    {
        var kindName = kind switch
        {
            TenantTokenKind.Admin => "admin",
            TenantTokenKind.Orchestrator => "orchestrator",
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        if (ttl is { } t && t <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), "The TTL must be positive.");
        }

        return SendAsync<IssuedToken>(
            HttpMethod.Post, TenantUrl(tenantId) + "/tokens", new CreateTokenBody(kindName, ttl, displayName), authenticate: true, cancellationToken);
    }

    /// <summary><c>POST /v1/tenants/{id}/rotate-key</c>: starts a new tenant key version and returns its number.</summary>
    public virtual async Task<int> RotateTenantKeyAsync(string id, CancellationToken cancellationToken = default) =>
        (await SendAsync<KeyVersionBody>(HttpMethod.Post, TenantUrl(id) + "/rotate-key", null, authenticate: true, cancellationToken).ConfigureAwait(false)).KeyVersion;

    /// <summary><c>POST /v1/tenants/{id}/rewrap</c> (202): starts re-encrypting old versions under the newest key.</summary>
    public virtual Task<RewrapJob> StartRewrapAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync<RewrapJob>(HttpMethod.Post, TenantUrl(id) + "/rewrap", null, authenticate: true, cancellationToken);

    /// <summary><c>GET /v1/tenants/{id}/rewrap/{jobId}</c>: a rewrap job's progress.</summary>
    public virtual Task<RewrapJob> GetRewrapJobAsync(string id, string jobId, CancellationToken cancellationToken = default) =>
        SendAsync<RewrapJob>(
            HttpMethod.Get, TenantUrl(id) + "/rewrap/" + ClientValidation.Segment(jobId, nameof(jobId), "job id"), null, authenticate: true, cancellationToken);

    /// <summary>
    /// <c>POST /v1/tenants/{id}/lockdown</c> (root token): the kill switch. Revokes every token and lease of the
    /// tenant and refuses its requests with 423 <c>tenant_locked</c> until <see cref="UnlockTenantAsync"/>; returns
    /// once everything is marked revoked in the store.
    /// </summary>
    public virtual Task<TenantLockdown> LockdownTenantAsync(string id, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        return SendAsync<TenantLockdown>(HttpMethod.Post, TenantUrl(id) + "/lockdown", new LockdownBody(reason), authenticate: true, cancellationToken);
    }

    /// <summary><c>POST /v1/tenants/{id}/unlock</c> (root token): lifts a lockdown. Tokens it revoked stay revoked.</summary>
    public virtual Task UnlockTenantAsync(string id, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Post, TenantUrl(id) + "/unlock", null, cancellationToken);

    private static string TenantUrl(string id) => "v1/tenants/" + ClientValidation.Segment(id, nameof(id), "tenant id");

    private sealed record CreateTenantBody(string Id, string? Name);

    private sealed record CreateTokenBody(string Kind, TimeSpan? Ttl, string? DisplayName);

    private sealed record KeyVersionBody(int KeyVersion);

    private sealed record LockdownBody(string Reason);

    private sealed record TenantList(IReadOnlyList<KeywardTenant> Tenants);
}
