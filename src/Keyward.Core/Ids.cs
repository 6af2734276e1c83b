using System.Security.Cryptography;

namespace Keyward.Core;

/// <summary>Random identifiers. None of them is a secret; all are unguessable so that none can be enumerated.</summary>
public static class Ids
{
    /// <summary>A tenant's internal uid: 128 random bits, never reused, bound into every ciphertext.</summary>
    public static string NewTenantUid() => Hex(16);

    /// <summary>A token accessor: a non-secret handle for revocation and audit.</summary>
    public static string NewAccessor() => Hex(16);

    public static string NewRequestId() => Hex(8);

    public static string NewJobId() => "job_" + Hex(8);

    private static string Hex(int bytes)
    {
        Span<byte> buffer = stackalloc byte[bytes];
        RandomNumberGenerator.Fill(buffer);
        return Convert.ToHexStringLower(buffer);
    }
}
