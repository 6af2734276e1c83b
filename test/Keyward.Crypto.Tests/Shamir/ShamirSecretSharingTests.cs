using System.Text;
using Keyward.Crypto.Shamir;

namespace Keyward.Crypto.Tests.Shamir;

public sealed class ShamirSecretSharingTests
{
    public static TheoryData<int, int> Schemes => new()
    {
        { 1, 1 },
        { 2, 2 },
        { 3, 2 },
        { 5, 3 },
        { 6, 4 },
        { 7, 7 },
    };

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Combine_EveryThresholdOrLargerSubset_ReturnsSecret(int shares, int threshold)
    {
        for (var seed = 1; seed <= 20; seed++)
        {
            // Arrange
            var random = new Random(seed);
            var secret = RandomBytes(random, 32);
            var split = ShamirSecretSharing.Split(secret, shares, threshold, span => random.NextBytes(span));

            // Act + Assert: every subset of at least threshold shares, in given and reversed order.
            var subsets = 0;
            foreach (var subset in Subsets(split.Count).Where(s => s.Count >= threshold))
            {
                var chosen = subset.Select(i => split[i]).ToList();
                AssertBytes(secret, ShamirSecretSharing.Combine(chosen), $"seed {seed}, ({shares},{threshold}), subset {Describe(subset)}");
                chosen.Reverse();
                AssertBytes(secret, ShamirSecretSharing.Combine(chosen), $"seed {seed}, ({shares},{threshold}), reversed subset {Describe(subset)}");
                subsets++;
            }

            Assert.Equal(Enumerable.Range(threshold, shares - threshold + 1).Sum(k => Binomial(shares, k)), subsets);
        }
    }

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Combine_FewerThanThreshold_ReconstructsADifferentValue(int shares, int threshold)
    {
        if (threshold == 1)
        {
            return; // No non-empty subset is below the threshold.
        }

        for (var seed = 1; seed <= 200; seed++)
        {
            var random = new Random(seed);
            var secret = RandomBytes(random, 32);
            var split = ShamirSecretSharing.Split(secret, shares, threshold, span => random.NextBytes(span));

            foreach (var subset in Subsets(split.Count).Where(s => s.Count is > 0 && s.Count < threshold))
            {
                var combined = ShamirSecretSharing.Combine(subset.Select(i => split[i]).ToList());
                Assert.False(combined.AsSpan().SequenceEqual(secret), $"seed {seed}, ({shares},{threshold}): subset {Describe(subset)} below the threshold reconstructed the secret");
            }
        }
    }

    [Fact]
    public void Split_RandomCoefficients_MatchReferencePolynomialEvaluation()
    {
        for (var seed = 1; seed <= 300; seed++)
        {
            // Arrange: record every coefficient handed out, then evaluate independently.
            var random = new Random(seed);
            var threshold = random.Next(1, 9);
            var shares = random.Next(threshold, 12);
            var secret = RandomBytes(random, random.Next(1, 40));
            var handedOut = new List<byte[]>();

            // Act
            var split = ShamirSecretSharing.Split(secret, shares, threshold, span =>
            {
                random.NextBytes(span);
                handedOut.Add(span.ToArray());
            });

            // Assert
            Assert.True(secret.Length == handedOut.Count, $"seed {seed}: one coefficient draw per secret byte");
            Assert.True(shares == split.Count, $"seed {seed}: share count");
            for (var i = 0; i < shares; i++)
            {
                Assert.True(split[i].X == i + 1, $"seed {seed}: share {i} has x {split[i].X}");
                for (var b = 0; b < secret.Length; b++)
                {
                    var coefficients = new byte[threshold];
                    coefficients[0] = secret[b];
                    handedOut[b].CopyTo(coefficients, 1);
                    var expected = ReferenceEvaluate(coefficients, split[i].X);
                    Assert.True(expected == split[i].Y[b], $"seed {seed}: share x={split[i].X} byte {b}: expected 0x{expected:x2}, got 0x{split[i].Y[b]:x2}");
                }
            }
        }
    }

    [Theory]
    [InlineData(3, 2, new[] { "eed3beaf88886f", "1a12ecdca89d72", "bfa42b04416779" })]
    [InlineData(5, 3, new[] { "587a6a60725d97", "f4bd7511c377b8", "e7a26606d0584b", "7c7bc980180f43", "6f64da970b20b0" })]
    public void Split_FixedCoefficients_ProducesPinnedShares(int shares, int threshold, string[] expectedHex)
    {
        // Arrange: "Keyward" with coefficients (0xA5 + 17·i) mod 256 handed out in order. The expected shares were
        // computed outside .NET (Python, schoolbook GF(2^8)) and are kept as regression anchors.
        var secret = Encoding.ASCII.GetBytes("Keyward");
        var next = 0;

        // Act
        var split = ShamirSecretSharing.Split(secret, shares, threshold, span =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = (byte)(0xA5 + (17 * next++));
            }
        });

        // Assert
        Assert.Equal(expectedHex, split.Select(s => Convert.ToHexStringLower(s.Y)).ToArray());
        Assert.Equal(Enumerable.Range(1, shares).Select(x => (byte)x), split.Select(s => s.X));

        // The same vectors, checked against the in-test reference evaluation.
        next = 0;
        for (var b = 0; b < secret.Length; b++)
        {
            var coefficients = new byte[threshold];
            coefficients[0] = secret[b];
            for (var c = 1; c < threshold; c++)
            {
                coefficients[c] = (byte)(0xA5 + (17 * next++));
            }

            for (var i = 0; i < shares; i++)
            {
                Assert.Equal(ReferenceEvaluate(coefficients, (byte)(i + 1)), split[i].Y[b]);
            }
        }
    }

    [Theory]
    [InlineData("02:1a12ecdca89d72", "03:bfa42b04416779")]
    [InlineData("03:bfa42b04416779", "01:eed3beaf88886f")]
    [InlineData("05:6f64da970b20b0", "01:587a6a60725d97", "03:e7a26606d0584b")]
    [InlineData("02:f4bd7511c377b8", "04:7c7bc980180f43", "05:6f64da970b20b0")]
    [InlineData("01:587a6a60725d97", "02:f4bd7511c377b8", "03:e7a26606d0584b", "04:7c7bc980180f43", "05:6f64da970b20b0")]
    public void Combine_PinnedShares_ReturnsKeyward(params string[] shares)
    {
        var parsed = shares.Select(s => (Convert.ToByte(s[..2], 16), Convert.FromHexString(s[3..]))).ToList();

        var secret = ShamirSecretSharing.Combine(parsed);

        Assert.Equal("Keyward", Encoding.ASCII.GetString(secret));
    }

    [Fact]
    public void Split_ThresholdOne_EveryShareIsTheSecret()
    {
        var secret = Convert.FromHexString("00112233445566778899aabbccddeeff");

        var split = ShamirSecretSharing.Split(secret, 4, 1);

        Assert.All(split, s => Assert.Equal(secret, s.Y));
    }

    [Fact]
    public void Split_PublicOverload_SharesReconstructAndDifferAcrossCalls()
    {
        var secret = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

        var first = ShamirSecretSharing.Split(secret, 5, 3);
        var second = ShamirSecretSharing.Split(secret, 5, 3);

        AssertBytes(secret, ShamirSecretSharing.Combine([first[0], first[2], first[4]]), "first split");
        AssertBytes(secret, ShamirSecretSharing.Combine([second[1], second[3], second[4]]), "second split");
        Assert.NotEqual(first[0].Y, second[0].Y);
    }

    [Fact]
    public void Split_MaxShares_AllXDistinctAndNonZero()
    {
        var secret = new byte[] { 0x42 };

        var split = ShamirSecretSharing.Split(secret, ShamirSecretSharing.MaxShares, 2);

        Assert.Equal(255, split.Select(s => s.X).Distinct().Count());
        Assert.DoesNotContain(split, s => s.X == 0);
        AssertBytes(secret, ShamirSecretSharing.Combine([split[0], split[254]]), "x=1 and x=255");
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(3, 0)]
    [InlineData(2, 3)]
    [InlineData(256, 2)]
    [InlineData(-1, 1)]
    public void Split_InvalidSharesOrThreshold_Throws(int shares, int threshold)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ShamirSecretSharing.Split(new byte[] { 1, 2, 3 }, shares, threshold));
    }

    [Fact]
    public void Split_EmptySecret_Throws()
    {
        Assert.Throws<ArgumentException>(() => ShamirSecretSharing.Split(ReadOnlySpan<byte>.Empty, 3, 2));
    }

    [Fact]
    public void Combine_DuplicateX_Throws()
    {
        var split = ShamirSecretSharing.Split(new byte[] { 1, 2, 3 }, 3, 2);

        var error = Assert.Throws<ArgumentException>(() => ShamirSecretSharing.Combine([split[0], split[1], split[0]]));

        Assert.Contains("same x", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Combine_DuplicateXWithDifferentY_Throws()
    {
        Assert.Throws<ArgumentException>(() => ShamirSecretSharing.Combine([(2, new byte[] { 1 }), (2, new byte[] { 9 })]));
    }

    [Fact]
    public void Combine_XZero_Throws()
    {
        var split = ShamirSecretSharing.Split(new byte[] { 1, 2, 3 }, 3, 2);

        Assert.Throws<ArgumentException>(() => ShamirSecretSharing.Combine([split[0], (0, new byte[] { 1, 2, 3 })]));
    }

    [Fact]
    public void Combine_MismatchedLengths_Throws()
    {
        var split = ShamirSecretSharing.Split(new byte[] { 1, 2, 3 }, 3, 2);

        Assert.Throws<ArgumentException>(() => ShamirSecretSharing.Combine([split[0], (split[1].X, split[1].Y[..2])]));
        Assert.Throws<ArgumentException>(() => ShamirSecretSharing.Combine([(split[1].X, split[1].Y[..2]), split[0]]));
    }

    [Fact]
    public void Combine_NoShares_Throws()
    {
        Assert.Throws<ArgumentException>(() => ShamirSecretSharing.Combine([]));
        Assert.Throws<ArgumentNullException>(() => ShamirSecretSharing.Combine(null!));
    }

    private static byte ReferenceEvaluate(byte[] coefficients, byte x)
    {
        // Σ c_i · x^i with the schoolbook multiply, no Horner, no shared code with the implementation.
        byte result = 0;
        byte power = 1;
        foreach (var c in coefficients)
        {
            result ^= GF256Tests.ReferenceMultiply(c, power);
            power = GF256Tests.ReferenceMultiply(power, x);
        }

        return result;
    }

    private static IEnumerable<List<int>> Subsets(int n)
    {
        for (var mask = 1; mask < 1 << n; mask++)
        {
            var subset = new List<int>();
            for (var i = 0; i < n; i++)
            {
                if ((mask & (1 << i)) != 0)
                {
                    subset.Add(i);
                }
            }

            yield return subset;
        }
    }

    private static int Binomial(int n, int k)
    {
        var result = 1;
        for (var i = 1; i <= k; i++)
        {
            result = result * (n - k + i) / i;
        }

        return result;
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static string Describe(List<int> subset) => "{" + string.Join(",", subset.Select(i => i + 1)) + "}";

    private static void AssertBytes(byte[] expected, byte[] actual, string context) =>
        Assert.True(expected.AsSpan().SequenceEqual(actual), $"{context}: expected {Convert.ToHexStringLower(expected)}, got {Convert.ToHexStringLower(actual)}");
}
