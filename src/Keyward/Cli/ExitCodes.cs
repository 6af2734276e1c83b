namespace Keyward.Cli.Cli;

/// <summary>Exit codes scripts can rely on. A public contract: add, never renumber.</summary>
internal static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>The server refused the request (a 4xx other than 404).</summary>
    public const int Refused = 1;

    /// <summary>Bad command line or start-up options.</summary>
    public const int Usage = 2;

    /// <summary>Not found (404).</summary>
    public const int NotFound = 3;

    /// <summary>The server could not be reached, is sealed, or failed (5xx).</summary>
    public const int Unavailable = 4;

    /// <summary>A verification found a problem (audit chain broken).</summary>
    public const int VerificationFailed = 5;
}
