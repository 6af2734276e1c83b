namespace Keyward.Crypto.Shamir;

/// <summary>
/// Arithmetic in GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1 (0x11B). Multiplication and inversion
/// use no tables and no data-dependent branches, so reconstructing the root key leaks nothing through timing
/// or cache lines.
/// </summary>
internal static class GF256
{
    public static byte Add(byte a, byte b) => (byte)(a ^ b);

    public static byte Multiply(byte a, byte b)
    {
        int product = 0;
        int multiplicand = a;
        int multiplier = b;
        for (var i = 0; i < 8; i++)
        {
            product ^= multiplicand & -(multiplier & 1);
            multiplier >>= 1;
            var carry = -((multiplicand >> 7) & 1);
            multiplicand = ((multiplicand << 1) ^ (0x1B & carry)) & 0xFF;
        }

        return (byte)product;
    }

    /// <summary>a^254 = a^-1 for a ≠ 0 (and 0 for 0), by a fixed square-and-multiply sequence.</summary>
    public static byte Inverse(byte a)
    {
        // 254 = 0b1111_1110: square seven times, multiplying in every power from a^2 to a^128.
        byte power = a;
        byte result = 1;
        for (var bit = 1; bit < 8; bit++)
        {
            power = Multiply(power, power);
            result = Multiply(result, power);
        }

        return result;
    }

    public static byte Divide(byte a, byte b)
    {
        if (b == 0)
        {
            throw new DivideByZeroException("Division by zero in GF(2^8).");
        }

        return Multiply(a, Inverse(b));
    }
}
