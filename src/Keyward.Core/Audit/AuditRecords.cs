namespace Keyward.Core.Audit;

/// <summary>
/// A committed audit record as stored: <see cref="Body"/> is the canonical JSON the chain hash covers
/// (hash = HMAC-SHA256(K_audit, prev_hash ‖ body)). The other columns are indexes for filtering and are
/// checked against the body by verification.
/// </summary>
public sealed record AuditEntry(
    long Seq,
    string? TenantId,
    DateTimeOffset Time,
    string? AgentId,
    string? Path,
    byte[] Body,
    byte[] PrevHash,
    byte[] Hash);

/// <summary>
/// The newest record of the chain: where the next record links to. <see cref="Mac"/> is the group committer's MAC over
/// {seq, hash} (<see cref="AuditChain.HeadMac"/>), written with every head, so that a head row rewritten to hide a cut
/// tail does not verify; null on a head not MAC'd yet (before the commit that writes it, or in a store last written by
/// a version without head MACs).
/// </summary>
public readonly record struct AuditHead(long Seq, byte[] Hash, byte[]? Mac = null)
{
    public static AuditHead Genesis => new(0, new byte[32]);
}

/// <summary>
/// A MAC'd statement "the chain had reached {seq, hash}", written every 1,000 records or 10 s to the store and
/// to the server log, so that cutting off the newest records is detected.
/// </summary>
public sealed record AuditCheckpoint(long Seq, byte[] Hash, DateTimeOffset Time, byte[] Mac);

/// <summary>Filters for a tenant's audit reads.</summary>
public sealed record AuditQuery(string? TenantId, long After, int Limit, string? AgentId, string? Path);

/// <summary>Storage port for the audit chain.</summary>
public interface IAuditStore
{
    /// <summary>The chain head, read inside the write transaction (a shared store locks the row).</summary>
    Task<AuditHead> GetHeadAsync(CancellationToken cancellationToken = default);

    /// <summary>Sets the chain head: its seq, hash and MAC (<see cref="AuditHead.Mac"/>, NULL when null).</summary>
    Task SetHeadAsync(AuditHead head, CancellationToken cancellationToken = default);

    /// <summary>Appends records in the order given (a group commit hands over its whole batch at once).</summary>
    Task AppendAsync(IReadOnlyList<AuditEntry> entries, CancellationToken cancellationToken = default);

    /// <summary>Records in ascending seq after <see cref="AuditQuery.After"/>, filtered.</summary>
    Task<IReadOnlyList<AuditEntry>> QueryAsync(AuditQuery query, CancellationToken cancellationToken = default);

    Task AppendCheckpointAsync(AuditCheckpoint checkpoint, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<AuditCheckpoint>> ListCheckpointsAsync(CancellationToken cancellationToken = default);
}
