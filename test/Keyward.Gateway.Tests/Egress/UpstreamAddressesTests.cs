using System.Net;
using Keyward.Gateway.Egress;

namespace Keyward.Gateway.Tests.Egress;

public sealed class UpstreamAddressesTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.1.2.3")]
    [InlineData("::1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("10.0.0.1")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.254")]
    [InlineData("192.168.1.1")]
    [InlineData("fc00::1")]
    [InlineData("fd12:3456::1")]
    [InlineData("169.254.169.254")]           // cloud metadata
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("fe80::1")]
    [InlineData("fe80::1%1")]
    [InlineData("100.64.0.1")]
    [InlineData("100.127.255.255")]
    [InlineData("224.0.0.1")]
    [InlineData("239.255.255.250")]
    [InlineData("ff02::1")]
    [InlineData("0.0.0.0")]
    [InlineData("0.1.2.3")]
    [InlineData("::")]
    [InlineData("255.255.255.255")]
    [InlineData("192.0.0.8")]
    [InlineData("192.0.2.1")]
    [InlineData("198.18.0.1")]
    [InlineData("198.19.255.255")]
    [InlineData("198.51.100.1")]
    [InlineData("203.0.113.1")]
    [InlineData("240.0.0.1")]
    [InlineData("192.88.99.1")]
    [InlineData("64:ff9b::a9fe:a9fe")]          // NAT64 of 169.254.169.254
    [InlineData("64:ff9b::7f00:1")]             // NAT64 of 127.0.0.1
    [InlineData("64:ff9b::10.0.0.1")]
    [InlineData("64:ff9b:1::1")]
    [InlineData("2002:a9fe:a9fe::1")]           // 6to4 of 169.254.169.254
    [InlineData("2002:7f00:1::")]               // 6to4 of 127.0.0.1
    [InlineData("2002:c0a8:101::1")]            // 6to4 of 192.168.1.1
    [InlineData("2001:0:4136:e378:8000:63bf:f5ff:fffe")] // Teredo, client 10.0.0.1 (obfuscated)
    [InlineData("2001:0:a00:1::1")]             // Teredo, server 10.0.0.1
    [InlineData("::10.0.0.1")]                  // IPv4-compatible (deprecated)
    [InlineData("::8.8.8.8")]
    [InlineData("::ffff:0:8.8.8.8")]            // IPv4-translated
    [InlineData("100::1")]
    [InlineData("2001:db8::1")]
    [InlineData("2001:2::1")]
    [InlineData("2001:10::1")]
    [InlineData("fec0::1")]
    [InlineData("3fff::1")]
    public void SpecialAddresses_AreRefusedByDefault(string address)
    {
        var reason = UpstreamAddresses.PublicOnly.Refusal(IPAddress.Parse(address), loopbackPermitted: true);
        Assert.NotNull(reason);
        Assert.NotEmpty(reason);
    }

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("93.184.216.34")]
    [InlineData("100.63.255.255")]              // just below CGNAT
    [InlineData("100.128.0.0")]                 // just above CGNAT
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.0")]
    [InlineData("198.17.255.255")]
    [InlineData("198.20.0.0")]
    [InlineData("223.255.255.255")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("2a00:1450:4001:81c::200e")]
    [InlineData("64:ff9b::808:808")]            // NAT64 of 8.8.8.8
    [InlineData("2002:808:808::1")]             // 6to4 of 8.8.8.8
    public void PublicAddresses_AreAllowed(string address) =>
        Assert.Null(UpstreamAddresses.PublicOnly.Refusal(IPAddress.Parse(address), loopbackPermitted: false));

    [Fact]
    public void Refusal_SaysWhy()
    {
        var reason = UpstreamAddresses.PublicOnly.Refusal(IPAddress.Parse("169.254.169.254"), loopbackPermitted: false);
        Assert.Contains("link-local", reason, StringComparison.Ordinal);
        Assert.Contains("--gateway-allow-cidr", reason, StringComparison.Ordinal);

        var embedded = UpstreamAddresses.PublicOnly.Refusal(IPAddress.Parse("2002:a9fe:a9fe::1"), loopbackPermitted: false);
        Assert.Contains("embeds 169.254.169.254", embedded, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    [InlineData("::ffff:127.0.0.1")]
    public void Loopback_NeedsBothTheServerAndTheIntegration(string text)
    {
        var address = IPAddress.Parse(text);
        var dev = new UpstreamAddresses([], allowLoopback: true);
        Assert.Null(dev.Refusal(address, loopbackPermitted: true));
        Assert.NotNull(dev.Refusal(address, loopbackPermitted: false));
        Assert.NotNull(UpstreamAddresses.PublicOnly.Refusal(address, loopbackPermitted: true));
        Assert.NotNull(UpstreamAddresses.PublicOnly.Refusal(address, loopbackPermitted: false));
    }

    [Theory]
    [InlineData("2002:7f00:1::")]
    [InlineData("64:ff9b::7f00:1")]
    public void EmbeddedLoopback_IsRefusedEvenWhereLoopbackIsPermitted(string text) =>
        Assert.NotNull(new UpstreamAddresses([], allowLoopback: true).Refusal(IPAddress.Parse(text), loopbackPermitted: true));

    [Fact]
    public void OperatorRanges_AllowTheirAddressesOnly()
    {
        var addresses = new UpstreamAddresses(["10.1.0.0/16", "fd00::/8", "169.254.169.254", " ", ""], allowLoopback: false);

        Assert.Null(addresses.Refusal(IPAddress.Parse("10.1.2.3"), loopbackPermitted: false));
        Assert.Null(addresses.Refusal(IPAddress.Parse("::ffff:10.1.2.3"), loopbackPermitted: false));
        Assert.Null(addresses.Refusal(IPAddress.Parse("fd12::1"), loopbackPermitted: false));
        Assert.Null(addresses.Refusal(IPAddress.Parse("169.254.169.254"), loopbackPermitted: false));
        Assert.Null(addresses.Refusal(IPAddress.Parse("2002:a01:203::"), loopbackPermitted: false)); // 6to4 of 10.1.2.3

        Assert.NotNull(addresses.Refusal(IPAddress.Parse("10.2.0.1"), loopbackPermitted: false));
        Assert.NotNull(addresses.Refusal(IPAddress.Parse("169.254.169.253"), loopbackPermitted: false));
        Assert.NotNull(addresses.Refusal(IPAddress.Parse("fc00::1"), loopbackPermitted: false));
        Assert.NotNull(addresses.Refusal(IPAddress.Parse("127.0.0.1"), loopbackPermitted: true));
    }

    [Fact]
    public void MappedOperatorRange_IsTakenAsItsIPv4Range()
    {
        var addresses = new UpstreamAddresses(["::ffff:10.0.0.0/104"], allowLoopback: false);
        Assert.Null(addresses.Refusal(IPAddress.Parse("10.9.9.9"), loopbackPermitted: false));
        Assert.Throws<ArgumentException>(() => new UpstreamAddresses(["::ffff:127.0.0.0/104"], allowLoopback: false));
    }

    [Theory]
    [InlineData("127.0.0.0/8")]
    [InlineData("127.0.0.1")]
    [InlineData("0.0.0.0/0")]
    [InlineData("96.0.0.0/3")]
    [InlineData("::1")]
    [InlineData("::/0")]
    public void RangeCoveringLoopback_IsRefusedUnlessLoopbackIsAllowed(string range)
    {
        var refused = Assert.Throws<ArgumentException>(() => new UpstreamAddresses([range], allowLoopback: false));
        Assert.Contains("loopback", refused.Message, StringComparison.Ordinal);
        _ = new UpstreamAddresses([range], allowLoopback: true);
    }

    [Fact]
    public void RangeCoveringLoopback_DoesNotOpenLoopbackToTheStrictHandler()
    {
        var addresses = new UpstreamAddresses(["0.0.0.0/0"], allowLoopback: true);
        Assert.NotNull(addresses.Refusal(IPAddress.Parse("127.0.0.1"), loopbackPermitted: false));
        Assert.Null(addresses.Refusal(IPAddress.Parse("10.0.0.1"), loopbackPermitted: false));
    }

    [Theory]
    [InlineData("db.example")]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.0.0.0/x")]
    [InlineData("*.example")]
    public void NotARange_IsRefusedAtConstruction(string entry) =>
        Assert.Throws<ArgumentException>(() => new UpstreamAddresses([entry], allowLoopback: true));
}
