using Keyward.Crypto.Shamir;

namespace Keyward.Crypto.Tests.Shamir;

public sealed class KeyShareTests
{
    private const int SecretLength = 32;

    [Fact]
    public void Encode_ThenTryParse_RoundTrips()
    {
        var random = new Random(7);
        for (var i = 0; i < 200; i++)
        {
            // Arrange
            var y = new byte[SecretLength];
            random.NextBytes(y);
            var setId = (uint)random.NextInt64(0, uint.MaxValue + 1L);
            var x = (byte)random.Next(1, 256);
            using var share = new KeyShare(setId, x, y.ToArray());

            // Act
            var ok = KeyShare.TryParse(share.Encode(), SecretLength, out var parsed, out var reason);

            // Assert
            Assert.True(ok, $"case {i}: {reason}");
            Assert.Null(reason);
            Assert.Equal(setId, parsed!.SetId);
            Assert.Equal(x, parsed.X);
            Assert.Equal(y, parsed.Y);
        }
    }

    [Fact]
    public void Encode_Layout_IsFormatSetIdXThenY()
    {
        var y = Enumerable.Range(0, SecretLength).Select(i => (byte)(i + 100)).ToArray();
        using var share = new KeyShare(0x01020304, 9, y);

        var bytes = Convert.FromBase64String(share.Encode());

        Assert.Equal(6 + SecretLength, bytes.Length);
        Assert.Equal(new byte[] { KeyShare.FormatVersion, 0x01, 0x02, 0x03, 0x04, 9 }, bytes[..6]);
        Assert.Equal(y, bytes[6..]);
    }

    [Fact]
    public void TryParse_SurroundingWhitespace_IsAccepted()
    {
        using var share = new KeyShare(5, 3, new byte[SecretLength]);

        Assert.True(KeyShare.TryParse("  " + share.Encode() + "\n", SecretLength, out var parsed, out _));
        Assert.Equal(3, parsed!.X);
    }

    public static TheoryData<string?, string> Refusals()
    {
        var good = Layout(KeyShare.FormatVersion, 0xCAFEBABE, 7, SecretLength);
        return new TheoryData<string?, string>
        {
            { null, "empty" },
            { "", "empty" },
            { "   ", "empty" },
            { "Zx9!QqW7%sekr1tish$$Kp0LmN=", "base64" },
            { "QUJD%%%=", "base64" },
            { Convert.ToBase64String(good[..^1]), "length" },
            { Convert.ToBase64String([.. good, 0x00]), "length" },
            { Convert.ToBase64String([.. good, 1, 2, 3, 4, 5, 6, 7, 8]), "length" },
            { Convert.ToBase64String(Layout(2, 0xCAFEBABE, 7, SecretLength)), "format" },
            { Convert.ToBase64String(Layout(0, 0xCAFEBABE, 7, SecretLength)), "format" },
            { Convert.ToBase64String(Layout(KeyShare.FormatVersion, 0xCAFEBABE, 0, SecretLength)), "malformed" },
        };
    }

    [Theory]
    [MemberData(nameof(Refusals))]
    public void TryParse_BadInput_RefusesWithReasonThatNeverEchoesIt(string? input, string expectedReason)
    {
        var ok = KeyShare.TryParse(input, SecretLength, out var share, out var reason);

        Assert.False(ok);
        Assert.Null(share);
        Assert.NotNull(reason);
        Assert.Contains(expectedReason, reason, StringComparison.Ordinal);
        if (!string.IsNullOrWhiteSpace(input))
        {
            // No run of 6 characters of the input appears in the reason.
            for (var i = 0; i + 6 <= input.Length; i++)
            {
                Assert.DoesNotContain(input.Substring(i, 6), reason, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void ToString_NeverShowsY()
    {
        var y = Enumerable.Repeat((byte)0xAB, SecretLength).ToArray();
        using var share = new KeyShare(0x10, 2, y);

        var text = share.ToString();

        Assert.Contains("redacted", text, StringComparison.Ordinal);
        Assert.DoesNotContain("abab", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(Convert.ToBase64String(y)[..8], text, StringComparison.Ordinal);
    }

    [Fact]
    public void Dispose_ZeroesY()
    {
        var y = Enumerable.Repeat((byte)0x5A, SecretLength).ToArray();
        var share = new KeyShare(1, 1, y);

        share.Dispose();

        Assert.All(y, b => Assert.Equal(0, b));
    }

    private static byte[] Layout(byte format, uint setId, byte x, int yLength)
    {
        var bytes = new byte[6 + yLength];
        bytes[0] = format;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(1), setId);
        bytes[5] = x;
        for (var i = 0; i < yLength; i++)
        {
            bytes[6 + i] = (byte)(0x30 + i);
        }

        return bytes;
    }
}
