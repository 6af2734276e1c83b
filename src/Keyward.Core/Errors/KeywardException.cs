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
    /// What kind of refusal this is, said by the error that was built (<see cref="KeywardErrors"/>), never read from the
    /// status: a concealed denial, for one, answers 404 exactly like a missing thing and is still a denial.
    /// </summary>
    public RefusalKind Kind { get; init; }

    /// <summary>Denials (authentication, authorization, lockdown) are audited as <c>denied</c>, the rest as <c>error</c>.</summary>
    public bool IsDenial => Kind is RefusalKind.Denied or RefusalKind.OutOfScope;

    /// <summary>A refusal for lack of rights: an agent's is flagged <c>out_of_scope</c> and counted.</summary>
    public bool IsOutOfScope => Kind == RefusalKind.OutOfScope;
}

/// <summary>What a refusal means for the audit record and the anomaly rules.</summary>
public enum RefusalKind
{
    /// <summary>Bad input, a conflict, a failure: audited <c>error</c>.</summary>
    Error,

    /// <summary>Who the caller is does not let it in (no, invalid, expired or revoked token; a locked tenant): audited <c>denied</c>.</summary>
    Denied,

    /// <summary>
    /// The caller's rights do not reach this (a 403, or a concealed one answered as 404): audited <c>denied</c>, and an
    /// agent's is flagged <c>out_of_scope</c> and counted against it.
    /// </summary>
    OutOfScope,
}

/// <summary>
/// A refusal whose operation's changes must still commit (a bootstrap replay revokes the leaked session and then answers
/// 409): thrown from an operation's work, it tells the group committer to keep the operation's savepoint; the caller then
/// gets <see cref="Refusal"/>.
/// </summary>
public sealed class RefusalKeepingChanges : Exception
{
    public RefusalKeepingChanges(KeywardException refusal)
        : base(refusal?.Message, refusal)
    {
        Refusal = refusal ?? throw new ArgumentNullException(nameof(refusal));
    }

    public RefusalKeepingChanges()
        : this(new KeywardException())
    {
    }

    public RefusalKeepingChanges(string message)
        : this(new KeywardException(message))
    {
    }

    public RefusalKeepingChanges(string message, Exception innerException)
        : this(new KeywardException(message, innerException))
    {
    }

    public KeywardException Refusal { get; }
}
