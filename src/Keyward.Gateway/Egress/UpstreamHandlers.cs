namespace Keyward.Gateway.Egress;

/// <summary>
/// The pooled <see cref="SocketsHttpHandler"/>s the gateway sends through: no system proxy, no automatic redirects,
/// no decompression, no cookies; a <see cref="SocketsHttpHandler.ConnectCallback"/> resolves the host itself, checks
/// EVERY resolved address against <see cref="UpstreamAddresses"/> (one refused address refuses the host — no
/// mixed-answer rebinding), and connects to a checked address (the connection is pinned to what was checked: no
/// second lookup). A refusal surfaces as <see cref="UpstreamAddressRefusedException"/> (inside the
/// <see cref="HttpRequestException"/> the client throws). Two handlers: one strict, one that also permits loopback
/// (used only for integrations with <c>allow_insecure_loopback</c> when the server allows it), so a pooled connection
/// made for one can never serve the other.
/// </summary>
public sealed class UpstreamHandlers : IDisposable
{
    public UpstreamHandlers(UpstreamAddresses addresses)
    {
        throw new NotImplementedException();
    }

    public UpstreamAddresses Addresses { get; } = UpstreamAddresses.PublicOnly;

    /// <summary>The invoker for an integration (loopback permitted or not).</summary>
    public HttpMessageInvoker For(bool loopbackPermitted) => throw new NotImplementedException();

    public void Dispose()
    {
    }
}

/// <summary>The gateway refused to connect to an address (thrown from the connect callback).</summary>
public sealed class UpstreamAddressRefusedException(string host, string reason)
    : Exception($"Upstream '{host}' refused: {reason}")
{
    public string Host { get; } = host;

    public string Reason { get; } = reason;
}
