using Keyward.Core.Validation;

namespace Keyward.Core.Tests.Validation;

public sealed class DurationsTests
{
    [Theory]
    [InlineData("90s", 90)]
    [InlineData("10m", 600)]
    [InlineData("1h", 3600)]
    [InlineData("7d", 604800)]
    [InlineData("3600", 3600)]
    [InlineData("1", 1)]
    [InlineData("1s", 1)]
    [InlineData("0090s", 90)]
    [InlineData("3650d", 315360000)]
    [InlineData("315360000", 315360000)]
    public void TryParse_Valid_GivesSeconds(string text, long seconds)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromSeconds(seconds), value);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("0")]
    [InlineData("0s")]
    [InlineData("0d")]
    [InlineData("-5")]
    [InlineData("-5s")]
    [InlineData("+5")]
    [InlineData("s")]
    [InlineData("h")]
    [InlineData("abc")]
    [InlineData("1x")]
    [InlineData("1H")]
    [InlineData("1.5h")]
    [InlineData("1,5h")]
    [InlineData("1 h")]
    [InlineData(" 1h")]
    [InlineData("1h ")]
    [InlineData("1h30m")]
    [InlineData("0x10")]
    [InlineData("1e3")]
    [InlineData("\uFF11h")] // fullwidth digit
    [InlineData("\u0661h")] // Arabic-Indic digit
    [InlineData("3651d")]
    [InlineData("315360001")]
    [InlineData("999999999999d")]
    [InlineData("9223372036854775807")]
    [InlineData("99999999999999999999999s")]
    public void TryParse_Invalid_IsRefused(string? text)
    {
        Assert.False(Durations.TryParse(text, out var value));
        Assert.Equal(default, value);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(long.MinValue)]
    [InlineData(315360001)]
    [InlineData(long.MaxValue)]
    public void TryFromSeconds_OutOfRange_IsRefused(long seconds)
    {
        Assert.False(Durations.TryFromSeconds(seconds, out _));
    }

    [Fact]
    public void Format_WritesIntegerSecondsThatParseBack()
    {
        var text = Durations.Format(TimeSpan.FromMinutes(90));

        Assert.Equal("5400s", text);
        Assert.True(Durations.TryParse(text, out var back));
        Assert.Equal(TimeSpan.FromMinutes(90), back);
    }
}
