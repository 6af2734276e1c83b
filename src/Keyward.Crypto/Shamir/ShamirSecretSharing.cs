using System.Security.Cryptography;

namespace Keyward.Crypto.Shamir;

/// <summary>
/// Shamir's secret sharing over GF(2^8), byte by byte: a random polynomial of degree threshold − 1 per byte whose
/// constant term is the secret byte, evaluated at x = 1..shares. Any threshold shares reconstruct the secret by
/// Lagrange interpolation at 0; fewer reveal nothing about it.
/// </summary>
public static class ShamirSecretSharing
{
    /// <summary>x is one byte and 0 is the secret itself, so at most 255 shares exist.</summary>
    public const int MaxShares = 255;

    public static IReadOnlyList<(byte X, byte[] Y)> Split(ReadOnlySpan<byte> secret, int shares, int threshold)
        => Split(secret, shares, threshold, RandomNumberGenerator.Fill);

    /// <summary>Split with an explicit source of coefficients, so known-answer tests can fix them.</summary>
    internal static IReadOnlyList<(byte X, byte[] Y)> Split(
        ReadOnlySpan<byte> secret, int shares, int threshold, SpanAction fillRandom)
    {
        if (secret.IsEmpty)
        {
            throw new ArgumentException("The secret is empty.", nameof(secret));
        }

        if (threshold < 1 || shares < threshold || shares > MaxShares)
        {
            throw new ArgumentOutOfRangeException(
                nameof(threshold), $"Need 1 <= threshold <= shares <= {MaxShares}; got threshold {threshold}, shares {shares}.");
        }

        var result = new (byte X, byte[] Y)[shares];
        for (var i = 0; i < shares; i++)
        {
            result[i] = ((byte)(i + 1), new byte[secret.Length]);
        }

        var coefficients = new byte[threshold];
        try
        {
            for (var b = 0; b < secret.Length; b++)
            {
                coefficients[0] = secret[b];
                fillRandom(coefficients.AsSpan(1));
                for (var i = 0; i < shares; i++)
                {
                    result[i].Y[b] = Evaluate(coefficients, result[i].X);
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(coefficients);
        }

        return result;
    }

    /// <summary>Reconstructs the secret from distinct shares. Wrong shares give a wrong secret, never an error:
    /// callers check the result against a stored check value.</summary>
    public static byte[] Combine(IReadOnlyList<(byte X, byte[] Y)> shares)
    {
        ArgumentNullException.ThrowIfNull(shares);
        if (shares.Count == 0)
        {
            throw new ArgumentException("At least one share is needed.", nameof(shares));
        }

        var length = shares[0].Y.Length;
        var seen = new bool[256];
        foreach (var (x, y) in shares)
        {
            if (x == 0)
            {
                throw new ArgumentException("A share with x = 0 would be the secret itself.", nameof(shares));
            }

            if (seen[x])
            {
                throw new ArgumentException($"Two shares have the same x ({x}).", nameof(shares));
            }

            seen[x] = true;
            if (y.Length != length)
            {
                throw new ArgumentException("Shares differ in length.", nameof(shares));
            }
        }

        // Lagrange basis at 0: l_i(0) = Π_{j≠i} x_j / (x_j − x_i); in GF(2^8) subtraction is XOR.
        var basis = new byte[shares.Count];
        for (var i = 0; i < shares.Count; i++)
        {
            byte numerator = 1;
            byte denominator = 1;
            for (var j = 0; j < shares.Count; j++)
            {
                if (i == j)
                {
                    continue;
                }

                numerator = GF256.Multiply(numerator, shares[j].X);
                denominator = GF256.Multiply(denominator, GF256.Add(shares[j].X, shares[i].X));
            }

            basis[i] = GF256.Divide(numerator, denominator);
        }

        var secret = new byte[length];
        for (var b = 0; b < length; b++)
        {
            byte value = 0;
            for (var i = 0; i < shares.Count; i++)
            {
                value = GF256.Add(value, GF256.Multiply(shares[i].Y[b], basis[i]));
            }

            secret[b] = value;
        }

        return secret;
    }

    private static byte Evaluate(ReadOnlySpan<byte> coefficients, byte x)
    {
        // Horner's rule from the highest coefficient down.
        byte value = 0;
        for (var i = coefficients.Length - 1; i >= 0; i--)
        {
            value = GF256.Add(GF256.Multiply(value, x), coefficients[i]);
        }

        return value;
    }

    internal delegate void SpanAction(Span<byte> destination);
}
