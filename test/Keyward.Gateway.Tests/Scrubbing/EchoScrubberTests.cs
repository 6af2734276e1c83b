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
    public void PlainKey_HasItsRawAndBase64Forms_InUtf8AndUtf16_AndNoDuplicates()
    {
        // Raw; base64 padded and unpadded; the base64 middles at three alignments (no '+' or '/', so one alphabet and
        // no JSON escape) — each as UTF-8, UTF-16LE and UTF-16BE.
        Assert.Equal(6 * 3, Needles.Needles.Count);
        Assert.Equal(Convert.ToBase64String(Bytes(Secret)).Length * 2, Needles.MaxLength);
        Assert.Contains(Needles.Needles, n => n.AsSpan().SequenceEqual(Bytes(Secret)));
        Assert.Contains(Needles.Needles, n => n.AsSpan().SequenceEqual(Encoding.BigEndianUnicode.GetBytes(Secret)));

        var base64 = new EchoNeedles(Bytes("ab+cd/ef=="));
        Assert.Equal(base64.Needles.Count, base64.Needles.Select(Convert.ToHexString).Distinct().Count());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Base64OfTheValue_InsideALongerBlob_AtEachAlignment_IsScrubbedToItsEdges(int before)
    {
        var blob = Convert.ToBase64String([.. new byte[before].Select(_ => (byte)0xA5), .. Bytes(Secret), 0x5A, 0x5A]);

        var result = OneShot(Needles, Bytes($"{{\"blob\":\"{blob}\"}}"), out var replaced);

        Assert.Equal(1, replaced);
        var kept = result["{\"blob\":\"".Length..result.IndexOf(Redacted, StringComparison.Ordinal)] + result[(result.IndexOf(Redacted, StringComparison.Ordinal) + Redacted.Length)..^2];

        // What is left of the blob: its neighbours' characters and at most one mixed character at each end of the value.
        Assert.InRange(kept.Length, 0, blob.Length - (((4 * Secret.Length) / 3) - 2));
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

    /// <summary>Characters a random value is drawn from: ASCII letters and digits, everything JSON, URLs and base64 treat specially, non-ASCII.</summary>
    private const string ValueAscii = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/=\"\\<>&'% !*()@#$^|?`";

    private static readonly string[] ValueNonAscii = ["é", "€", "😀", "ß", "\u2028", "ü"];

    /// <summary>What surrounds an echo in a body: none of these is in a value, so a survivor of the value cannot be filler.</summary>
    private const string Filler = "{}[],:\n";

    private static readonly Encoding[] BodyEncodings = [new UTF8Encoding(false), new UnicodeEncoding(false, false), new UnicodeEncoding(true, false)];

    [Fact]
    public void RandomValues_EncodedEveryWay_InEveryBodyEncoding_SplitAnywhere_NeverComeThrough()
    {
        // Seeded; every failure names the seed, the way and the body encoding to replay (the first of each is reported).
        var failures = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var seed = 1; seed <= 150; seed++)
        {
            var random = new Random(seed);
            var value = RandomValue(random);
            var bytes = Bytes(value);
            var needles = new EchoNeedles(bytes);
            foreach (var (way, encode) in Ways())
            {
                var (form, core) = encode(value, random);
                foreach (var encoding in BodyEncodings)
                {
                    var text = RandomFiller(random) + form + RandomFiller(random);
                    var body = encoding.GetBytes(text);
                    var cuts = Enumerable.Range(0, random.Next(0, 6)).Select(_ => random.Next(0, body.Length + 1)).Order().ToArray();
                    var writer = new ArrayBufferWriter<byte>();
                    var scrubber = needles.CreateScrubber();
                    var start = 0;
                    foreach (var cut in cuts.Append(body.Length))
                    {
                        scrubber.Write(body.AsSpan(start, cut - start), writer);
                        start = cut;
                    }

                    scrubber.Flush(writer);
                    var result = encoding.GetString(writer.WrittenSpan);
                    var survivor = Windows(core, 8).FirstOrDefault(w => result.Contains(w, StringComparison.Ordinal));
                    if (survivor is not null || scrubber.Replaced == 0)
                    {
                        var what = $"seed {seed}, way {way}, body {encoding.WebName}: value '{value}', form '{form}', cuts [{string.Join(", ", cuts)}] -> '{result}' (survivor '{survivor}', {scrubber.Replaced} replaced)";
                        output.WriteLine(what);
                        failures.TryAdd(way + " / " + encoding.WebName, what);
                    }
                }
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} ways came through:\n" + string.Join("\n", failures.Values));
    }

    private static string RandomValue(Random random)
    {
        var sb = new StringBuilder();
        var asciiOnly = random.Next(2) == 0;
        for (var length = random.Next(8, 41); sb.Length < length;)
        {
            sb.Append(!asciiOnly && random.Next(6) == 0 ? ValueNonAscii[random.Next(ValueNonAscii.Length)] : ValueAscii[random.Next(ValueAscii.Length)].ToString());
        }

        return sb.ToString();
    }

    private static string RandomFiller(Random random) =>
        new([.. Enumerable.Range(0, random.Next(0, 12)).Select(_ => Filler[random.Next(Filler.Length)])]);

    private static IEnumerable<string> Windows(string text, int length) =>
        text.Length <= length ? [text] : Enumerable.Range(0, text.Length - length + 1).Select(i => text.Substring(i, length));

    /// <summary>
    /// Each way an upstream might write the value back: the form it writes, and the part of it that carries the value
    /// (all of it, except for base64 inside a longer blob, whose edge characters mix in the neighbouring bytes).
    /// Written independently of the scrubber's own encoders.
    /// </summary>
    private static IEnumerable<(string Way, Func<string, Random, (string Form, string Core)> Encode)> Ways()
    {
        static (string, string) Same(string form) => (form, form);
        yield return ("raw", (v, _) => Same(v));
        yield return ("System.Text.Json", (v, _) => Same(JsonSerializer.Serialize(v)[1..^1]));
        yield return ("System.Text.Json relaxed", (v, _) => Same(JsonEncodedText.Encode(v, JavaScriptEncoder.UnsafeRelaxedJsonEscaping).ToString()));
        yield return ("Python json.dumps", (v, _) => Same(JsonLike(v, escapeNonAscii: true, html: false, slash: false)));
        yield return ("Go encoding/json", (v, _) => Same(JsonLike(v, escapeNonAscii: false, html: true, slash: false)));
        yield return ("PHP json_encode", (v, _) => Same(JsonLike(v, escapeNonAscii: true, html: false, slash: true)));
        yield return ("percent (EscapeDataString)", (v, _) => Same(Uri.EscapeDataString(v)));
        yield return ("percent lower-case", (v, _) => Same(Percent(v, "", plus: false, lower: true)));
        yield return ("quote ('/' kept)", (v, _) => Same(Percent(v, "/", plus: false, lower: false)));
        yield return ("quote lower-case", (v, _) => Same(Percent(v, "/", plus: false, lower: true)));
        yield return ("quote_plus", (v, _) => Same(Percent(v, "", plus: true, lower: false)));
        yield return ("encodeURIComponent", (v, _) => Same(Percent(v, "!'()*", plus: false, lower: false)));
        yield return ("base64", (v, _) => Same(Convert.ToBase64String(Bytes(v))));
        yield return ("base64 unpadded", (v, _) => Same(Convert.ToBase64String(Bytes(v)).TrimEnd('=')));
        yield return ("base64url", (v, _) => Same(Url(Convert.ToBase64String(Bytes(v)))));
        yield return ("base64url unpadded", (v, _) => Same(Url(Convert.ToBase64String(Bytes(v))).TrimEnd('=')));
        yield return ("base64 in System.Text.Json", (v, _) => Same(JsonSerializer.Serialize(Convert.ToBase64String(Bytes(v)))[1..^1]));
        yield return ("base64 in PHP json_encode", (v, _) => Same(Convert.ToBase64String(Bytes(v)).Replace("/", "\\/", StringComparison.Ordinal)));
        yield return ("base64 inside a blob", (v, r) => Embedded(v, r, url: false));
        yield return ("base64url inside a blob", (v, r) => Embedded(v, r, url: true));
    }

    private static string Url(string base64) => base64.Replace('+', '-').Replace('/', '_');

    /// <summary>The value's bytes between random ones, base64-encoded; the core is the characters made of the value's bits only.</summary>
    private static (string, string) Embedded(string value, Random random, bool url)
    {
        var bytes = Bytes(value);
        var before = new byte[random.Next(0, 6)];
        var after = new byte[random.Next(0, 6)];
        random.NextBytes(before);
        random.NextBytes(after);
        var encoded = Convert.ToBase64String([.. before, .. bytes, .. after]);
        var first = ((8 * before.Length) + 5) / 6;
        var end = 8 * (before.Length + bytes.Length) / 6;
        var form = url ? Url(encoded) : encoded;
        return (form, form[first..end]);
    }

    private static string JsonLike(string value, bool escapeNonAscii, bool html, bool slash)
    {
        var sb = new StringBuilder();
        foreach (var c in value)
        {
            sb.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '/' when slash => "\\/",
                '<' or '>' or '&' or '\u2028' or '\u2029' when html => "\\u" + ((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture),
                _ when c < ' ' || (escapeNonAscii && c > '~') => "\\u" + ((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture),
                _ => c.ToString(),
            });
        }

        return sb.ToString();
    }

    private static string Percent(string value, string safe, bool plus, bool lower)
    {
        var sb = new StringBuilder();
        foreach (var b in Bytes(value))
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~' || (b < 0x80 && safe.Contains(c, StringComparison.Ordinal)))
            {
                sb.Append(c);
            }
            else if (c == ' ' && plus)
            {
                sb.Append('+');
            }
            else
            {
                sb.Append('%').Append(b.ToString(lower ? "x2" : "X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return sb.ToString();
    }
}
