using Keyward.Gateway.Egress;

namespace Keyward.Gateway.Tests;

public sealed class ProjectTests
{
    [Fact]
    public void PublicOnly_DoesNotAllowLoopback() => Assert.False(UpstreamAddresses.PublicOnly.AllowLoopback);
}
