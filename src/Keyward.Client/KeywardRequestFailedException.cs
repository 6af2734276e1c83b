namespace Keyward.Client;

/// <summary>
/// The one exception the SDK throws for a request that did not succeed. <see cref="Status"/> is the HTTP status
/// (0 when no answer came: <see cref="ErrorCode"/> is then <c>connection_failed</c> or <c>timeout</c>);
/// <see cref="ErrorCode"/> is the problem document's stable <c>code</c> (<c>cas_mismatch</c>, <c>token_expired</c>, ...)
/// to switch on, and <see cref="Exception.Message"/> its human <c>detail</c>. Messages never contain a token or a
/// secret value.
/// </summary>
public sealed class KeywardRequestFailedException : Exception
{
    /// <summary>The code for a server that could not be reached.</summary>
    public const string ConnectionFailedCode = "connection_failed";

    /// <summary>The code for a request that exceeded <see cref="KeywardClientOptions.Timeout"/>.</summary>
    public const string TimeoutCode = "timeout";

    public KeywardRequestFailedException(int status, string errorCode, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Status = status;
        ErrorCode = errorCode;
    }

    public KeywardRequestFailedException()
        : this(0, "unknown", "The request failed.")
    {
    }

    public KeywardRequestFailedException(string message)
        : this(0, "unknown", message)
    {
    }

    public KeywardRequestFailedException(string message, Exception innerException)
        : this(0, "unknown", message, innerException)
    {
    }

    /// <summary>The HTTP status of the answer, or 0 when there was none.</summary>
    public int Status { get; }

    /// <summary>The stable machine code of the problem (<c>code</c> in the problem document).</summary>
    public string ErrorCode { get; }

    /// <summary>The <c>X-Request-Id</c> the server gave the request, to find it in the server log and audit.</summary>
    public string? RequestId { get; init; }
}
