using System.Net;
using System.Net.Sockets;
using Keyward.Core.Net;

namespace Keyward.Gateway.Egress;

/// <summary>
/// Which addresses the gateway may connect to. Public unicast addresses are allowed; loopback, private (RFC 1918,
/// RFC 4193), link-local (169.254.0.0/16 and fe80::/10 — cloud metadata), CGNAT (100.64.0.0/10), multicast,
/// unspecified (and the other special-purpose ranges: see <see cref="SpecialRanges"/>) are refused unless the operator
/// allows a range (<c>--gateway-allow-cidr</c>). Loopback is allowed only for an integration with
/// <c>allow_insecure_loopback</c> on a server that permits it (<c>--dev</c> or <c>--gateway-allow-loopback</c>): the
/// handler for those integrations is built with <c>loopbackPermitted: true</c>; an operator range never opens loopback
/// (a range that covers any loopback address is refused at construction unless loopback is allowed, and even then
/// loopback is reached only by the loopback-permitted handler). IPv4-mapped IPv6 addresses are judged as the IPv4
/// address; addresses that embed an IPv4 address (NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo 2001::/32) are refused
/// when the embedded address would be (an embedded loopback address always is).
/// </summary>
public sealed class UpstreamAddresses
{
    private static readonly IpRange LoopbackV4 = IpRange.Parse("127.0.0.0/8");
    private static readonly IpRange LoopbackV6 = IpRange.Parse("::1/128");
    private static readonly IpRange Nat64 = IpRange.Parse("64:ff9b::/96");
    private static readonly IpRange SixToFour = IpRange.Parse("2002::/16");
    private static readonly IpRange Teredo = IpRange.Parse("2001::/32");

    /// <summary>
    /// The ranges refused unless the operator allows them, most specific first (the first that holds an address names
    /// the reason). Loopback is not here: it has its own rule.
    /// </summary>
    internal static readonly (IpRange Range, string What)[] SpecialRanges =
    [
        (IpRange.Parse("255.255.255.255/32"), "the broadcast address"),
        (IpRange.Parse("0.0.0.0/8"), "unspecified ('this network', 0.0.0.0/8)"),
        (IpRange.Parse("10.0.0.0/8"), "private (RFC 1918)"),
        (IpRange.Parse("100.64.0.0/10"), "shared address space (CGNAT, 100.64.0.0/10)"),
        (IpRange.Parse("169.254.0.0/16"), "link-local (169.254.0.0/16, cloud metadata)"),
        (IpRange.Parse("172.16.0.0/12"), "private (RFC 1918)"),
        (IpRange.Parse("192.0.0.0/24"), "IETF protocol assignments (192.0.0.0/24)"),
        (IpRange.Parse("192.0.2.0/24"), "documentation (TEST-NET-1)"),
        (IpRange.Parse("192.88.99.0/24"), "the deprecated 6to4 relay anycast (192.88.99.0/24)"),
        (IpRange.Parse("192.168.0.0/16"), "private (RFC 1918)"),
        (IpRange.Parse("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"),
        (IpRange.Parse("198.51.100.0/24"), "documentation (TEST-NET-2)"),
        (IpRange.Parse("203.0.113.0/24"), "documentation (TEST-NET-3)"),
        (IpRange.Parse("224.0.0.0/4"), "multicast"),
        (IpRange.Parse("240.0.0.0/4"), "reserved (240.0.0.0/4)"),
        (IpRange.Parse("::/128"), "unspecified (::)"),
        (IpRange.Parse("::ffff:0:0:0/96"), "IPv4-translated (::ffff:0:0:0/96)"),
        (IpRange.Parse("::/96"), "IPv4-compatible (deprecated, ::/96)"),
        (IpRange.Parse("64:ff9b:1::/48"), "local-use NAT64 (64:ff9b:1::/48)"),
        (IpRange.Parse("100::/64"), "discard-only (100::/64)"),
        (IpRange.Parse("2001:2::/48"), "benchmarking (2001:2::/48)"),
        (IpRange.Parse("2001:10::/28"), "ORCHID (2001:10::/28)"),
        (IpRange.Parse("2001:20::/28"), "ORCHIDv2 (2001:20::/28)"),
        (IpRange.Parse("2001:db8::/32"), "documentation (2001:db8::/32)"),
        (IpRange.Parse("3fff::/20"), "documentation (3fff::/20)"),
        (IpRange.Parse("fc00::/7"), "unique local (RFC 4193, fc00::/7)"),
        (IpRange.Parse("fe80::/10"), "link-local (fe80::/10)"),
        (IpRange.Parse("fec0::/10"), "site-local (deprecated, fec0::/10)"),
        (IpRange.Parse("ff00::/8"), "multicast"),
    ];

    private readonly IpRange[] _allowed;

    /// <param name="allowedCidrs">The operator's extra ranges (<c>10.1.0.0/16</c>, <c>fd00::/8</c>, a single address).
    /// An IPv4-mapped range (<c>::ffff:10.0.0.0/104</c>) is taken as the IPv4 range it maps.</param>
    /// <param name="allowLoopback">Whether integrations may ask for loopback (<c>--dev</c> or <c>--gateway-allow-loopback</c>).</param>
    /// <exception cref="ArgumentException">An entry is not an address or CIDR range, or it covers loopback while
    /// <paramref name="allowLoopback"/> is false (like <c>--engine-allow-hosts</c>: a wide range such as
    /// <c>0.0.0.0/0</c> must not open loopback by accident).</exception>
    public UpstreamAddresses(IEnumerable<string> allowedCidrs, bool allowLoopback)
    {
        ArgumentNullException.ThrowIfNull(allowedCidrs);
        var allowed = new List<IpRange>();
        foreach (var raw in allowedCidrs)
        {
            var entry = raw?.Trim() ?? "";
            if (entry.Length == 0)
            {
                continue;
            }

            if (!IpRange.TryParse(entry, out var range))
            {
                throw new ArgumentException($"'{entry}' is not an IP address or CIDR range.", nameof(allowedCidrs));
            }

            if (range.Network.IsIPv4MappedToIPv6 && range.Prefix >= 96)
            {
                range = IpRange.Parse($"{range.Network.MapToIPv4()}/{range.Prefix - 96}");
            }

            if (!allowLoopback && (range.Overlaps(LoopbackV4) || range.Overlaps(LoopbackV6)))
            {
                throw new ArgumentException(
                    $"'{entry}' covers loopback addresses; the gateway may reach loopback only with --dev or --gateway-allow-loopback.",
                    nameof(allowedCidrs));
            }

            allowed.Add(range);
        }

        _allowed = [.. allowed];
        AllowLoopback = allowLoopback;
    }

    /// <summary>Nothing special allowed (public addresses only).</summary>
    public static UpstreamAddresses PublicOnly { get; } = new([], allowLoopback: false);

    /// <summary>Whether integrations may ask for loopback.</summary>
    public bool AllowLoopback { get; }

    /// <summary>Null when <paramref name="address"/> may be reached; otherwise why not (for an error message).</summary>
    public string? Refusal(IPAddress address, bool loopbackPermitted)
    {
        ArgumentNullException.ThrowIfNull(address);
        var ip = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        return Judge(ip, loopbackPermitted && AllowLoopback, embedded: false);
    }

    private string? Judge(IPAddress ip, bool loopback, bool embedded)
    {
        if (LoopbackV4.Contains(ip) || LoopbackV6.Contains(ip))
        {
            return loopback && !embedded
                ? null
                : $"{ip} is a loopback address (allowed only for integrations with allow_insecure_loopback on a server run with --dev or --gateway-allow-loopback).";
        }

        if (_allowed.Any(r => r.Contains(ip)))
        {
            return null;
        }

        if (ip.AddressFamily == AddressFamily.InterNetworkV6 && !embedded)
        {
            foreach (var inner in EmbeddedIPv4(ip))
            {
                if (Judge(inner, loopback: false, embedded: true) is { } refused)
                {
                    return $"{ip} embeds {inner}: {refused}";
                }
            }
        }

        foreach (var (range, what) in SpecialRanges)
        {
            if (range.Contains(ip))
            {
                return $"{ip} is {what}; the operator can allow a range with --gateway-allow-cidr.";
            }
        }

        return null;
    }

    /// <summary>The IPv4 addresses an IPv6 address carries: NAT64 (last 32 bits), 6to4 (bits 16–47), Teredo (server and obfuscated client).</summary>
    private static IEnumerable<IPAddress> EmbeddedIPv4(IPAddress ip)
    {
        var b = ip.GetAddressBytes();
        if (Nat64.Contains(ip))
        {
            yield return new IPAddress(b.AsSpan(12, 4));
        }
        else if (SixToFour.Contains(ip))
        {
            yield return new IPAddress(b.AsSpan(2, 4));
        }
        else if (Teredo.Contains(ip))
        {
            yield return new IPAddress(b.AsSpan(4, 4));
            yield return new IPAddress([(byte)~b[12], (byte)~b[13], (byte)~b[14], (byte)~b[15]]);
        }
    }
}
