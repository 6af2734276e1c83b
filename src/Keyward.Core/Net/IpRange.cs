using System.Net;
using System.Net.Sockets;

namespace Keyward.Core.Net;

/// <summary>
/// An IP range in CIDR notation (<c>10.1.0.0/16</c>, <c>fd00::/8</c>) or a single address (a /32 or /128). The one
/// parser and membership test the operator's allow-lists share (engines, the gateway). Membership is by address family:
/// an IPv4 range never holds an IPv6 address; callers judge IPv4-mapped IPv6 addresses as IPv4 before asking.
/// </summary>
public readonly record struct IpRange
{
    private IpRange(IPAddress network, int prefix)
    {
        Network = network;
        Prefix = prefix;
    }

    /// <summary>The address as written (host bits are not cleared: membership looks at the first <see cref="Prefix"/> bits only).</summary>
    public IPAddress Network { get; }

    /// <summary>How many leading bits belong to the range (32 or 128 for one address).</summary>
    public int Prefix { get; }

    public AddressFamily Family => Network.AddressFamily;

    /// <summary>Parses <c>address</c> or <c>address/prefix</c> (the prefix in decimal, at most 32 or 128).</summary>
    public static bool TryParse(string? text, out IpRange range)
    {
        range = default;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        if (!IPAddress.TryParse(addressText, out var address)
            || (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0))
        {
            return false;
        }

        var bits = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = bits;
        if (slash >= 0)
        {
            var prefixText = text.AsSpan(slash + 1);
            if (prefixText.Length is 0 or > 3 || prefixText.ContainsAnyExceptInRange('0', '9')
                || !int.TryParse(prefixText, out prefix) || prefix > bits)
            {
                return false;
            }
        }

        range = new IpRange(address, prefix);
        return true;
    }

    /// <summary>Parses a range known to be valid (a constant).</summary>
    /// <exception cref="FormatException">It is not.</exception>
    public static IpRange Parse(string text) =>
        TryParse(text, out var range) ? range : throw new FormatException($"'{text}' is not an IP address or CIDR range.");

    /// <summary>Whether <paramref name="address"/> is in the range (same family, same leading <see cref="Prefix"/> bits).</summary>
    public bool Contains(IPAddress address) =>
        Network is not null && address.AddressFamily == Network.AddressFamily && SamePrefix(address, Network, Prefix);

    /// <summary>Whether the two ranges share at least one address.</summary>
    public bool Overlaps(IpRange other) =>
        Network is not null && other.Network is not null && other.Family == Family
        && SamePrefix(Network, other.Network, Math.Min(Prefix, other.Prefix));

    public override string ToString() => Network is null ? "" : $"{Network}/{Prefix}";

    private static bool SamePrefix(IPAddress left, IPAddress right, int prefix)
    {
        Span<byte> a = stackalloc byte[16];
        Span<byte> b = stackalloc byte[16];
        left.TryWriteBytes(a, out var length);
        right.TryWriteBytes(b, out _);
        a = a[..length];
        b = b[..length];
        var whole = prefix / 8;
        if (!a[..whole].SequenceEqual(b[..whole]))
        {
            return false;
        }

        var rest = prefix % 8;
        if (rest == 0)
        {
            return true;
        }

        var mask = (byte)(0xFF << (8 - rest));
        return (a[whole] & mask) == (b[whole] & mask);
    }
}
