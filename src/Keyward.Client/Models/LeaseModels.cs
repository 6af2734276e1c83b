namespace Keyward.Client.Models;

/// <summary>A lease: something handed out with a lifetime, owned by the token that asked for it (<see cref="Engine"/> issued it).</summary>
public sealed record KeywardLease(
    string LeaseId, string Path, string OwnerAccessor, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt, bool Renewable, DateTimeOffset? RevokedAt, string? Engine = null);

/// <summary>The answer to <c>POST /v1/leases/renew</c>: the lease's new expiry and remaining lifetime.</summary>
public sealed record LeaseRenewal(string LeaseId, DateTimeOffset ExpiresAt, TimeSpan LeaseDuration);
