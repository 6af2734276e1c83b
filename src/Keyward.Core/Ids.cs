using System.Security.Cryptography;

namespace Keyward.Core;

/// <summary>Random identifiers. None of them is a secret; all are unguessable so that none can be enumerated.</summary>
public static class Ids
{
    /// <summary>A tenant's internal uid: 128 random bits, never reused, bound into every ciphertext.</summary>
    public static string NewTenantUid() => Hex(16);

    /// <summary>A token accessor: a non-secret handle for revocation and audit.</summary>
    public static string NewAccessor() => Hex(16);

    /// <summary>
    /// Unique, not secret: a random per-process prefix and a counter (no CSPRNG call on every request). Sixteen hex
    /// characters, like the random ids.
    /// </summary>
    public static string NewRequestId()
    {
        var n = Interlocked.Increment(ref _requestCounter);
        return string.Create(16, n, static (span, value) =>
        {
            RequestPrefix.AsSpan().CopyTo(span);
            ((ulong)value & 0xFF_FFFF_FFFF).TryFormat(span[6..], out _, "x10", System.Globalization.CultureInfo.InvariantCulture);
        });
    }

    private static readonly string RequestPrefix = Hex(3);
    private static long _requestCounter;

    public static string NewJobId() => "job_" + Hex(8);

    /// <summary>The last segment of a lease id: 128 random bits.</summary>
    public static string NewLeaseSuffix() => Hex(16);

    public static string NewIncidentId() => "inc_" + Hex(8);

    private static string Hex(int bytes)
    {
        Span<byte> buffer = stackalloc byte[bytes];
        RandomNumberGenerator.Fill(buffer);
        return Convert.ToHexStringLower(buffer);
    }
}
