using System.Net;

namespace Keyward.Gateway.Egress;

/// <summary>
/// Which addresses the gateway may connect to. Public unicast addresses are allowed; loopback, private (RFC 1918,
/// RFC 4193), link-local (169.254.0.0/16 and fe80::/10 — cloud metadata), CGNAT (100.64.0.0/10), multicast,
/// unspecified (and the other special-purpose ranges) are refused unless the operator allows a range
/// (<c>--gateway-allow-cidr</c>). Loopback is allowed only for an integration with <c>allow_insecure_loopback</c> on a
/// server that permits it (<c>--dev</c> or <c>--gateway-allow-loopback</c>): the handler for those integrations is
/// built with <c>loopbackPermitted: true</c>. IPv4-mapped IPv6 addresses are judged as the IPv4 address.
/// </summary>
public sealed class UpstreamAddresses
{
    /// <param name="allowedCidrs">The operator's extra ranges (<c>10.1.0.0/16</c>, <c>fd00::/8</c>, a single address).</param>
    /// <param name="allowLoopback">Whether integrations may ask for loopback (<c>--dev</c> or <c>--gateway-allow-loopback</c>).</param>
    /// <exception cref="ArgumentException">An entry is not an address or CIDR range.</exception>
    public UpstreamAddresses(IEnumerable<string> allowedCidrs, bool allowLoopback)
    {
        throw new NotImplementedException();
    }

    /// <summary>Nothing special allowed (public addresses only).</summary>
    public static UpstreamAddresses PublicOnly { get; } = new([], allowLoopback: false);

    /// <summary>Whether integrations may ask for loopback.</summary>
    public bool AllowLoopback { get; }

    /// <summary>Null when <paramref name="address"/> may be reached; otherwise why not (for an error message).</summary>
    public string? Refusal(IPAddress address, bool loopbackPermitted) => throw new NotImplementedException();
}
