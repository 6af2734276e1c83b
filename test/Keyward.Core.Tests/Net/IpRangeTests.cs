using System.Net;
using Keyward.Core.Net;

namespace Keyward.Core.Tests.Net;

public sealed class IpRangeTests
{
    [Theory]
    [InlineData("10.0.0.0/8", "10.255.1.2", true)]
    [InlineData("10.0.0.0/8", "11.0.0.1", false)]
    [InlineData("172.16.0.0/12", "172.31.255.255", true)]
    [InlineData("172.16.0.0/12", "172.32.0.0", false)]
    [InlineData("192.0.2.7", "192.0.2.7", true)]
    [InlineData("192.0.2.7", "192.0.2.8", false)]
    [InlineData("0.0.0.0/0", "203.0.113.9", true)]
    [InlineData("0.0.0.0/0", "::1", false)]
    [InlineData("fd00::/8", "fd12::1", true)]
    [InlineData("fd00::/8", "fe80::1", false)]
    [InlineData("fe80::/10", "febf::1", true)]
    [InlineData("fe80::/10", "fec0::1", false)]
    [InlineData("::/0", "10.0.0.1", false)]
    public void Contains_LooksAtThePrefixBitsOfTheSameFamily(string range, string address, bool expected) =>
        Assert.Equal(expected, IpRange.Parse(range).Contains(IPAddress.Parse(address)));

    [Theory]
    [InlineData("")]
    [InlineData("10.0.0.0/")]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.0.0.0/-1")]
    [InlineData("10.0.0.0/+8")]
    [InlineData("10.0.0.0/ 8")]
    [InlineData("::/129")]
    [InlineData("fe80::1%2/64")]
    [InlineData("db.example")]
    [InlineData("10.0.0.0/8/8")]
    public void TryParse_RefusesWhatIsNotAnAddressOrRange(string text) => Assert.False(IpRange.TryParse(text, out _));

    [Theory]
    [InlineData("0.0.0.0/0", "127.0.0.0/8", true)]
    [InlineData("127.0.0.1", "127.0.0.0/8", true)]
    [InlineData("126.0.0.0/8", "127.0.0.0/8", false)]
    [InlineData("::/0", "::1/128", true)]
    [InlineData("0.0.0.0/0", "::1/128", false)]
    public void Overlaps_IsTrueWhenTheRangesShareAnAddress(string a, string b, bool expected)
    {
        Assert.Equal(expected, IpRange.Parse(a).Overlaps(IpRange.Parse(b)));
        Assert.Equal(expected, IpRange.Parse(b).Overlaps(IpRange.Parse(a)));
    }
}
