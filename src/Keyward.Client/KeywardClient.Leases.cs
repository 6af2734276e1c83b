using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>Lease routes (tenant token; orchestrator and agent tokens see only their own subtree's leases).</summary>
public partial class KeywardClient
{
    /// <summary><c>GET /v1/leases?prefix=</c>: the leases this token may see, optionally only those whose path starts with <paramref name="prefix"/>.</summary>
    public virtual async Task<IReadOnlyList<KeywardLease>> ListLeasesAsync(string? prefix = null, CancellationToken cancellationToken = default) =>
        (await SendAsync<LeaseList>(
            HttpMethod.Get, "v1/leases" + Query(("prefix", string.IsNullOrEmpty(prefix) ? null : prefix)), null, authenticate: true, cancellationToken)
            .ConfigureAwait(false)).Leases;

    /// <summary><c>POST /v1/leases/renew</c>: extends a lease by <paramref name="increment"/> (never past its owner's expiry).</summary>
    public virtual Task<LeaseRenewal> RenewLeaseAsync(string leaseId, TimeSpan increment, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(leaseId);
        Positive(increment, nameof(increment));
        return SendAsync<LeaseRenewal>(HttpMethod.Post, "v1/leases/renew", new RenewLeaseBody(leaseId, increment), authenticate: true, cancellationToken);
    }

    /// <summary><c>POST /v1/leases/revoke</c>: revokes one lease.</summary>
    public virtual Task RevokeLeaseAsync(string leaseId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(leaseId);
        return SendNoContentAsync(HttpMethod.Post, "v1/leases/revoke", new LeaseIdBody(leaseId), cancellationToken);
    }

    /// <summary>
    /// <c>POST /v1/leases/revoke-prefix</c>: revokes every lease (this token may see) whose path starts with
    /// <paramref name="prefix"/>, and returns how many. An empty prefix is refused here: name what to revoke.
    /// </summary>
    public virtual async Task<long> RevokeLeasesByPrefixAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        return (await SendAsync<RevokedBody>(HttpMethod.Post, "v1/leases/revoke-prefix", new PrefixBody(prefix), authenticate: true, cancellationToken)
            .ConfigureAwait(false)).Revoked;
    }

    private sealed record LeaseList(IReadOnlyList<KeywardLease> Leases);

    private sealed record RenewLeaseBody(string LeaseId, TimeSpan Increment);

    private sealed record LeaseIdBody(string LeaseId);

    private sealed record PrefixBody(string Prefix);

    private sealed record RevokedBody(long Revoked);
}
