using System.Globalization;
using System.Net;

namespace Keyward.Server.Hosting;

/// <summary>A parsed <c>--listen</c> value: an IP literal (or localhost) and a port.</summary>
public sealed record ListenAddress(IPAddress Address, int Port, string Host)
{
    public bool IsLoopback => IPAddress.IsLoopback(Address);

    public static bool TryParse(string? text, out ListenAddress? address, out string? reason)
    {
        address = null;
        reason = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            reason = "is empty";
            return false;
        }

        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            reason = "must be host:port, such as 127.0.0.1:8210";
            return false;
        }

        var host = text[..colon];
        if (!int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            reason = "has an invalid port";
            return false;
        }

        var bare = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        IPAddress? ip;
        if (string.Equals(bare, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            ip = IPAddress.Loopback;
        }
        else if (!IPAddress.TryParse(bare, out ip))
        {
            reason = "must name an IP address or localhost";
            return false;
        }

        address = new ListenAddress(ip, port, host);
        return true;
    }

    public override string ToString() => Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
        ? $"[{Address}]:{Port}"
        : $"{Address}:{Port}";
}
