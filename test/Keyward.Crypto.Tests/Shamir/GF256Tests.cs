using Keyward.Crypto.Shamir;

namespace Keyward.Crypto.Tests.Shamir;

public sealed class GF256Tests
{
    /// <summary>Independent reference: carry-less (polynomial) multiply, then reduce modulo x^8 + x^4 + x^3 + x + 1.</summary>
    internal static byte ReferenceMultiply(byte a, byte b)
    {
        var product = 0;
        for (var i = 0; i < 8; i++)
        {
            if (((b >> i) & 1) != 0)
            {
                product ^= a << i;
            }
        }

        for (var bit = 14; bit >= 8; bit--)
        {
            if (((product >> bit) & 1) != 0)
            {
                product ^= 0x11B << (bit - 8);
            }
        }

        return (byte)product;
    }

    [Fact]
    public void Multiply_AllPairs_MatchesCarrylessReference()
    {
        for (var a = 0; a < 256; a++)
        {
            for (var b = 0; b < 256; b++)
            {
                var expected = ReferenceMultiply((byte)a, (byte)b);
                var actual = GF256.Multiply((byte)a, (byte)b);
                if (expected != actual)
                {
                    Assert.Fail($"0x{a:x2}·0x{b:x2}: expected 0x{expected:x2}, got 0x{actual:x2}");
                }
            }
        }
    }

    [Theory]
    [InlineData(0x53, 0xCA, 0x01)] // FIPS-197 §4.2: {53} and {CA} are inverses.
    [InlineData(0x57, 0x83, 0xC1)] // FIPS-197 §4.2 worked example.
    [InlineData(0x57, 0x13, 0xFE)] // FIPS-197 §4.2.1 worked example.
    [InlineData(0x02, 0x80, 0x1B)] // xtime of 0x80 reduces by 0x11B.
    [InlineData(0x01, 0xFF, 0xFF)]
    [InlineData(0x00, 0xFF, 0x00)]
    public void Multiply_AesFieldFacts_MatchFips197(int a, int b, int expected)
    {
        Assert.Equal((byte)expected, GF256.Multiply((byte)a, (byte)b));
        Assert.Equal((byte)expected, GF256.Multiply((byte)b, (byte)a));
    }

    [Fact]
    public void Inverse_EveryNonZeroValue_ProductIsOne()
    {
        for (var a = 1; a < 256; a++)
        {
            var inverse = GF256.Inverse((byte)a);
            Assert.True(ReferenceMultiply((byte)a, inverse) == 1, $"0x{a:x2}·0x{inverse:x2} != 1");
        }
    }

    [Fact]
    public void Inverse_KnownAesPair_Is0xCA()
    {
        Assert.Equal(0xCA, GF256.Inverse(0x53));
        Assert.Equal(0x53, GF256.Inverse(0xCA));
        Assert.Equal(0x01, GF256.Inverse(0x01));
    }

    [Fact]
    public void Inverse_Zero_IsZero()
    {
        Assert.Equal(0, GF256.Inverse(0));
    }

    [Fact]
    public void Divide_AllPairs_UndoesMultiply()
    {
        for (var a = 0; a < 256; a++)
        {
            for (var b = 1; b < 256; b++)
            {
                var quotient = GF256.Divide(ReferenceMultiply((byte)a, (byte)b), (byte)b);
                if (quotient != a)
                {
                    Assert.Fail($"(0x{a:x2}·0x{b:x2})/0x{b:x2} = 0x{quotient:x2}");
                }
            }
        }
    }

    [Fact]
    public void Divide_ByZero_Throws()
    {
        Assert.Throws<DivideByZeroException>(() => GF256.Divide(7, 0));
    }

    [Theory]
    [InlineData(0x00, 0x00, 0x00)]
    [InlineData(0x57, 0x83, 0xD4)] // FIPS-197 §4.1 addition example.
    [InlineData(0xFF, 0xFF, 0x00)]
    public void Add_IsXor(int a, int b, int expected)
    {
        Assert.Equal((byte)expected, GF256.Add((byte)a, (byte)b));
    }
}
