using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Keyward.Core.Audit;

/// <summary>A checkpoint kept outside the store, read from line <see cref="Line"/> (1-based) of an anchor file.</summary>
public sealed record AuditAnchor(int Line, long Seq, byte[] Hash, DateTimeOffset Time, byte[] Mac);

/// <summary>
/// What an anchor file holds: its checkpoint lines, and the lines that claim to be a checkpoint but cannot be read as
/// one (reported by verification, never trusted).
/// </summary>
public sealed record AuditAnchorFile(IReadOnlyList<AuditAnchor> Checkpoints, IReadOnlyList<int> UnreadableLines)
{
    public static AuditAnchorFile Empty { get; } = new([], []);
}

/// <summary>
/// Outside anchors for the audit chain: checkpoints as a file audit sink writes them — one JSON object per line,
/// <c>{"type": "checkpoint", "seq": N, "hash": "&lt;hex&gt;", "mac": "&lt;hex&gt;", "time": "&lt;RFC 3339&gt;"}</c> (API.md
/// "Operations"), among audit records, which are skipped — or the checkpoint lines of the server log (event 3001,
/// <c>Audit checkpoint seq=N hash=… mac=… time=…</c>, anywhere in the line, whatever the logger put before it). Someone
/// who can write the database can cut off its newest records together with their checkpoints and put the head back;
/// a checkpoint that left the machine is out of their reach.
/// </summary>
public static partial class AuditAnchors
{
    /// <summary>The <c>type</c> of a checkpoint line in a file sink.</summary>
    public const string CheckpointType = "checkpoint";

    /// <summary>Reads every line of <paramref name="reader"/>; lines that are neither a checkpoint nor a claim to be one are skipped.</summary>
    public static AuditAnchorFile Parse(TextReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var checkpoints = new List<AuditAnchor>();
        var unreadable = new List<int>();
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            switch (ParseLine(line, number))
            {
                case (true, { } anchor):
                    checkpoints.Add(anchor);
                    break;
                case (true, null):
                    unreadable.Add(number);
                    break;
            }
        }

        return new AuditAnchorFile(checkpoints, unreadable);
    }

    public static AuditAnchorFile Parse(string text)
    {
        using var reader = new StringReader(text);
        return Parse(reader);
    }

    /// <summary>The line a file sink writes for <paramref name="checkpoint"/> (the format <see cref="Parse(TextReader)"/> reads).</summary>
    public static string SinkLine(AuditCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", CheckpointType);
            writer.WriteNumber("seq", checkpoint.Seq);
            writer.WriteString("hash", Convert.ToHexStringLower(checkpoint.Hash));
            writer.WriteString("mac", Convert.ToHexStringLower(checkpoint.Mac));
            writer.WriteString("time", Instants.Format(checkpoint.Time));
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// (is a checkpoint claim, the anchor if it reads as one). A JSON object is a claim when its <c>type</c> is
    /// <c>checkpoint</c>; any other line when it holds the log message's opening (<c>Audit checkpoint seq=</c>).
    /// </summary>
    private static (bool Claim, AuditAnchor? Anchor) ParseLine(string line, int number)
    {
        var text = line.Trim();
        if (text.StartsWith('{'))
        {
            return ParseJson(text, number);
        }

        if (!text.Contains(LogOpening, StringComparison.Ordinal))
        {
            return (false, null);
        }

        var match = LogLine().Match(text);
        return match.Success
            ? (true, Anchor(number, match.Groups["seq"].Value, match.Groups["hash"].Value, match.Groups["mac"].Value, match.Groups["time"].Value))
            : (true, null);
    }

    private static (bool Claim, AuditAnchor? Anchor) ParseJson(string text, int number)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException)
        {
            // Not a whole JSON object (a line cut short): a claim only if it says it is a checkpoint.
            return (text.Contains("\"" + CheckpointType + "\"", StringComparison.Ordinal), null);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("type", out var type)
                || type.ValueKind != JsonValueKind.String
                || type.GetString() != CheckpointType)
            {
                return (false, null);
            }

            return root.TryGetProperty("seq", out var seq) && seq.ValueKind == JsonValueKind.Number
                && root.TryGetProperty("hash", out var hash) && hash.ValueKind == JsonValueKind.String
                && root.TryGetProperty("mac", out var mac) && mac.ValueKind == JsonValueKind.String
                && root.TryGetProperty("time", out var time) && time.ValueKind == JsonValueKind.String
                ? (true, Anchor(number, seq.GetRawText(), hash.GetString()!, mac.GetString()!, time.GetString()!))
                : (true, null);
        }
    }

    private static AuditAnchor? Anchor(int number, string seq, string hash, string mac, string time)
    {
        if (!long.TryParse(seq, NumberStyles.None, CultureInfo.InvariantCulture, out var s) || s < 1
            || !TryHex(hash, out var h) || !TryHex(mac, out var m)
            || !DateTimeOffset.TryParseExact(time, Instants.Rfc3339Format, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
        {
            return null;
        }

        return new AuditAnchor(number, s, h, t, m);
    }

    /// <summary>32 bytes as 64 hex digits (a chain hash or an HMAC-SHA256).</summary>
    private static bool TryHex(string text, out byte[] bytes)
    {
        bytes = [];
        if (text.Length != 64)
        {
            return false;
        }

        try
        {
            bytes = Convert.FromHexString(text);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>How the log message of event 3001 starts (<see cref="Diagnostics.KeywardLog.AuditCheckpoint"/>).</summary>
    private const string LogOpening = "Audit checkpoint seq=";

    [GeneratedRegex(@"Audit checkpoint seq=(?<seq>[0-9]+) hash=(?<hash>[0-9A-Fa-f]+) mac=(?<mac>[0-9A-Fa-f]+) time=(?<time>[0-9T:.Z-]+)", RegexOptions.CultureInvariant)]
    private static partial Regex LogLine();
}
