using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Keyward.Gateway.Egress;

namespace Keyward.Gateway.Tests.Egress;

/// <summary>The pinned handlers against a real listener on 127.0.0.1.</summary>
public sealed class UpstreamHandlersTests : IAsyncLifetime
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private Task _serving = Task.CompletedTask;
    private int _accepted;
    private string _response = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";

    private int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public Task InitializeAsync()
    {
        _listener.Start();
        _serving = ServeAsync();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _serving;
        }
        catch (OperationCanceledException)
        {
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            Interlocked.Increment(ref _accepted);
            var stream = client.GetStream();
            var buffer = new byte[8192];
            var seen = new StringBuilder();
            while (!seen.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var read = await stream.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    break;
                }

                seen.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }

            await stream.WriteAsync(Encoding.ASCII.GetBytes(_response), _stop.Token);
        }
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpMessageInvoker invoker, string url, Version? version = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (version is not null)
        {
            request.Version = version;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        return await invoker.SendAsync(request, CancellationToken.None);
    }

    private static UpstreamAddressRefusedException Refused(Exception thrown)
    {
        for (var e = thrown; e is not null; e = e.InnerException)
        {
            if (e is UpstreamAddressRefusedException refused)
            {
                return refused;
            }
        }

        throw new Xunit.Sdk.XunitException($"No UpstreamAddressRefusedException in {thrown}");
    }

    [Fact]
    public async Task StrictHandler_RefusesLoopback_WithoutConnecting()
    {
        using var handlers = new UpstreamHandlers(new UpstreamAddresses([], allowLoopback: true));

        var thrown = await Assert.ThrowsAsync<HttpRequestException>(() => GetAsync(handlers.For(false), $"http://127.0.0.1:{Port}/"));

        var refused = Refused(thrown);
        Assert.Equal("127.0.0.1", refused.Host);
        Assert.Contains("loopback", refused.Reason, StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref _accepted));
    }

    [Theory]
    [InlineData("2130706433")]          // 127.0.0.1 as one decimal number
    [InlineData("0x7f.0.0.1")]
    [InlineData("127.1")]
    [InlineData("[::ffff:127.0.0.1]")]
    [InlineData("[::1]")]
    public async Task StrictHandler_RefusesLoopback_HoweverItIsSpelled(string host)
    {
        using var handlers = new UpstreamHandlers(new UpstreamAddresses([], allowLoopback: true));

        var thrown = await Assert.ThrowsAsync<HttpRequestException>(() => GetAsync(handlers.For(false), $"http://{host}:{Port}/"));

        Refused(thrown);
        Assert.Equal(0, Volatile.Read(ref _accepted));
    }

    [Fact]
    public async Task PermissiveHandler_ReachesAMappedLoopbackAddress_AsIPv4()
    {
        using var handlers = new UpstreamHandlers(new UpstreamAddresses([], allowLoopback: true));

        using var response = await GetAsync(handlers.For(true), $"http://[::ffff:127.0.0.1]:{Port}/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task PermissiveHandler_ReachesLoopback_WhenTheServerAllowsIt()
    {
        using var handlers = new UpstreamHandlers(new UpstreamAddresses([], allowLoopback: true));

        using var response = await GetAsync(handlers.For(true), $"http://127.0.0.1:{Port}/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hello", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task PermissiveHandler_RefusesLoopback_WhenTheServerDoesNotAllowIt()
    {
        using var handlers = new UpstreamHandlers(UpstreamAddresses.PublicOnly);

        var thrown = await Assert.ThrowsAsync<HttpRequestException>(() => GetAsync(handlers.For(true), $"http://127.0.0.1:{Port}/"));

        Refused(thrown);
        Assert.Equal(0, Volatile.Read(ref _accepted));
    }

    [Fact]
    public async Task Localhost_ByName_IsRefusedLikeItsAddress()
    {
        using var handlers = new UpstreamHandlers(new UpstreamAddresses([], allowLoopback: true));

        var thrown = await Assert.ThrowsAsync<HttpRequestException>(() => GetAsync(handlers.For(false), $"http://localhost:{Port}/"));

        Assert.Equal("localhost", Refused(thrown).Host);
        Assert.Equal(0, Volatile.Read(ref _accepted));
    }

    [Fact]
    public async Task Localhost_ByName_IsReachedByThePermissiveHandler_TryingEachAddress()
    {
        // localhost may resolve to ::1 first; the listener is on 127.0.0.1 only, so the next address is tried.
        using var handlers = new UpstreamHandlers(new UpstreamAddresses([], allowLoopback: true));

        using var response = await GetAsync(handlers.For(true), $"http://localhost:{Port}/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Redirect_IsReturnedAsIs()
    {
        _response = "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        using var handlers = new UpstreamHandlers(new UpstreamAddresses([], allowLoopback: true));

        using var response = await GetAsync(handlers.For(true), $"http://127.0.0.1:{Port}/");

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal("http://169.254.169.254/latest/meta-data/", response.Headers.Location?.OriginalString);
        Assert.Equal(1, Volatile.Read(ref _accepted));
    }

    [Fact]
    public async Task Http3_IsNeverUsed_TheRequestGoesThroughTheCheckedCallback()
    {
        using var handlers = new UpstreamHandlers(new UpstreamAddresses([], allowLoopback: true));

        using var response = await GetAsync(handlers.For(true), $"http://127.0.0.1:{Port}/", HttpVersion.Version30);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version11, response.Version);
    }

    [Fact]
    public async Task CloudMetadata_IsRefusedFast_WithoutAConnectionAttempt()
    {
        using var handlers = new UpstreamHandlers(UpstreamAddresses.PublicOnly);
        var clock = Stopwatch.StartNew();

        var thrown = await Assert.ThrowsAsync<HttpRequestException>(() => GetAsync(handlers.For(false), "http://169.254.169.254/latest/meta-data/"));

        clock.Stop();
        Assert.Contains("link-local", Refused(thrown).Reason, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task IPv6Literal_IsCheckedToo()
    {
        using var handlers = new UpstreamHandlers(UpstreamAddresses.PublicOnly);

        var thrown = await Assert.ThrowsAsync<HttpRequestException>(() => GetAsync(handlers.For(false), "http://[fd00:ec2::254]/"));

        Refused(thrown);
    }

    [Fact]
    public async Task MixedAnswer_OneRefusedAddress_RefusesTheHost()
    {
        var endPoint = new DnsEndPoint("rebind.example", 80);

        var refused = await Assert.ThrowsAsync<UpstreamAddressRefusedException>(async () =>
            await UpstreamHandlers.ConnectAsync(UpstreamAddresses.PublicOnly, loopbackPermitted: false, endPoint,
                (_, _) => Task.FromResult(new[] { IPAddress.Parse("93.184.216.34"), IPAddress.Parse("169.254.169.254") }),
                CancellationToken.None));

        Assert.Equal("rebind.example", refused.Host);
    }

    [Fact]
    public async Task NoAddress_IsHostNotFound()
    {
        var endPoint = new DnsEndPoint("empty.example", 80);

        var failed = await Assert.ThrowsAsync<SocketException>(async () =>
            await UpstreamHandlers.ConnectAsync(UpstreamAddresses.PublicOnly, loopbackPermitted: false, endPoint,
                (_, _) => Task.FromResult(Array.Empty<IPAddress>()), CancellationToken.None));

        Assert.Equal(SocketError.HostNotFound, failed.SocketErrorCode);
    }

    [Fact]
    public async Task ConnectsToTheNextCheckedAddress_WhenOneFails()
    {
        var dev = new UpstreamAddresses([], allowLoopback: true);
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var deadPort = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();

        // Same port on two loopback addresses: 127.0.0.2 has no listener (refused), 127.0.0.1 has.
        await using var stream = await UpstreamHandlers.ConnectAsync(dev, loopbackPermitted: true, new DnsEndPoint("two.example", Port),
            (_, _) => Task.FromResult(new[] { IPAddress.Parse("127.0.0.2"), IPAddress.Loopback }), CancellationToken.None);
        Assert.IsType<NetworkStream>(stream);

        await Assert.ThrowsAsync<SocketException>(async () =>
            await UpstreamHandlers.ConnectAsync(dev, loopbackPermitted: true, new DnsEndPoint("dead.example", deadPort),
                (_, _) => Task.FromResult(new[] { IPAddress.Loopback }), CancellationToken.None));
    }

    [Fact]
    public void For_GivesTheSameInvokerEachTime_AndTwoDistinctOnes()
    {
        using var handlers = new UpstreamHandlers(UpstreamAddresses.PublicOnly);
        Assert.Same(handlers.For(false), handlers.For(false));
        Assert.Same(handlers.For(true), handlers.For(true));
        Assert.NotSame(handlers.For(false), handlers.For(true));
        Assert.Same(UpstreamAddresses.PublicOnly, handlers.Addresses);
    }

    [Fact]
    public void Handler_IsConfiguredForAnEgressProxy()
    {
        using var handler = UpstreamHandlers.CreateHandler(UpstreamAddresses.PublicOnly, loopbackPermitted: false);
        Assert.False(handler.UseProxy);
        Assert.False(handler.AllowAutoRedirect);
        Assert.Equal(DecompressionMethods.None, handler.AutomaticDecompression);
        Assert.False(handler.UseCookies);
        Assert.Null(handler.ActivityHeadersPropagator);
        Assert.Equal(TimeSpan.FromMinutes(2), handler.PooledConnectionLifetime);
        Assert.NotNull(handler.ConnectCallback);
    }
}
