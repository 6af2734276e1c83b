using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Keyward.Gateway.Scrubbing;

/// <summary>
/// The forms of one injected value an upstream might echo: the raw UTF-8 bytes, their JSON-escaped forms (as
/// System.Text.Json writes them with <see cref="JavaScriptEncoder.Default"/> — <c>\u002B</c>-style for <c>+ &lt; &gt; &amp; ' "</c>
/// and non-ASCII — and with <see cref="JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/>, as Python's <c>json.dumps</c>
/// writes them (non-ASCII as <c>\uxxxx</c>) and as Go's <c>encoding/json</c> does (<c>\u003c</c> for <c>&lt; &gt; &amp;</c>);
/// each also with lowercase hex digits and with <c>/</c> written <c>\/</c>), and the exact injected forms passed in (a
/// <c>Basic</c> base64, a URL-encoded query value). Identical forms count once; for a plain alphanumeric key there is one
/// needle. Immutable, shared by every call with that value.
/// </summary>
public sealed class EchoNeedles
{
    /// <summary>What replaces an echoed value.</summary>
    public const string Replacement = "[REDACTED:keyward]";

    private readonly byte[][] _needles;

    /// <param name="value">The secret value as injected (never logged).</param>
    /// <param name="extraForms">Other exact forms that were sent (the base64 of <c>user:password</c>…). Empty ones are ignored.</param>
    /// <exception cref="ArgumentException"><paramref name="value"/> is empty (there would be nothing to scrub).</exception>
    public EchoNeedles(ReadOnlySpan<byte> value, IEnumerable<byte[]>? extraForms = null)
    {
        if (value.IsEmpty)
        {
            throw new ArgumentException("An empty value cannot be scrubbed.", nameof(value));
        }

        var forms = new List<byte[]>();
        Add(forms, value.ToArray());
        foreach (var form in JsonForms(value))
        {
            Add(forms, Encoding.UTF8.GetBytes(form));
        }

        foreach (var form in extraForms ?? [])
        {
            if (form is { Length: > 0 })
            {
                Add(forms, [.. form]);
            }
        }

        // Longest first: the first needle that matches at a position is the longest match there.
        _needles = [.. forms.OrderByDescending(f => f.Length)];
        MaxLength = _needles[0].Length;
    }

    /// <summary>The longest needle, in bytes (the scrubber never holds back more than this minus one, but for an echo
    /// that may still grow into an overlapping one).</summary>
    public int MaxLength { get; }

    /// <summary>The needles, longest first (tests look at them).</summary>
    internal IReadOnlyList<byte[]> Needles => _needles;

    /// <summary>A new streaming scrubber over these needles (one per response).</summary>
    public EchoScrubber CreateScrubber() => new(_needles);

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

    private static void Add(List<byte[]> forms, byte[] form)
    {
        if (!forms.Any(f => f.AsSpan().SequenceEqual(form)))
        {
            forms.Add(form);
        }
    }

    /// <summary>The JSON-escaped forms (without quotes), each also with lowercase hex and with '/' as '\/'.</summary>
    private static List<string> JsonForms(ReadOnlySpan<byte> value)
    {
        string text;
        try
        {
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(value);
        }
        catch (DecoderFallbackException)
        {
            return []; // Not text: no JSON encoder writes it; the raw and extra forms remain.
        }

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
    private readonly int _maxLength;
    private readonly int[] _next;
    private byte[] _held;
    private int _heldLength;

    internal EchoScrubber(byte[][] needles)
    {
        _needles = needles;
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
        while (i < n)
        {
            // Bulk: bytes before the next whole echo and before the tail where a partial echo could start.
            var nextEcho = n;
            for (var k = 0; k < _needles.Length; k++)
            {
                if (_next[k] < i)
                {
                    var at = data[i..].IndexOf(_needles[k]);
                    _next[k] = at < 0 ? int.MaxValue : i + at;
                }

                nextEcho = Math.Min(nextEcho, _next[k]);
            }

            var tail = final ? n : Math.Max(i, n - _maxLength + 1);
            var stop = Math.Min(nextEcho, tail);
            if (stop > i)
            {
                output.Write(data[i..stop]);
                i = stop;
                continue;
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
        foreach (var needle in _needles)
        {
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
        foreach (var needle in _needles)
        {
            if (rest.StartsWith(needle))
            {
                return needle.Length;
            }
        }

        return 0;
    }
}
