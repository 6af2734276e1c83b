using System.Net;
using System.Net.Sockets;
using Keyward.Core.Errors;
using Keyward.Core.Net;

namespace Keyward.Core.Engines;

/// <summary>
/// Where a tenant's secrets engine may connect: the operator's allow-list (<c>--engine-allow-hosts</c>: host names,
/// <c>*.suffix</c> wildcards, IP addresses or CIDR ranges). Loopback is allowed only in dev mode; unspecified,
/// multicast and link-local addresses (cloud metadata) never; and never Keyward's own store. A host is checked by
/// name when configured and by every address it resolves to when connecting; the connection then goes to the
/// checked address (no window for DNS to answer differently).
/// </summary>
public sealed class EngineHosts
{
    private readonly string[] _names;
    private readonly string[] _suffixes;
    private readonly IpRange[] _ranges;
    private readonly (string Host, int Port)[] _forbidden;

    /// <param name="allowed">The operator's entries.</param>
    /// <param name="allowLoopback">Dev mode: loopback hosts are allowed without being listed.</param>
    /// <param name="forbidden">Keyward's own store (host and port), refused whatever the list says.</param>
    public EngineHosts(IEnumerable<string> allowed, bool allowLoopback, IEnumerable<(string Host, int Port)> forbidden)
    {
        var names = new List<string>();
        var suffixes = new List<string>();
        var ranges = new List<IpRange>();
        foreach (var raw in allowed)
        {
            var entry = raw.Trim();
            if (entry.Length == 0)
            {
                continue;
            }

            if (IpRange.TryParse(entry, out var range))
            {
                if (!allowLoopback && IPAddress.IsLoopback(range.Network))
                {
                    throw new ArgumentException($"'{entry}' is a loopback range; engines may reach loopback only in dev mode (--dev).");
                }

                ranges.Add(range);
            }
            else if (entry.StartsWith("*.", StringComparison.Ordinal) && IsHostName(entry[2..]))
            {
                suffixes.Add(entry[1..].ToLowerInvariant());
            }
            else if (IsHostName(entry))
            {
                if (!allowLoopback && string.Equals(entry, "localhost", StringComparison.OrdinalIgnoreCase))
                {
                    throw new ArgumentException("'localhost' is loopback; engines may reach loopback only in dev mode (--dev).");
                }

                names.Add(entry.ToLowerInvariant());
            }
            else
            {
                throw new ArgumentException($"'{entry}' is not a host name, '*.domain', IP address or CIDR range.");
            }
        }

        _names = [.. names];
        _suffixes = [.. suffixes];
        _ranges = [.. ranges];
        AllowLoopback = allowLoopback;
        _forbidden = [.. forbidden.SelectMany(f => Spellings(f.Host).Select(h => (h, f.Port)))];
    }

    /// <summary>No host at all (the default outside dev mode until the operator lists some).</summary>
    public static EngineHosts None { get; } = new([], allowLoopback: false, []);

    public bool AllowLoopback { get; }

    /// <summary>Checks a configured host by name (no DNS yet): listed, or loopback in dev mode, and not Keyward's store.</summary>
    public void CheckConfigured(string host, int port)
    {
        var normalized = host.ToLowerInvariant();
        if (IsForbidden(normalized, port))
        {
            throw KeywardErrors.EngineHostNotAllowed(host, "it is Keyward's own store.");
        }

        if (IPAddress.TryParse(host, out var literal))
        {
            CheckAddress(host, literal, port);
            return;
        }

        if (AllowLoopback && normalized == "localhost")
        {
            return;
        }

        if (!_names.Contains(normalized) && !_suffixes.Any(s => normalized.EndsWith(s, StringComparison.Ordinal)))
        {
            throw KeywardErrors.EngineHostNotAllowed(host, NotListed);
        }
    }

    /// <summary>Resolves a configured host and returns the first address that passes every rule (each address is checked).</summary>
    public async Task<IPAddress> ResolveAsync(string host, int port, CancellationToken cancellationToken)
    {
        CheckConfigured(host, port);
        IPAddress[] addresses;
        if (IPAddress.TryParse(host, out var literal))
        {
            addresses = [literal];
        }
        else
        {
            try
            {
                addresses = await Dns.GetHostAddressesAsync(host, cancellationToken);
            }
            catch (SocketException)
            {
                throw KeywardErrors.EngineUnavailable(host, "its host name does not resolve.");
            }
        }

        if (addresses.Length == 0)
        {
            throw KeywardErrors.EngineUnavailable(host, "its host name does not resolve.");
        }

        // A name is allowed by the list; every address it resolves to must still pass the address rules.
        var byName = !IPAddress.TryParse(host, out _);
        foreach (var address in addresses)
        {
            CheckAddress(host, address, port, listedByName: byName);
        }

        return addresses[0];
    }

    private const string NotListed = "it is not in the operator's --engine-allow-hosts.";

    private void CheckAddress(string host, IPAddress address, int port, bool listedByName = false)
    {
        var ip = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        if (IsForbidden(ip.ToString(), port))
        {
            throw KeywardErrors.EngineHostNotAllowed(host, "it is Keyward's own store.");
        }

        if (IPAddress.IsLoopback(ip))
        {
            if (!AllowLoopback)
            {
                throw KeywardErrors.EngineHostNotAllowed(host, "it is a loopback address (allowed only in dev mode).");
            }

            return;
        }

        var bytes = ip.GetAddressBytes();
        var unspecified = ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any);
        var linkLocal = ip.AddressFamily == AddressFamily.InterNetwork ? bytes[0] == 169 && bytes[1] == 254 : ip.IsIPv6LinkLocal;
        var multicast = ip.AddressFamily == AddressFamily.InterNetwork ? bytes[0] >= 224 : ip.IsIPv6Multicast;
        if (unspecified || linkLocal || multicast)
        {
            throw KeywardErrors.EngineHostNotAllowed(host, "unspecified, link-local and multicast addresses are never reachable by engines.");
        }

        if (!listedByName && !_ranges.Any(r => r.Contains(ip)))
        {
            throw KeywardErrors.EngineHostNotAllowed(host, NotListed);
        }
    }

    /// <summary>A forbidden host by its name and every address it resolves to now.</summary>
    private static IEnumerable<string> Spellings(string host)
    {
        yield return host.ToLowerInvariant();
        if (IPAddress.TryParse(host, out _) || host.StartsWith('/'))
        {
            yield break;
        }

        IPAddress[] addresses;
        try
        {
            addresses = Dns.GetHostAddresses(host);
        }
        catch (SocketException)
        {
            yield break;
        }

        foreach (var address in addresses)
        {
            yield return (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();
        }
    }

    private bool IsForbidden(string host, int port) => _forbidden.Any(f => f.Port == port && f.Host == host);

    private static bool IsHostName(string value) =>
        value.Length is > 0 and <= 253 && Uri.CheckHostName(value) == UriHostNameType.Dns && !value.Contains('*', StringComparison.Ordinal);
}
