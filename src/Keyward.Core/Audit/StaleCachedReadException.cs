namespace Keyward.Core.Audit;

/// <summary>
/// An operation answered from a cached secret row, and the shared store's secret generation had moved by the time its
/// audit record was to commit: another node may have changed the row. Nothing of the operation was written; the
/// request runs it again reading the store (<see cref="AuditDraft.RestartAvoidingCachedRows"/>). Never reaches a client.
/// </summary>
public sealed class StaleCachedReadException : Exception
{
    public StaleCachedReadException()
        : base("A cached secret row may be stale; the read is done again from the store.")
    {
    }

    public StaleCachedReadException(string message)
        : base(message)
    {
    }

    public StaleCachedReadException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
