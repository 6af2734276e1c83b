namespace Keyward.Core.Errors;

/// <summary>
/// Every refusal the broker makes: an HTTP-style status, a stable machine <see cref="Code"/> (the contract clients
/// switch on) and a human detail. Details name ids, paths and limits, never a secret value or a token.
/// Build them through <see cref="KeywardErrors"/> so that messages live in one place.
/// </summary>
public sealed class KeywardException : Exception
{
    public KeywardException(int status, string code, string title, string detail)
        : base(detail)
    {
        Status = status;
        Code = code;
        Title = title;
    }

    public KeywardException()
        : this(500, "internal_error", "Internal error", "An internal error occurred.")
    {
    }

    public KeywardException(string message)
        : this(500, "internal_error", "Internal error", message)
    {
    }

    public KeywardException(string message, Exception innerException)
        : base(message, innerException)
    {
        Status = 500;
        Code = "internal_error";
        Title = "Internal error";
    }

    public int Status { get; }

    public string Code { get; }

    public string Title { get; }

    /// <summary>A non-secret fact for the audit record only, never sent to the caller (e.g. why a derived token failed).</summary>
    public string? AuditDetail { get; init; }

    /// <summary>
    /// A refusal whose operation's changes must still commit (a bootstrap replay revokes the leaked session and then
    /// answers 409): the group committer keeps its savepoint instead of rolling it back.
    /// </summary>
    public bool KeepsChanges { get; private set; }

    public KeywardException KeepingChanges()
    {
        KeepsChanges = true;
        return this;
    }

    /// <summary>
    /// A refusal for lack of rights answered as something else (a 404, exactly as if the thing did not exist), so that
    /// the caller learns nothing it may not know; it is still a denial outside the caller's rules for the audit record
    /// and the anomaly counting (<see cref="IsOutOfScope"/>).
    /// </summary>
    public bool ConcealedDenial { get; init; }

    /// <summary>Denials (authentication, authorization, lockdown) are audited as <c>denied</c>, the rest as <c>error</c>.</summary>
    public bool IsDenial => ConcealedDenial || Status is 401 or 403 or 423;

    /// <summary>A refusal for lack of rights (403, or a concealed one): an agent's is flagged <c>out_of_scope</c> and counted.</summary>
    public bool IsOutOfScope => ConcealedDenial || Status == 403;
}
