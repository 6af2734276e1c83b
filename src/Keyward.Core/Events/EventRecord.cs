namespace Keyward.Core.Events;

/// <summary>
/// One entry of the event table, written in the same transaction as the change it reports. Ids increase
/// monotonically (a stream resumes with <c>Last-Event-ID</c>). <see cref="Data"/> is JSON that never carries a secret
/// value or a token. <see cref="SubjectAccessor"/> names the token the event is about (the root of a revoked subtree,
/// a lease's owner), so that non-admin subscribers see only events of their own subtree.
/// </summary>
public sealed record EventRecord(
    long Id,
    string TenantUid,
    string Type,
    string? Path,
    string? SubjectAccessor,
    string Data,
    DateTimeOffset Time);

/// <summary>Event types of API.md (the stream of the rotation issue serves them).</summary>
public static class EventTypes
{
    public const string SecretWritten = "secret.written";
    public const string SecretRotated = "secret.rotated";
    public const string SecretDeleted = "secret.deleted";
    public const string TokenRevoked = "token.revoked";
    public const string LeaseRevoked = "lease.revoked";
    public const string TenantLockdown = "tenant.lockdown";
    public const string TenantUnlocked = "tenant.unlocked";
    public const string Anomaly = "anomaly";
}

/// <summary>Storage port for events.</summary>
public interface IEventStore
{
    /// <summary>Appends an event (its id is assigned by the store) and returns the id.</summary>
    Task<long> AppendAsync(EventRecord record, CancellationToken cancellationToken = default);

    /// <summary>A tenant's events with id greater than <paramref name="afterId"/>, ascending.</summary>
    Task<IReadOnlyList<EventRecord>> ListAsync(string tenantUid, long afterId, int limit, CancellationToken cancellationToken = default);

    /// <summary>The smallest id still stored (null when the table is empty).</summary>
    Task<long?> OldestIdAsync(CancellationToken cancellationToken = default);

    /// <summary>The largest id ever assigned, stored or pruned since (0 when none was).</summary>
    Task<long> LatestIdAsync(CancellationToken cancellationToken = default);

    /// <summary>Deletes at most <paramref name="limit"/> events older than <paramref name="before"/>; returns how many.</summary>
    Task<int> PruneAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default);
}
