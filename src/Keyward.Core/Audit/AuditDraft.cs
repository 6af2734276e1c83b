using Keyward.Core.Errors;

namespace Keyward.Core.Audit;

/// <summary>Who acted. Tokens are named by accessor, or — when a presented token is unknown — by a keyed hash.</summary>
public sealed record AuditActor(
    string Kind,
    string? AgentId = null,
    string? RunId = null,
    string? Role = null,
    string? Accessor = null,
    IReadOnlyList<string>? Chain = null,
    string? TokenHmac = null)
{
    public static readonly AuditActor Anonymous = new("anonymous");

    /// <summary>The id of the derived (<c>kwd_</c>) token that acted (see <see cref="Tokens.Derived.DerivedToken.IdOf"/>), or null.</summary>
    public string? DerivedId { get; init; }
}

/// <summary>
/// The audit record a request is building. It is committed exactly once: inside the same transaction as the
/// request's change for writes, or on its own (durably) before the response for reads and refusals.
/// </summary>
public sealed class AuditDraft
{
    public AuditDraft(string requestId, string operation)
    {
        RequestId = requestId;
        Operation = operation;
    }

    public string RequestId { get; }

    public string Operation { get; set; }

    public string? TenantId { get; set; }

    public AuditActor Actor { get; set; } = AuditActor.Anonymous;

    public string? Path { get; set; }

    public long? Version { get; set; }

    /// <summary>The secret's rotation epoch the operation saw or made (secret reads, writes, rotations).</summary>
    public long? Epoch { get; set; }

    /// <summary>Status to record if the operation succeeds (set by the endpoint).</summary>
    public int SuccessStatus { get; set; } = 200;

    public string Outcome { get; private set; } = "ok";

    public int Status { get; private set; } = 200;

    public string? Code { get; private set; }

    public string? Anomaly { get; set; }

    /// <summary>Events committed in the same transaction as this record, whatever the outcome (anomalies, refusals that revoke).</summary>
    public List<Events.EventRecord>? Events { get; private set; }

    public void AddEvent(Events.EventRecord record) => (Events ??= []).Add(record);

    /// <summary>Extra non-secret facts (counts, key versions, incident ids).</summary>
    public Dictionary<string, string>? Details { get; set; }

    /// <summary>
    /// The tenant check every change of this operation passes inside its transaction, before it runs (see
    /// <see cref="Tenants.TenantGate"/>): set from the caller's token when it authenticates, so that no write path of a
    /// tenant's token can forget it.
    /// </summary>
    public Tenants.TenantGate? Gate { get; set; }

    private const int Free = 0;
    private const int Queued = 1;
    private const int Written = 2;
    private int _state;

    /// <summary>
    /// Set once the record is durable. A draft is written at most once, by construction: the group committer takes it
    /// (<see cref="TryTake"/>) when it is queued, so a second queueing — while it waits, or after it was written — is
    /// refused, never a second record.
    /// </summary>
    public bool Committed => Volatile.Read(ref _state) == Written;

    /// <summary>Takes the draft for one commit; false if it is queued already or written.</summary>
    internal bool TryTake() => Interlocked.CompareExchange(ref _state, Queued, Free) == Free;

    /// <summary>The commit that took the draft wrote it.</summary>
    internal void MarkWritten() => Volatile.Write(ref _state, Written);

    /// <summary>The commit that took the draft wrote nothing of it (the batch failed, or the read goes again): it may be queued again.</summary>
    internal void Release() => Interlocked.CompareExchange(ref _state, Free, Queued);

    /// <summary>
    /// Set when the operation answered from a secret row this node cached from a shared store: the store's secret
    /// generation that row was read under. The record is then written only if the generation still is this when it
    /// commits; otherwise nothing is written and the operation fails with <see cref="StaleCachedReadException"/>, to be
    /// run again with <see cref="AvoidCachedRows"/>.
    /// </summary>
    public long? CachedRowGeneration { get; set; }

    /// <summary>Reads of this operation go to the store, not to cached rows (the run after a <see cref="StaleCachedReadException"/>).</summary>
    public bool AvoidCachedRows { get; private set; }

    /// <summary>
    /// Makes the draft ready for the operation's second run after <see cref="StaleCachedReadException"/>: nothing of the
    /// first run was written, so what it recorded is dropped; who called and what was asked for stay.
    /// </summary>
    public void RestartAvoidingCachedRows()
    {
        Version = null;
        Epoch = null;
        Anomaly = null;
        Events = null;
        Details = null;
        CachedRowGeneration = null;
        Succeeded();
        AvoidCachedRows = true;
    }

    public void Succeeded()
    {
        Outcome = "ok";
        Status = SuccessStatus;
        Code = null;
    }

    public void Failed(Exception exception)
    {
        if (exception is KeywardException keyward)
        {
            Outcome = keyward.IsDenial ? "denied" : "error";
            Status = keyward.Status;
            Code = keyward.Code;
            if (keyward.AuditDetail is { } detail)
            {
                AddDetail("refusal", detail);
            }
        }
        else
        {
            Outcome = "error";
            Status = 500;
            Code = "internal_error";
        }
    }

    public void AddDetail(string key, string value) => (Details ??= new(StringComparer.Ordinal))[key] = value;

    /// <summary>A count or version, written invariantly.</summary>
    public void AddDetail(string key, long value) => AddDetail(key, value.ToString(System.Globalization.CultureInfo.InvariantCulture));
}
