using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace Keyward.Client;

/// <summary>
/// One restriction appended to a token by <see cref="KeywardToken.Attenuate(TokenCaveat[])"/>. Every caveat only
/// narrows: the server allows a request with a derived token only if the session's rules and every caveat allow it.
/// The format is docs/designs/0004-derived-tokens.md.
/// </summary>
public sealed partial class TokenCaveat
{
    internal const byte ExpiryType = 1;
    internal const byte PathType = 2;
    internal const byte CapabilitiesType = 3;
    internal const byte ToolType = 4;
    internal const byte AgentType = 5;

    /// <summary>Reserved for MCP tool calls (docs/designs/0004-derived-tokens.md): the server refuses it until they exist.</summary>
    internal const byte McpToolType = 6;

    private const long MaxUnixSeconds = 253_402_300_799;

    private static readonly string[] CapabilityNames = ["read", "use", "list", "write", "delete", "rotate"];

    private readonly byte[] _encoded;

    private TokenCaveat(byte type, string kind, string value, ReadOnlySpan<byte> body)
    {
        Kind = kind;
        Value = value;
        _encoded = new byte[3 + body.Length];
        _encoded[0] = type;
        BinaryPrimitives.WriteUInt16BigEndian(_encoded.AsSpan(1), (ushort)body.Length);
        body.CopyTo(_encoded.AsSpan(3));
    }

    /// <summary><c>expiry</c>, <c>path</c>, <c>capabilities</c>, <c>tool</c>, <c>agent</c> or <c>mcp_tool</c>.</summary>
    public string Kind { get; }

    /// <summary>The caveat's value as text: unix seconds, the glob, the comma-separated capabilities, the tool or agent id.</summary>
    public string Value { get; }

    /// <summary>The canonical encoding the token carries and the tag chain MACs.</summary>
    internal ReadOnlySpan<byte> Encoded => _encoded;

    internal byte Type => _encoded[0];

    /// <summary>The token stops working at <paramref name="expiresAt"/> (whole seconds). Every derived token needs one.</summary>
    public static TokenCaveat ExpiresAt(DateTimeOffset expiresAt)
    {
        var seconds = expiresAt.ToUnixTimeSeconds();
        if (seconds is <= 0 or > MaxUnixSeconds)
        {
            throw new ArgumentOutOfRangeException(nameof(expiresAt), "An expiry is after 1970 and before the year 10000.");
        }

        Span<byte> body = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(body, (ulong)seconds);
        return new TokenCaveat(ExpiryType, "expiry", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture), body);
    }

    /// <summary>
    /// Only paths matching <paramref name="glob"/>: segments separated by '/', each a literal, <c>*</c> (one whole
    /// segment) or <c>**</c> (one or more, last only). <c>apps/web/**</c> never matches <c>apps/web-admin/x</c>.
    /// </summary>
    public static TokenCaveat Path(string glob)
    {
        ArgumentNullException.ThrowIfNull(glob);
        if (!IsGlob(glob))
        {
            throw new ArgumentException("Invalid path glob: use '/'-separated segments of A-Z a-z 0-9 . _ -, '*', or a last '**' (at most 512 bytes).", nameof(glob));
        }

        return new TokenCaveat(PathType, "path", glob, Encoding.ASCII.GetBytes(glob));
    }

    /// <summary>Only these capabilities (a subset of read, use, list, write, delete, rotate).</summary>
    public static TokenCaveat Capabilities(params IEnumerable<string> capabilities)
    {
        ArgumentNullException.ThrowIfNull(capabilities);
        var mask = 0;
        foreach (var name in capabilities)
        {
            var index = Array.IndexOf(CapabilityNames, name);
            if (index < 0)
            {
                throw new ArgumentException("Unknown capability: use read, use, list, write, delete or rotate.", nameof(capabilities));
            }

            mask |= 1 << index;
        }

        if (mask == 0)
        {
            throw new ArgumentException("Name at least one capability.", nameof(capabilities));
        }

        var names = string.Join(',', CapabilityNames.Where((_, i) => (mask & (1 << i)) != 0));
        return new TokenCaveat(CapabilitiesType, "capabilities", names, [(byte)mask]);
    }

    /// <summary>
    /// Only calls of this one integration (named like a tool): the HTTP gateway's <c>/v1/gateway/{name}/…</c> (and its
    /// MCP route once Keyward serves MCP). The token can read, list or write nothing, and call no other integration.
    /// </summary>
    public static TokenCaveat Tool(string name) => NameCaveat(ToolType, "tool", name, nameof(name));

    /// <summary>
    /// Type 6, <c>mcp_tool</c>: only the MCP tools of <paramref name="integration"/> whose names match
    /// <paramref name="toolGlob"/> (<c>*</c> matches any run of characters); several must all match. <b>Reserved:</b> the
    /// format is fixed now, but the server refuses a token carrying it until Keyward serves MCP tool calls.
    /// </summary>
    public static TokenCaveat McpTool(string integration, string toolGlob)
    {
        ArgumentNullException.ThrowIfNull(integration);
        ArgumentNullException.ThrowIfNull(toolGlob);
        if (!NameRegex().IsMatch(integration) || !McpToolGlobRegex().IsMatch(toolGlob))
        {
            throw new ArgumentException("An mcp_tool caveat is INTEGRATION/GLOB: an integration name, '/', and 1-128 of A-Z a-z 0-9 . _ - / *.", nameof(toolGlob));
        }

        var value = integration + "/" + toolGlob;
        return new TokenCaveat(McpToolType, "mcp_tool", value, Encoding.ASCII.GetBytes(value));
    }

    /// <summary>Names the sub-agent the token is handed to; it appears in the audit record's delegation chain.</summary>
    public static TokenCaveat SubAgent(string agentId) => NameCaveat(AgentType, "agent", agentId, nameof(agentId));

    /// <summary>Reads one caveat of a derived token; null if it is not one this SDK knows.</summary>
    internal static TokenCaveat? TryRead(ReadOnlySpan<byte> source, out int consumed)
    {
        consumed = 0;
        if (source.Length < 3)
        {
            return null;
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(source[1..]);
        if (source.Length - 3 < length)
        {
            return null;
        }

        var body = source.Slice(3, length);
        consumed = 3 + length;
        try
        {
            return source[0] switch
            {
                ExpiryType when length == 8 && BinaryPrimitives.ReadUInt64BigEndian(body) is > 0 and <= MaxUnixSeconds =>
                    ExpiresAt(DateTimeOffset.FromUnixTimeSeconds((long)BinaryPrimitives.ReadUInt64BigEndian(body))),
                CapabilitiesType when length == 1 && body[0] is > 0 and < 64 => FromMask(body[0]),
                PathType when Ascii.IsValid(body) => Path(Encoding.ASCII.GetString(body)),
                ToolType when Ascii.IsValid(body) => Tool(Encoding.ASCII.GetString(body)),
                AgentType when Ascii.IsValid(body) => SubAgent(Encoding.ASCII.GetString(body)),
                McpToolType when Ascii.IsValid(body) && Encoding.ASCII.GetString(body) is var text && text.IndexOf('/', StringComparison.Ordinal) is > 0 and var slash =>
                    McpTool(text[..slash], text[(slash + 1)..]),
                _ => null,
            };
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    public override string ToString() => Kind + ":" + Value;

    private static TokenCaveat FromMask(int mask) => Capabilities(CapabilityNames.Where((_, i) => (mask & (1 << i)) != 0));

    private static TokenCaveat NameCaveat(byte type, string kind, string value, string paramName)
    {
        ArgumentNullException.ThrowIfNull(value, paramName);
        if (!NameRegex().IsMatch(value))
        {
            throw new ArgumentException($"Invalid {kind} name: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit.", paramName);
        }

        return new TokenCaveat(type, kind, value, Encoding.ASCII.GetBytes(value));
    }

    private static bool IsGlob(string glob)
    {
        if (glob.Length is 0 or > 512)
        {
            return false;
        }

        var segments = glob.Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            var s = segments[i];
            if (s == "**" ? i != segments.Length - 1 : s != "*" && (s.Length == 0 || s is "." or ".." || !s.All(IsSegmentChar)))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsSegmentChar(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-';

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z", RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();

    [GeneratedRegex(@"\A[A-Za-z0-9._/*-]{1,128}\z", RegexOptions.CultureInvariant)]
    private static partial Regex McpToolGlobRegex();
}
