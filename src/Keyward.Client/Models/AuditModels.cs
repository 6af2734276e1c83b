namespace Keyward.Client.Models;

/// <summary>Filters of an audit read. Records come in ascending <c>seq</c> after <see cref="After"/>.</summary>
public sealed record AuditQuery
{
    /// <summary>Only records with a greater seq (pass the previous page's <see cref="AuditPage.Next"/>).</summary>
    public long? After { get; init; }

    /// <summary>Page size; the server defaults to 100 and clamps to [1, 1000].</summary>
    public int? Limit { get; init; }

    /// <summary>Only records of this agent.</summary>
    public string? AgentId { get; init; }

    /// <summary>Only records about this secret path.</summary>
    public string? Path { get; init; }
}

/// <summary>One page of audit records; <see cref="Next"/> is null at the end.</summary>
public sealed record AuditPage(IReadOnlyList<AuditRecord> Records, long? Next);

/// <summary>Who made an audited request.</summary>
public sealed record AuditActor(
    string Kind, string? AgentId, string? RunId, string? Role, string? Accessor, IReadOnlyList<string>? Chain, string? TokenHmac);

/// <summary>One record of the tamper-evident audit chain. It never holds a secret value or a token.</summary>
public sealed record AuditRecord(
    long Seq,
    DateTimeOffset Time,
    string? Tenant,
    AuditActor Actor,
    string Operation,
    string? Path,
    long? Version,
    string Outcome,
    int Status,
    string? Code,
    string? Anomaly,
    string RequestId,
    IReadOnlyDictionary<string, string>? Details,
    string Hash,
    string PrevHash);
