using System.Net;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;

namespace Keyward.Gateway.Egress;

/// <summary>
/// The pooled <see cref="SocketsHttpHandler"/>s the gateway sends through: no system proxy, no automatic redirects,
/// no decompression, no cookies, no trace-context headers to third parties; a <see cref="SocketsHttpHandler.ConnectCallback"/>
/// resolves the host itself, checks EVERY resolved address against <see cref="UpstreamAddresses"/> (one refused address
/// refuses the host — no mixed-answer rebinding), and connects to a checked address (the connection is pinned to what
/// was checked: no second lookup). A refusal surfaces as <see cref="UpstreamAddressRefusedException"/> (inside the
/// <see cref="HttpRequestException"/> the client throws); a name that resolves to nothing as a
/// <see cref="SocketException"/> (<see cref="SocketError.HostNotFound"/>), like any failed lookup. Two handlers: one
/// strict, one that also permits loopback (used only for integrations with <c>allow_insecure_loopback</c> when the
/// server allows it), so a pooled connection made for one can never serve the other. HTTP/3 is never used: QUIC
/// connections do not go through the connect callback, so every request is capped at HTTP/2.
/// </summary>
public sealed class UpstreamHandlers : IDisposable
{
    /// <summary>Pooled connections are replaced this often, so a changed DNS answer is seen (and checked again).</summary>
    public static readonly TimeSpan PooledConnectionLifetime = TimeSpan.FromMinutes(2);

    /// <summary>How long one connection attempt (resolution, every address tried, TLS) may take.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    private readonly HttpMessageInvoker _strict;
    private readonly HttpMessageInvoker _loopback;

    public UpstreamHandlers(UpstreamAddresses addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        Addresses = addresses;
        _strict = new HttpMessageInvoker(new NoHttp3Handler(CreateHandler(addresses, loopbackPermitted: false)), disposeHandler: true);
        _loopback = new HttpMessageInvoker(new NoHttp3Handler(CreateHandler(addresses, loopbackPermitted: true)), disposeHandler: true);
    }

    public UpstreamAddresses Addresses { get; }

    /// <summary>The invoker for an integration (loopback permitted or not). Created once; shared by every request.</summary>
    public HttpMessageInvoker For(bool loopbackPermitted) => loopbackPermitted ? _loopback : _strict;

    public void Dispose()
    {
        _strict.Dispose();
        _loopback.Dispose();
    }

    internal static SocketsHttpHandler CreateHandler(UpstreamAddresses addresses, bool loopbackPermitted) => new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        PreAuthenticate = false,
        Credentials = null,
        ActivityHeadersPropagator = null,
        PooledConnectionLifetime = PooledConnectionLifetime,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
        ConnectTimeout = ConnectTimeout,
        ConnectCallback = (context, cancellationToken) => ConnectAsync(addresses, loopbackPermitted, context.DnsEndPoint, cancellationToken),
    };

    /// <summary>Resolves, checks every address, connects to the first checked address that answers.</summary>
    internal static ValueTask<Stream> ConnectAsync(
        UpstreamAddresses addresses, bool loopbackPermitted, DnsEndPoint endPoint, CancellationToken cancellationToken) =>
        ConnectAsync(addresses, loopbackPermitted, endPoint, Dns.GetHostAddressesAsync, cancellationToken);

    /// <summary>The same with another resolver (tests: a name with a mixed answer).</summary>
    internal static async ValueTask<Stream> ConnectAsync(
        UpstreamAddresses addresses,
        bool loopbackPermitted,
        DnsEndPoint endPoint,
        Func<string, CancellationToken, Task<IPAddress[]>> resolve,
        CancellationToken cancellationToken)
    {
        var host = endPoint.Host;
        var literalText = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        var candidates = IPAddress.TryParse(literalText, out var literal)
            ? [literal]
            : await resolve(host, cancellationToken);
        if (candidates.Length == 0)
        {
            throw new SocketException((int)SocketError.HostNotFound);
        }

        foreach (var address in candidates)
        {
            if (addresses.Refusal(address, loopbackPermitted) is { } reason)
            {
                throw new UpstreamAddressRefusedException(host, reason);
            }
        }

        Exception? last = null;
        foreach (var candidate in candidates)
        {
            // An IPv4-mapped address was judged as IPv4: connect to it as IPv4 (no dual-mode socket needed).
            var address = candidate.IsIPv4MappedToIPv6 ? candidate.MapToIPv4() : candidate;
            if (address.AddressFamily == AddressFamily.InterNetworkV6 && !Socket.OSSupportsIPv6)
            {
                continue;
            }

            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, endPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        if (last is null)
        {
            throw new SocketException((int)SocketError.AddressFamilyNotSupported);
        }

        ExceptionDispatchInfo.Throw(last);
        return null!;
    }

    /// <summary>Caps every request at HTTP/2: HTTP/3 (QUIC) would connect without the checked connect callback.</summary>
    private sealed class NoHttp3Handler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Cap(request);
            return base.SendAsync(request, cancellationToken);
        }

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Cap(request);
            return base.Send(request, cancellationToken);
        }

        private static void Cap(HttpRequestMessage request)
        {
            if (request.Version.Major >= 3)
            {
                request.Version = HttpVersion.Version20;
                request.VersionPolicy = HttpVersionPolicy.RequestVersionOrLower;
            }
            else if (request.VersionPolicy == HttpVersionPolicy.RequestVersionOrHigher)
            {
                request.VersionPolicy = HttpVersionPolicy.RequestVersionOrLower;
            }
        }
    }
}

/// <summary>The gateway refused to connect to an address (thrown from the connect callback).</summary>
public sealed class UpstreamAddressRefusedException(string host, string reason)
    : Exception($"Upstream '{host}' refused: {reason}")
{
    public string Host { get; } = host;

    public string Reason { get; } = reason;
}
