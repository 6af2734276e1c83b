using System.Buffers;

namespace Keyward.Gateway.Scrubbing;

/// <summary>
/// The forms of one injected value an upstream might echo: the raw UTF-8 bytes, their JSON-escaped forms
/// (<c>\u002B</c>-style and short escapes as System.Text.Json and other common encoders write them), and the exact
/// injected form (a <c>Basic</c> base64, a URL-encoded query value). Immutable, shared by every call with that value.
/// </summary>
public sealed class EchoNeedles
{
    /// <summary>What replaces an echoed value.</summary>
    public const string Replacement = "[REDACTED:keyward]";

    /// <param name="value">The secret value as injected (never logged).</param>
    /// <param name="extraForms">Other exact forms that were sent (the base64 of <c>user:password</c>…).</param>
    public EchoNeedles(ReadOnlySpan<byte> value, IEnumerable<byte[]>? extraForms = null) => throw new NotImplementedException();

    /// <summary>The longest needle, in bytes (the scrubber never holds back more than this minus one).</summary>
    public int MaxLength { get; }

    /// <summary>A new streaming scrubber over these needles (one per response).</summary>
    public EchoScrubber CreateScrubber() => throw new NotImplementedException();

    /// <summary>A header value with every echo replaced; <paramref name="found"/> tells whether there was one.</summary>
    public string ScrubText(string text, out bool found) => throw new NotImplementedException();
}

/// <summary>
/// Replaces echoes of a value in a byte stream that arrives in chunks, including one split across chunks. It holds back
/// only a trailing partial match (bytes that could still become a needle), so data with no partial match at its end is
/// passed on at once and a streamed event is never delayed behind the next one.
/// </summary>
public sealed class EchoScrubber
{
    /// <summary>How many echoes were replaced so far.</summary>
    public int Replaced { get; }

    /// <summary>Writes the scrubbed part of <paramref name="chunk"/> that can be released now to <paramref name="output"/>.</summary>
    public void Write(ReadOnlySpan<byte> chunk, IBufferWriter<byte> output) => throw new NotImplementedException();

    /// <summary>At the end of the stream: releases what was held back (it was not an echo).</summary>
    public void Flush(IBufferWriter<byte> output) => throw new NotImplementedException();
}
