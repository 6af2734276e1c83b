using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Keyward.Gateway.Scrubbing;

/// <summary>
/// The forms of one injected value an upstream might echo, each a needle of bytes:
/// <list type="bullet">
/// <item>the raw UTF-8 bytes;</item>
/// <item>its JSON-escaped forms (as System.Text.Json writes them with <see cref="JavaScriptEncoder.Default"/> —
/// <c>\u002B</c>-style for <c>+ &lt; &gt; &amp; ' "</c> and non-ASCII — and with
/// <see cref="JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/>, as Python's <c>json.dumps</c> writes them (non-ASCII as
/// <c>\uxxxx</c>) and as Go's <c>encoding/json</c> does (<c>\u003c</c> for <c>&lt; &gt; &amp;</c>); each also with
/// lowercase hex digits and with <c>/</c> written <c>\/</c>);</item>
/// <item>its percent-encoded forms: every byte but the unreserved ones (<c>A-Z a-z 0-9 - . _ ~</c>) as <c>%XX</c>, also
/// with <c>/</c> left as is (Python's <c>quote</c>) and with <c>! ' ( ) *</c> left as is (JavaScript's
/// <c>encodeURIComponent</c>), each with upper- and lower-case hex digits and with a space as <c>%20</c> or <c>+</c>;</item>
/// <item>its base64, standard and URL-safe alphabets (the standard one also as JSON writes it: <c>\u002B</c>,
/// <c>\/</c>): the value encoded alone, padded and unpadded, and — for the value inside a longer encoded blob — at
/// each of the three alignments (the value starting at a byte offset ≡ 0, 1 or 2 mod 3) the characters made of the
/// value's bits only. The one character at each end of an embedded value that mixes in its neighbours' bits cannot be
/// known in advance and stays: it holds at most 4 bits of the value (4 or 2 bits of the first byte at alignment 1 or 2;
/// 2 or 4 of the last byte), never a usable credential. A middle shorter than <see cref="MinBase64Middle"/> characters
/// (a value under 6 bytes) is not a needle: it would match ordinary text; such a value is caught in base64 only when
/// encoded alone;</item>
/// <item>the exact injected forms passed in (a <c>Basic</c> base64);</item>
/// <item>every one of these text forms also as UTF-16LE and UTF-16BE bytes (a UTF-16 body).</item>
/// </list>
/// Identical forms count once. Immutable, shared by every scrubber made from it.
/// </summary>
public sealed class EchoNeedles
{
    /// <summary>The shortest base64 middle (of a value inside a longer blob) that is a needle: 8 characters, 6 bytes of value.</summary>
    public const int MinBase64Middle = 8;

    /// <summary>What replaces an echoed value.</summary>
    public const string Replacement = "[REDACTED:keyward]";

    /// <summary>RFC 3986 unreserved characters: never percent-encoded.</summary>
    private static readonly SearchValues<byte> Unreserved =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"u8);

    private readonly byte[][] _needles;
    private readonly int[][] _byFirstByte;
    private readonly SearchValues<byte> _firstBytes;

    /// <param name="value">The secret value as injected (never logged).</param>
    /// <param name="extraForms">Other exact forms that were sent (the base64 of <c>user:password</c>…). Empty ones are ignored.</param>
    /// <exception cref="ArgumentException"><paramref name="value"/> is empty (there would be nothing to scrub).</exception>
    public EchoNeedles(ReadOnlySpan<byte> value, IEnumerable<byte[]>? extraForms = null)
    {
        if (value.IsEmpty)
        {
            throw new ArgumentException("An empty value cannot be scrubbed.", nameof(value));
        }

        // Every text form, then each as bytes: UTF-8, UTF-16LE, UTF-16BE. The raw value may not be text (it is matched by its bytes).
        var texts = new HashSet<string>(StringComparer.Ordinal);
        if (Text(value) is { } text)
        {
            texts.Add(text);
            texts.UnionWith(JsonForms(text));
        }

        texts.UnionWith(PercentForms(value));
        texts.UnionWith(Base64Forms(value));
        var extras = (extraForms ?? []).Where(f => f is { Length: > 0 }).ToList();
        texts.UnionWith(extras.Where(f => Ascii.IsValid(f)).Select(f => Encoding.ASCII.GetString(f)));

        // Identical byte forms count once (compared as Latin-1 strings: one char per byte).
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var forms = new List<byte[]>();
        void Add(byte[] form)
        {
            if (form.Length > 0 && seen.Add(Encoding.Latin1.GetString(form)))
            {
                forms.Add(form);
            }
        }

        Add(value.ToArray());
        extras.ForEach(f => Add([.. f]));
        foreach (var encoding in (Encoding[])[Encoding.UTF8, Encoding.Unicode, Encoding.BigEndianUnicode])
        {
            foreach (var form in texts)
            {
                Add(encoding.GetBytes(form));
            }
        }

        // Longest first: the first needle that matches at a position is the longest match there.
        _needles = [.. forms.OrderByDescending(f => f.Length)];
        MaxLength = _needles[0].Length;
        var byFirstByte = new List<int>?[256];
        for (var k = 0; k < _needles.Length; k++)
        {
            (byFirstByte[_needles[k][0]] ??= []).Add(k);
        }

        _byFirstByte = [.. byFirstByte.Select(k => k is null ? [] : k.ToArray())];
        _firstBytes = SearchValues.Create([.. _needles.Select(n => n[0]).Distinct()]);
    }

    /// <summary>The longest needle, in bytes (the scrubber never holds back more than this minus one, but for an echo
    /// that may still grow into an overlapping one).</summary>
    public int MaxLength { get; }

    /// <summary>The needles, longest first (tests look at them).</summary>
    internal IReadOnlyList<byte[]> Needles => _needles;

    /// <summary>A new streaming scrubber over these needles (one per response).</summary>
    public EchoScrubber CreateScrubber() => new(_needles, _byFirstByte, _firstBytes);

    /// <summary>
    /// A header value with every echo replaced; <paramref name="found"/> tells whether there was one. The value is
    /// searched as UTF-8 and, when it holds characters U+0080–U+00FF only beyond ASCII, also as Latin-1 (the way
    /// <see cref="HttpClient"/> decodes response header bytes by default), so a non-ASCII secret echoed in a header is
    /// caught either way.
    /// </summary>
    public string ScrubText(string text, out bool found)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = ScrubText(text, Encoding.UTF8, out found);
        if (result.AsSpan().ContainsAnyInRange('\u0080', '\u00ff') && !result.AsSpan().ContainsAnyInRange('\u0100', '\uffff'))
        {
            result = ScrubText(result, Encoding.Latin1, out var foundLatin1);
            found |= foundLatin1;
        }

        return result;
    }

    private string ScrubText(string text, Encoding encoding, out bool found)
    {
        var bytes = encoding.GetBytes(text);
        found = false;
        foreach (var needle in _needles)
        {
            if (bytes.AsSpan().IndexOf(needle) >= 0)
            {
                found = true;
                break;
            }
        }

        if (!found)
        {
            return text;
        }

        var output = new ArrayBufferWriter<byte>(bytes.Length);
        var scrubber = CreateScrubber();
        scrubber.Write(bytes, output);
        scrubber.Flush(output);
        return encoding.GetString(output.WrittenSpan);
    }

    /// <summary>The value as text, or null when its bytes are not UTF-8 (no JSON encoder writes it then; its bytes, percent and base64 forms remain).</summary>
    private static string? Text(ReadOnlySpan<byte> value)
    {
        try
        {
            return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(value);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>The JSON-escaped forms (without quotes), each also with lowercase hex and with '/' as '\/'.</summary>
    private static List<string> JsonForms(string text)
    {
        var forms = new List<string>();
        foreach (var escaped in (string[])
            [
                JsonEncodedText.Encode(text, JavaScriptEncoder.Default).ToString(),
                JsonEncodedText.Encode(text, JavaScriptEncoder.UnsafeRelaxedJsonEscaping).ToString(),
                Escape(text, asciiOnly: true, html: false),
                Escape(text, asciiOnly: false, html: true),
            ])
        {
            var lower = LowerHex(escaped);
            forms.AddRange([escaped, lower, EscapeSlash(escaped), EscapeSlash(lower)]);
        }

        return forms;
    }

    /// <summary>
    /// Percent-encodings of the bytes: unreserved bytes kept, plus <c>/</c> (<c>quote</c>) or <c>! ' ( ) *</c>
    /// (<c>encodeURIComponent</c>); upper- and lower-case hex; a space as <c>%20</c> or <c>+</c>.
    /// </summary>
    internal static List<string> PercentForms(ReadOnlySpan<byte> value)
    {
        // Only the variants that differ: a value of unreserved bytes only is its own (raw) form.
        var forms = new List<string>();
        if (!value.ContainsAnyExcept(Unreserved))
        {
            return forms;
        }

        string[] safeSets = ["", .. value.Contains((byte)'/') ? ["/"] : (string[])[], .. value.ContainsAny("!'()*"u8) ? ["!'()*"] : (string[])[]];
        bool[] spaceAsPlus = value.Contains((byte)' ') ? [false, true] : [false];
        foreach (var safe in safeSets)
        {
            foreach (var plus in spaceAsPlus)
            {
                var sb = new StringBuilder(value.Length * 3);
                foreach (var b in value)
                {
                    var c = (char)b;
                    if (Unreserved.Contains(b) || (b < 0x80 && safe.Contains(c, StringComparison.Ordinal)))
                    {
                        sb.Append(c);
                    }
                    else if (plus && c == ' ')
                    {
                        sb.Append('+');
                    }
                    else
                    {
                        sb.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
                    }
                }

                var upper = sb.ToString();
                forms.Add(upper);
                forms.Add(LowerPercentHex(upper));
            }
        }

        return forms;
    }

    /// <summary>The same percent-encoded text with the hex digits of every <c>%XX</c> in lowercase.</summary>
    private static string LowerPercentHex(string encoded)
    {
        var chars = encoded.ToCharArray();
        for (var i = 0; i + 2 < chars.Length; i++)
        {
            if (chars[i] == '%')
            {
                chars[i + 1] = char.ToLowerInvariant(chars[i + 1]);
                chars[i + 2] = char.ToLowerInvariant(chars[i + 2]);
                i += 2;
            }
        }

        return new string(chars);
    }

    /// <summary>
    /// The base64 forms of the bytes (see the class summary): alone, padded and unpadded; the stable middle at each of
    /// the three alignments; all in the standard and the URL-safe alphabet, the standard ones also JSON-escaped.
    /// </summary>
    internal static List<string> Base64Forms(ReadOnlySpan<byte> value)
    {
        var standard = new List<string>();
        var alone = Convert.ToBase64String(value);
        standard.Add(alone);
        standard.Add(alone.TrimEnd('='));
        for (var offset = 0; offset < 3; offset++)
        {
            // The value after `offset` bytes (zeros here; anything in an upstream's blob): character j carries bits
            // [6j, 6j + 6) of the blob, the value bits [8 offset, 8 (offset + n)); the characters made of value bits only
            // are those from ceil(8 offset / 6) to floor(8 (offset + n) / 6), exclusive.
            var blob = new byte[offset + value.Length];
            value.CopyTo(blob.AsSpan(offset));
            var encoded = Convert.ToBase64String(blob);
            var first = ((8 * offset) + 5) / 6;
            var end = 8 * (offset + value.Length) / 6;
            if (end - first >= MinBase64Middle)
            {
                standard.Add(encoded[first..end]);
            }
        }

        var forms = new List<string>();
        foreach (var form in standard)
        {
            forms.Add(form);
            forms.Add(form.Replace('+', '-').Replace('/', '_'));

            // As JSON encoders write base64 text: '+' as \u002B or \u002b (System.Text.Json's default encoder), '/' as \/ (PHP).
            foreach (var plus in form.Contains('+', StringComparison.Ordinal) ? (string[])["+", "\\u002B", "\\u002b"] : ["+"])
            {
                var escaped = form.Replace("+", plus, StringComparison.Ordinal);
                forms.Add(escaped);
                if (form.Contains('/', StringComparison.Ordinal))
                {
                    forms.Add(escaped.Replace("/", "\\/", StringComparison.Ordinal));
                }
            }
        }

        return forms;
    }

    /// <summary>JSON string escaping as other encoders write it: short escapes, lowercase <c>\uxxxx</c> for the rest.</summary>
    internal static string Escape(string text, bool asciiOnly, bool html)
    {
        var sb = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < ' ' || (asciiOnly && c > '\x7f') || (html && c is '<' or '>' or '&' or '\u2028' or '\u2029'))
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        return sb.ToString();
    }

    /// <summary>The same escaped text with the hex digits of every <c>\uXXXX</c> in lowercase.</summary>
    internal static string LowerHex(string escaped)
    {
        var chars = escaped.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (chars[i] != '\\' || i + 1 >= chars.Length)
            {
                continue;
            }

            if (chars[i + 1] == 'u')
            {
                for (var k = i + 2; k < Math.Min(i + 6, chars.Length); k++)
                {
                    chars[k] = char.ToLowerInvariant(chars[k]);
                }

                i += 5;
            }
            else
            {
                i++; // a short escape: its second character is not the start of another
            }
        }

        return new string(chars);
    }

    /// <summary>The same escaped text with every unescaped '/' written '\/'.</summary>
    internal static string EscapeSlash(string escaped)
    {
        var sb = new StringBuilder(escaped.Length + 4);
        for (var i = 0; i < escaped.Length; i++)
        {
            var c = escaped[i];
            if (c == '\\' && i + 1 < escaped.Length)
            {
                sb.Append(c).Append(escaped[++i]);
            }
            else
            {
                sb.Append(c == '/' ? "\\/" : c);
            }
        }

        return sb.ToString();
    }
}

/// <summary>
/// Replaces echoes of a value in a byte stream that arrives in chunks, including one split across chunks. At each
/// position the longest needle wins; overlapping echoes become one replacement over their union (up to
/// <see cref="MaxEchoRun"/> bytes, so a run of self-overlapping echoes cannot grow without bound). It holds back only
/// the longest suffix of the data seen so far (outside replaced echoes) that is a proper prefix of some needle — bytes
/// that could still become an echo — plus, while an echo just found could still grow into an overlapping one, that echo
/// (it is replaced, never released). So data with no partial match at its end is passed on at once and a streamed
/// event is never delayed behind the next one, and the output never depends on where the chunks were cut.
/// </summary>
public sealed class EchoScrubber
{
    /// <summary>The longest run of overlapping echoes that becomes one replacement.</summary>
    public const int MaxEchoRun = 64 * 1024;

    private static readonly byte[] ReplacementUtf8 = Encoding.UTF8.GetBytes(EchoNeedles.Replacement);

    private readonly byte[][] _needles;
    private readonly int[][] _byFirstByte;
    private readonly SearchValues<byte> _firstBytes;
    private readonly int _maxLength;
    private readonly int[] _next;
    private byte[] _held;
    private int _heldLength;

    internal EchoScrubber(byte[][] needles, int[][] byFirstByte, SearchValues<byte> firstBytes)
    {
        _needles = needles;
        _byFirstByte = byFirstByte;
        _firstBytes = firstBytes;
        _maxLength = needles.Max(n => n.Length);
        _next = new int[needles.Length];
        _held = new byte[_maxLength];
    }

    /// <summary>How many echoes were replaced so far.</summary>
    public int Replaced { get; private set; }

    /// <summary>How many bytes are held back now (a possible echo's beginning).</summary>
    public int Held => _heldLength;

    /// <summary>Writes the scrubbed part of <paramref name="chunk"/> that can be released now to <paramref name="output"/>.</summary>
    public void Write(ReadOnlySpan<byte> chunk, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (_heldLength == 0)
        {
            var released = Process(chunk, final: false, output);
            Hold(chunk[released..]);
            return;
        }

        var length = _heldLength + chunk.Length;
        var combined = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            _held.AsSpan(0, _heldLength).CopyTo(combined);
            chunk.CopyTo(combined.AsSpan(_heldLength));
            var data = combined.AsSpan(0, length);
            var released = Process(data, final: false, output);
            Hold(data[released..]);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(combined);
        }
    }

    /// <summary>At the end of the stream: releases what was held back (scrubbed: what had become a whole echo is replaced).</summary>
    public void Flush(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        Process(_held.AsSpan(0, _heldLength), final: true, output);
        _heldLength = 0;
    }

    private void Hold(ReadOnlySpan<byte> rest)
    {
        if (rest.Length > _held.Length)
        {
            _held = new byte[Math.Max(rest.Length, _held.Length * 2)];
        }

        rest.CopyTo(_held);
        _heldLength = rest.Length;
    }

    /// <summary>
    /// Writes what can be decided in <paramref name="data"/> and returns where the undecided rest starts (the length
    /// when everything was released). Every decision depends only on the bytes it looks at and never on where the data
    /// ends, unless it is the end of the stream (<paramref name="final"/>): undecided positions are held instead.
    /// </summary>
    private int Process(ReadOnlySpan<byte> data, bool final, IBufferWriter<byte> output)
    {
        var n = data.Length;
        Array.Fill(_next, -1);
        var i = 0;
        var nextEcho = -1;
        while (i < n)
        {
            // Bulk: bytes before the next whole echo and before the tail where a partial echo could start. Where each
            // needle next occurs is found once and looked for again only once passed.
            if (nextEcho < i)
            {
                nextEcho = n;
                for (var k = 0; k < _needles.Length; k++)
                {
                    if (_next[k] < i)
                    {
                        var at = data[i..].IndexOf(_needles[k]);
                        _next[k] = at < 0 ? int.MaxValue : i + at;
                    }

                    nextEcho = Math.Min(nextEcho, _next[k]);
                }
            }

            var tail = final ? n : Math.Max(i, n - _maxLength + 1);
            var stop = Math.Min(nextEcho, tail);
            if (stop > i)
            {
                output.Write(data[i..stop]);
                i = stop;
                continue;
            }

            // In the tail, before the next echo: only a needle's first byte can start a partial echo.
            if (i < nextEcho)
            {
                var candidate = data[i..nextEcho].IndexOfAny(_firstBytes);
                var plain = candidate < 0 ? nextEcho - i : candidate;
                if (plain > 0)
                {
                    output.Write(data.Slice(i, plain));
                    i += plain;
                    continue;
                }
            }

            if (!final && IsPartial(data, i))
            {
                break;
            }

            var length = LongestAt(data, i);
            if (length == 0)
            {
                output.Write(data.Slice(i, 1));
                i++;
                continue;
            }

            // The union of the echoes that overlap this one.
            var end = i + length;
            var undecided = false;
            for (var j = i + 1; j < end && end - i < MaxEchoRun; j++)
            {
                if (!final && IsPartial(data, j))
                {
                    undecided = true;
                    break;
                }

                end = Math.Max(end, j + LongestAt(data, j));
            }

            if (undecided)
            {
                break;
            }

            output.Write(ReplacementUtf8);
            Replaced++;
            i = end;
        }

        return i;
    }

    /// <summary>Whether the data from <paramref name="at"/> to its end is a proper prefix of some needle.</summary>
    private bool IsPartial(ReadOnlySpan<byte> data, int at)
    {
        var rest = data[at..];
        if (rest.IsEmpty)
        {
            return false;
        }

        foreach (var k in _byFirstByte[rest[0]])
        {
            var needle = _needles[k];
            if (rest.Length < needle.Length && needle.AsSpan(0, rest.Length).SequenceEqual(rest))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The length of the longest needle at <paramref name="at"/>, or 0.</summary>
    private int LongestAt(ReadOnlySpan<byte> data, int at)
    {
        var rest = data[at..];
        if (rest.IsEmpty)
        {
            return 0;
        }

        foreach (var k in _byFirstByte[rest[0]])
        {
            if (rest.StartsWith(_needles[k]))
            {
                return _needles[k].Length;
            }
        }

        return 0;
    }
}
