using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Keyward.Gateway.Scrubbing;
using Xunit.Abstractions;

namespace Keyward.Gateway.Tests.Scrubbing;

public sealed class EchoScrubberTests(ITestOutputHelper output)
{
    private const string Secret = "sk-live-4f9a0c1e7b2d";
    private const string Redacted = EchoNeedles.Replacement;

    private static readonly EchoNeedles Needles = new(Encoding.UTF8.GetBytes(Secret));

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static string OneShot(EchoNeedles needles, byte[] body, out int replaced)
    {
        var writer = new ArrayBufferWriter<byte>();
        var scrubber = needles.CreateScrubber();
        scrubber.Write(body, writer);
        scrubber.Flush(writer);
        replaced = scrubber.Replaced;
        return Encoding.UTF8.GetString(writer.WrittenSpan);
    }

    private static string Chunked(EchoNeedles needles, byte[] body, IEnumerable<int> cuts, out int replaced)
    {
        var writer = new ArrayBufferWriter<byte>();
        var scrubber = needles.CreateScrubber();
        var start = 0;
        foreach (var cut in cuts.Append(body.Length))
        {
            scrubber.Write(body.AsSpan(start, cut - start), writer);
            start = cut;
        }

        scrubber.Flush(writer);
        replaced = scrubber.Replaced;
        return Encoding.UTF8.GetString(writer.WrittenSpan);
    }

    [Fact]
    public void Write_ReplacesAnEchoInOneChunk()
    {
        var result = OneShot(Needles, Bytes($"{{\"error\":\"invalid key {Secret}\"}}"), out var replaced);

        Assert.Equal($"{{\"error\":\"invalid key {Redacted}\"}}", result);
        Assert.Equal(1, replaced);
    }

    [Fact]
    public void EchoSplitAcrossTwoChunks_AtEveryPoint_IsReplaced()
    {
        var body = Bytes($"before {Secret} after");
        var expected = OneShot(Needles, body, out _);

        for (var cut = 0; cut <= body.Length; cut++)
        {
            var result = Chunked(Needles, body, [cut], out var replaced);
            Assert.Equal(expected, result);
            Assert.Equal(1, replaced);
            Assert.DoesNotContain(Secret, result, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void EchoSplitAcrossThreeChunks_AtEveryPairOfPoints_IsReplaced()
    {
        var body = Bytes($"a {Secret} b {Secret}");
        var expected = OneShot(Needles, body, out _);
        Assert.Equal($"a {Redacted} b {Redacted}", expected);

        for (var first = 0; first <= body.Length; first++)
        {
            for (var second = first; second <= body.Length; second++)
            {
                var result = Chunked(Needles, body, [first, second], out var replaced);
                Assert.Equal(expected, result);
                Assert.Equal(2, replaced);
            }
        }
    }

    [Fact]
    public void OneByteChunks_GiveTheOneShotResult()
    {
        var body = Bytes($"{Secret}{Secret} x sk-live-4f9a sk-{Secret}k");
        var expected = OneShot(Needles, body, out var oneShotReplaced);

        var result = Chunked(Needles, body, Enumerable.Range(1, body.Length - 1), out var replaced);

        Assert.Equal(expected, result);
        Assert.Equal(oneShotReplaced, replaced);
        Assert.Equal($"{Redacted}{Redacted} x sk-live-4f9a sk-{Redacted}k", result);
    }

    [Fact]
    public void PartialMatchThatDoesNotComplete_IsReleasedUnchanged_InOrder()
    {
        var scrubber = Needles.CreateScrubber();
        var writer = new ArrayBufferWriter<byte>();

        scrubber.Write(Bytes("data: sk-live-4f"), writer);
        Assert.Equal("data: ", Encoding.UTF8.GetString(writer.WrittenSpan));
        Assert.Equal("sk-live-4f".Length, scrubber.Held);

        scrubber.Write(Bytes("00 next"), writer);
        Assert.Equal("data: sk-live-4f00 next", Encoding.UTF8.GetString(writer.WrittenSpan));
        Assert.Equal(0, scrubber.Held);

        scrubber.Write(Bytes(" end sk-li"), writer);
        scrubber.Flush(writer);
        Assert.Equal("data: sk-live-4f00 next end sk-li", Encoding.UTF8.GetString(writer.WrittenSpan));
        Assert.Equal(0, scrubber.Replaced);
    }

    [Fact]
    public void BodyWithNoPartialMatch_IsReleasedEntirelyByWrite()
    {
        var scrubber = Needles.CreateScrubber();
        var writer = new ArrayBufferWriter<byte>();
        var body = Bytes("data: {\"delta\":\"hello world\"}\n\n");

        scrubber.Write(body, writer);

        Assert.Equal(body.Length, writer.WrittenCount);
        Assert.Equal(0, scrubber.Held);
        Assert.Equal(body, writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void HeldBytes_AreOnlyTheLongestSuffixThatCouldStartAnEcho()
    {
        var scrubber = Needles.CreateScrubber();
        var writer = new ArrayBufferWriter<byte>();

        scrubber.Write(Bytes("s sk sk-live-"), writer);

        Assert.Equal("s sk ", Encoding.UTF8.GetString(writer.WrittenSpan));
        Assert.Equal("sk-live-".Length, scrubber.Held);
    }

    [Fact]
    public void RepeatedAndAdjacentEchoes_AreEachReplaced()
    {
        var result = OneShot(Needles, Bytes($"{Secret}{Secret}{Secret},{Secret} {Secret}"), out var replaced);

        Assert.Equal($"{Redacted}{Redacted}{Redacted},{Redacted} {Redacted}", result);
        Assert.Equal(5, replaced);
    }

    [Fact]
    public void OverlappingEchoes_BecomeOneReplacementOverTheUnion()
    {
        // "abcab" overlaps itself: "abcabcab" holds two echoes sharing "ab".
        var needles = new EchoNeedles(Bytes("abcab"));

        Assert.Equal($"x{Redacted}y", OneShot(needles, Bytes("xabcabcaby"), out var replaced));
        Assert.Equal(1, replaced);

        var body = Bytes("xabcabcabcaby abcab");
        var expected = OneShot(needles, body, out _);
        Assert.Equal($"x{Redacted}y {Redacted}", expected);
        for (var cut = 0; cut <= body.Length; cut++)
        {
            Assert.Equal(expected, Chunked(needles, body, [cut], out _));
        }
    }

    [Fact]
    public void LongestMatch_Wins()
    {
        var needles = new EchoNeedles(Bytes("key"), [Bytes("key=="), Bytes("ke")]);

        Assert.Equal($"{Redacted} {Redacted}= {Redacted}", OneShot(needles, Bytes("key== key= key"), out var replaced));
        Assert.Equal(3, replaced);
    }

    [Fact]
    public void JsonEscapedEcho_IsCaught()
    {
        var value = "ab+c\"d/e<f>&'g";
        var needles = new EchoNeedles(Bytes(value));
        var json = JsonSerializer.Serialize(new { error = $"bad key {value}" });
        Assert.DoesNotContain(value, json, StringComparison.Ordinal); // it really is escaped

        var result = OneShot(needles, Bytes(json), out var replaced);

        Assert.Equal(1, replaced);
        Assert.Equal($"{{\"error\":\"bad key {Redacted}\"}}", result);
    }

    public static TheoryData<string> EscapedForms()
    {
        const string value = "p+q\"r/s<t>&'u\\vé€😀\n";
        return
        [
            JsonSerializer.Serialize(value)[1..^1],
            JsonEncodedText.Encode(value, JavaScriptEncoder.Default).ToString(),
            JsonEncodedText.Encode(value, JavaScriptEncoder.UnsafeRelaxedJsonEscaping).ToString(),
            JsonEncodedText.Encode(value, JavaScriptEncoder.Default).ToString().Replace("\\u002B", "\\u002b", StringComparison.Ordinal)
                .Replace("\\u0022", "\\u0022", StringComparison.Ordinal).Replace("\\u003C", "\\u003c", StringComparison.Ordinal)
                .Replace("\\u003E", "\\u003e", StringComparison.Ordinal).Replace("\\u00E9", "\\u00e9", StringComparison.Ordinal)
                .Replace("\\u20AC", "\\u20ac", StringComparison.Ordinal).Replace("\\uD83D\\uDE00", "\\ud83d\\ude00", StringComparison.Ordinal),
            JsonSerializer.Serialize(value)[1..^1].Replace("/", "\\/", StringComparison.Ordinal),
            JsonEncodedText.Encode(value, JavaScriptEncoder.UnsafeRelaxedJsonEscaping).ToString().Replace("/", "\\/", StringComparison.Ordinal),
            "p+q\\\"r/s<t>&'u\\\\v\\u00e9\\u20ac\\ud83d\\ude00\\n",                 // Python json.dumps
            "p+q\\\"r/s\\u003ct\\u003e\\u0026'u\\\\vé€😀\\n",                       // Go encoding/json
            "p+q\\\"r\\/s<t>&'u\\\\v\\u00e9\\u20ac\\ud83d\\ude00\\n",               // PHP json_encode
        ];
    }

    [Theory]
    [MemberData(nameof(EscapedForms))]
    public void EscapedForm_IsCaught(string form)
    {
        var needles = new EchoNeedles(Bytes("p+q\"r/s<t>&'u\\vé€😀\n"));

        var result = OneShot(needles, Bytes($"[{form}]"), out var replaced);

        Assert.Equal($"[{Redacted}]", result);
        Assert.Equal(1, replaced);
    }

    [Fact]
    public void PlainKey_HasOneNeedle_AndABase64KeyAFew()
    {
        Assert.Single(Needles.Needles);
        Assert.Equal(Secret.Length, Needles.MaxLength);

        var base64 = new EchoNeedles(Bytes("ab+cd/ef=="));
        Assert.InRange(base64.Needles.Count, 2, 8);
        Assert.Equal(base64.Needles.Count, base64.Needles.Select(Convert.ToHexString).Distinct().Count());
    }

    [Fact]
    public void ExtraForms_AreNeedlesToo()
    {
        var basic = Convert.ToBase64String(Bytes("user:" + Secret));
        var needles = new EchoNeedles(Bytes(Secret), [Bytes(basic), Bytes("sk-live-4f9a0c1e7b2d%3D"), []]);

        var result = OneShot(needles, Bytes($"Basic {basic} / sk-live-4f9a0c1e7b2d%3D"), out var replaced);

        Assert.Equal($"Basic {Redacted} / {Redacted}", result);
        Assert.Equal(2, replaced);
    }

    [Fact]
    public void EmptyValue_IsRefused() => Assert.Throws<ArgumentException>(() => new EchoNeedles([]));

    [Fact]
    public void NonUtf8Value_IsScrubbedByItsBytes()
    {
        byte[] value = [0xff, 0x00, 0xfe, 0x41];
        var needles = new EchoNeedles(value);
        var writer = new ArrayBufferWriter<byte>();
        var scrubber = needles.CreateScrubber();

        scrubber.Write([1, 0xff, 0x00], writer);
        scrubber.Write([0xfe, 0x41, 2], writer);
        scrubber.Flush(writer);

        Assert.Equal([1, .. Encoding.UTF8.GetBytes(Redacted), 2], writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void ScrubText_ReplacesEchoesInAHeaderValue()
    {
        Assert.Equal($"key {Redacted} rejected", Needles.ScrubText($"key {Secret} rejected", out var found));
        Assert.True(found);

        const string clean = "nothing here sk-live";
        Assert.Same(clean, Needles.ScrubText(clean, out found));
        Assert.False(found);
    }

    [Fact]
    public void ScrubText_CatchesANonAsciiEcho_DecodedAsLatin1()
    {
        const string value = "clé-secrète-42";
        var needles = new EchoNeedles(Bytes(value));
        var asHttpClientReadsIt = Encoding.Latin1.GetString(Bytes($"bad {value} ü"));

        Assert.Equal($"bad {Redacted} " + Encoding.Latin1.GetString(Bytes("ü")), needles.ScrubText(asHttpClientReadsIt, out var found));
        Assert.True(found);
        Assert.Equal($"bad {Redacted} ü", needles.ScrubText($"bad {value} ü", out found));
        Assert.True(found);
    }

    [Fact]
    public void RandomSplits_GiveTheOneShotResult()
    {
        // Seeded (one seed per case, so a failure names the case to replay); the seed is in every failure message.
        var needles = new EchoNeedles(Bytes("ab+ab/a"), [Bytes("abab"), Bytes("ba")]);
        string[] pieces = ["a", "b", "+", "/", "ab", "ab+", "ab+ab/a", "abab", "\\u002B", "\\/", "x", "ba"];
        for (var seed = 1; seed <= 3000; seed++)
        {
            var random = new Random(seed);
            var sb = new StringBuilder();
            for (var k = random.Next(0, 30); k > 0; k--)
            {
                sb.Append(pieces[random.Next(pieces.Length)]);
            }

            var body = Bytes(sb.ToString());
            var expected = OneShot(needles, body, out var expectedReplaced);
            var cuts = Enumerable.Range(0, random.Next(0, 8)).Select(_ => random.Next(0, body.Length + 1)).Order().ToArray();

            var result = Chunked(needles, body, cuts, out var replaced);

            if (result != expected || replaced != expectedReplaced
                || result.Contains("ab+ab/a", StringComparison.Ordinal) || result.Contains("abab", StringComparison.Ordinal))
            {
                output.WriteLine($"seed {seed}: body '{sb}', cuts [{string.Join(", ", cuts)}]");
                Assert.Fail($"seed {seed}: chunked '{result}' ({replaced}) != one-shot '{expected}' ({expectedReplaced}) for body '{sb}', cuts [{string.Join(", ", cuts)}]");
            }
        }
    }
}
