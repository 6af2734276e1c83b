using Keyward.Core.Engines;
using Keyward.Core.Errors;

namespace Keyward.Core.Tests.Engines;

/// <summary>Where a tenant's engine may connect: the operator's list, loopback only in dev mode, never metadata or Keyward's own store.</summary>
public sealed class EngineHostsTests
{
    private static readonly EngineHosts Listed = new(["db.internal.example", "*.pg.example", "10.20.0.0/16", "192.0.2.7"], allowLoopback: false, [("store.example", 5432)]);

    [Theory]
    [InlineData("db.internal.example", 5432)]
    [InlineData("DB.Internal.Example", 5432)]
    [InlineData("a.pg.example", 5432)]
    [InlineData("deep.a.pg.example", 6432)]
    [InlineData("10.20.3.4", 5432)]
    [InlineData("192.0.2.7", 5432)]
    public void ListedHosts_AreAllowedByName(string host, int port) => Listed.CheckConfigured(host, port);

    [Theory]
    [InlineData("other.example")]
    [InlineData("pg.example")]                 // the wildcard is for subdomains only
    [InlineData("db.internal.example.evil.com")]
    [InlineData("10.21.0.1")]
    [InlineData("192.0.2.8")]
    [InlineData("localhost")]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    [InlineData("169.254.169.254")]
    [InlineData("0.0.0.0")]
    [InlineData("224.0.0.1")]
    [InlineData("store.example")]              // Keyward's own store
    public void AnythingElse_IsRefused(string host)
    {
        var refused = Assert.Throws<KeywardException>(() => Listed.CheckConfigured(host, 5432));
        Assert.Equal("engine_host_not_allowed", refused.Code);
    }

    [Fact]
    public async Task Loopback_IsAllowedInDevMode_ButMetadataAndTheStoreNeverAre()
    {
        var dev = new EngineHosts([], allowLoopback: true, [("127.0.0.1", 5432)]);
        dev.CheckConfigured("127.0.0.1", 15432);
        dev.CheckConfigured("localhost", 15432);
        dev.CheckConfigured("::1", 15432);
        Assert.Equal("engine_host_not_allowed", Assert.Throws<KeywardException>(() => dev.CheckConfigured("127.0.0.1", 5432)).Code);
        // Another name of the store passes the name check, and is refused at connection time by its address.
        Assert.Equal("engine_host_not_allowed", (await Assert.ThrowsAsync<KeywardException>(() => dev.ResolveAsync("localhost", 5432, CancellationToken.None))).Code);
        Assert.Equal("engine_host_not_allowed", Assert.Throws<KeywardException>(() => dev.CheckConfigured("169.254.169.254", 80)).Code);
        Assert.Equal("engine_host_not_allowed", Assert.Throws<KeywardException>(() => dev.CheckConfigured("10.0.0.1", 5432)).Code);
    }

    [Fact]
    public void NothingIsAllowed_ByDefault()
    {
        Assert.Equal("engine_host_not_allowed", Assert.Throws<KeywardException>(() => EngineHosts.None.CheckConfigured("db.example", 5432)).Code);
    }

    [Theory]
    [InlineData("127.0.0.0/8")]
    [InlineData("localhost")]
    [InlineData("::1")]
    [InlineData("not a host")]
    [InlineData("10.0.0.0/33")]
    [InlineData("*")]
    public void TheOperatorsList_RefusesLoopbackOutsideDevMode_AndNonsense(string entry) =>
        Assert.Throws<ArgumentException>(() => new EngineHosts([entry], allowLoopback: false, []));

    [Fact]
    public async Task Resolution_ChecksEveryAddress_SoANameCannotLeadToLoopback()
    {
        // "localhost" resolves to loopback: listed by a wildcard or not, outside dev mode it is refused once resolved.
        var hosts = new EngineHosts(["*.localhost.example"], allowLoopback: false, []);
        var refused = await Assert.ThrowsAsync<KeywardException>(() => hosts.ResolveAsync("localhost", 5432, CancellationToken.None));
        Assert.Equal("engine_host_not_allowed", refused.Code);

        var dev = new EngineHosts([], allowLoopback: true, []);
        Assert.True(System.Net.IPAddress.IsLoopback(await dev.ResolveAsync("localhost", 5432, CancellationToken.None)));
    }
}
