using System.Buffers.Binary;
using System.Text;
using Keyward.Core.Policies;
using Keyward.Core.Validation;

namespace Keyward.Core.Tokens.Derived;

/// <summary>The caveat types of the v1 derived-token format (docs/designs/0004-derived-tokens.md). Add, never renumber.</summary>
public enum CaveatType : byte
{
    /// <summary>Body: 8 bytes, unsigned big-endian unix seconds. Mandatory: at least one per token.</summary>
    Expiry = 1,

    /// <summary>Body: a path glob (literal segments, <c>*</c>, trailing <c>**</c>), UTF-8.</summary>
    Path = 2,

    /// <summary>Body: 1 byte, a non-empty subset of read=1, use=2, list=4, write=8, delete=16, rotate=32.</summary>
    Capabilities = 3,

    /// <summary>Body: a tool name (the Names grammar), UTF-8. Restricts the token to gateway calls for that tool.</summary>
    Tool = 4,

    /// <summary>Body: a sub-agent id (the Names grammar), UTF-8. Names a link of the delegation chain.</summary>
    Agent = 5,

    /// <summary>
    /// Reserved: <c>INTEGRATION/GLOB</c>, the MCP tools a token may call (API.md "Tool calls over MCP"). Refused until
    /// Keyward serves MCP tool calls — a caveat the server cannot enforce must never be ignored.
    /// </summary>
    McpTool = 6,
}

/// <summary>
/// One caveat of a derived token. Its canonical encoding — <c>type (1 byte) ‖ body length (2 bytes, big-endian) ‖
/// body</c> — is both what the token carries and what the tag chain MACs: <c>t_i = HMAC-SHA256(t_{i-1}, encoding)</c>.
/// </summary>
public sealed class Caveat
{
    /// <summary>Bodies are short; the longest is a path glob of at most 512 bytes.</summary>
    public const int MaxBodyBytes = SecretPath.MaxBytes;

    public const int HeaderBytes = 3;

    /// <summary>The latest expiry a caveat may name (9999-12-31T23:59:59Z): larger values are malformed.</summary>
    public const long MaxUnixSeconds = 253_402_300_799;

    private Caveat(CaveatType type, string? text, Capability capabilities, long unixSeconds, PathGlob? glob)
    {
        Type = type;
        Text = text;
        Capabilities = capabilities;
        UnixSeconds = unixSeconds;
        Glob = glob;
    }

    public CaveatType Type { get; }

    /// <summary>The glob, tool name or agent id; null for expiry and capabilities.</summary>
    public string? Text { get; }

    /// <summary>The capabilities a <see cref="CaveatType.Capabilities"/> caveat leaves; None otherwise.</summary>
    public Capability Capabilities { get; }

    /// <summary>The expiry of an <see cref="CaveatType.Expiry"/> caveat in unix seconds; 0 otherwise.</summary>
    public long UnixSeconds { get; }

    public DateTimeOffset ExpiresAt => DateTimeOffset.FromUnixTimeSeconds(UnixSeconds);

    internal PathGlob? Glob { get; }

    public static Caveat Expiry(DateTimeOffset expiresAt) =>
        Expiry(expiresAt.ToUnixTimeSeconds());

    public static Caveat Expiry(long unixSeconds) =>
        unixSeconds is > 0 and <= MaxUnixSeconds
            ? new Caveat(CaveatType.Expiry, null, Capability.None, unixSeconds, null)
            : throw new ArgumentOutOfRangeException(nameof(unixSeconds), "An expiry is a positive unix time before the year 10000.");

    public static Caveat Path(string glob) =>
        PathGlob.TryParse(glob, out var parsed, out var reason)
            ? new Caveat(CaveatType.Path, glob, Capability.None, 0, parsed)
            : throw new ArgumentException($"Invalid path glob: {reason}.", nameof(glob));

    public static Caveat Allow(Capability capabilities) =>
        capabilities != Capability.None && (capabilities & ~AllCapabilities) == 0
            ? new Caveat(CaveatType.Capabilities, null, capabilities, 0, null)
            : throw new ArgumentOutOfRangeException(nameof(capabilities), "Name at least one known capability.");

    public static Caveat Tool(string name) =>
        Names.IsName(name) ? new Caveat(CaveatType.Tool, name, Capability.None, 0, null) : throw new ArgumentException("Invalid tool name.", nameof(name));

    public static Caveat Agent(string agentId) =>
        Names.IsName(agentId) ? new Caveat(CaveatType.Agent, agentId, Capability.None, 0, null) : throw new ArgumentException("Invalid agent id.", nameof(agentId));

    internal const Capability AllCapabilities =
        Capability.Read | Capability.Use | Capability.List | Capability.Write | Capability.Delete | Capability.Rotate;

    /// <summary>The canonical encoding's length.</summary>
    public int EncodedLength => HeaderBytes + BodyLength;

    private int BodyLength => Type switch
    {
        CaveatType.Expiry => 8,
        CaveatType.Capabilities => 1,
        _ => Encoding.UTF8.GetByteCount(Text!),
    };

    /// <summary>Writes the canonical encoding; returns the bytes written.</summary>
    public int WriteTo(Span<byte> destination)
    {
        var body = BodyLength;
        destination[0] = (byte)Type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[1..], (ushort)body);
        var target = destination.Slice(HeaderBytes, body);
        switch (Type)
        {
            case CaveatType.Expiry:
                BinaryPrimitives.WriteUInt64BigEndian(target, (ulong)UnixSeconds);
                break;
            case CaveatType.Capabilities:
                target[0] = (byte)Capabilities;
                break;
            default:
                Encoding.UTF8.GetBytes(Text, target);
                break;
        }

        return HeaderBytes + body;
    }

    /// <summary>
    /// Reads one canonical caveat from the start of <paramref name="source"/>. Anything but the exact canonical form
    /// of a known type — an unknown type, a wrong length, a bad glob or name, an empty or unknown capability set —
    /// is refused with a reason for the audit log (never for the caller).
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out Caveat? caveat, out int consumed, out string? reason)
    {
        caveat = null;
        consumed = 0;
        if (source.Length < HeaderBytes)
        {
            reason = "truncated caveat";
            return false;
        }

        var type = source[0];
        int length = BinaryPrimitives.ReadUInt16BigEndian(source[1..]);
        if (length > MaxBodyBytes || source.Length - HeaderBytes < length)
        {
            reason = "caveat length out of bounds";
            return false;
        }

        var body = source.Slice(HeaderBytes, length);
        consumed = HeaderBytes + length;
        switch ((CaveatType)type)
        {
            case CaveatType.Expiry:
            {
                var seconds = length == 8 ? BinaryPrimitives.ReadUInt64BigEndian(body) : 0;
                if (seconds is 0 or > MaxUnixSeconds)
                {
                    reason = "malformed expiry caveat";
                    return false;
                }

                caveat = new Caveat(CaveatType.Expiry, null, Capability.None, (long)seconds, null);
                reason = null;
                return true;
            }

            case CaveatType.Capabilities:
            {
                var caps = length == 1 ? (Capability)body[0] : Capability.None;
                if (caps == Capability.None || (caps & ~AllCapabilities) != 0)
                {
                    reason = "malformed capabilities caveat";
                    return false;
                }

                caveat = new Caveat(CaveatType.Capabilities, null, caps, 0, null);
                reason = null;
                return true;
            }

            case CaveatType.Path:
            {
                if (!TryText(body, out var text) || !PathGlob.TryParse(text, out var glob, out _))
                {
                    reason = "malformed path caveat";
                    return false;
                }

                caveat = new Caveat(CaveatType.Path, text, Capability.None, 0, glob);
                reason = null;
                return true;
            }

            case CaveatType.Tool or CaveatType.Agent:
            {
                if (!TryText(body, out var text) || !Names.IsName(text))
                {
                    reason = type == (byte)CaveatType.Tool ? "malformed tool caveat" : "malformed agent caveat";
                    return false;
                }

                caveat = new Caveat((CaveatType)type, text, Capability.None, 0, null);
                reason = null;
                return true;
            }

            case CaveatType.McpTool:
                reason = "mcp_tool caveats are reserved until MCP tool calls exist";
                return false;

            default:
                reason = "unknown caveat type";
                return false;
        }
    }

    /// <summary>Globs and names are ASCII by grammar; anything else is refused before it is looked at.</summary>
    private static bool TryText(ReadOnlySpan<byte> body, out string text)
    {
        if (body.IsEmpty || !System.Text.Ascii.IsValid(body))
        {
            text = "";
            return false;
        }

        text = Encoding.ASCII.GetString(body);
        return true;
    }

    /// <summary>How the caveat reads in docs and tests, e.g. <c>path:apps/web/**</c>; never a tag.</summary>
    public override string ToString() => Type switch
    {
        CaveatType.Expiry => $"expiry:{UnixSeconds}",
        CaveatType.Capabilities => "capabilities:" + string.Join(',', Policies.Capabilities.Names(Capabilities)),
        CaveatType.Path => "path:" + Text,
        CaveatType.Tool => "tool:" + Text,
        _ => "agent:" + Text,
    };
}
