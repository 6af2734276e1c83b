using System.Globalization;

namespace Keyward.Core.Validation;

/// <summary>Durations as API.md writes them: <c>&lt;n&gt;(s|m|h|d)</c> or integer seconds.</summary>
public static class Durations
{
    /// <summary>No lifetime in Keyward exceeds ten years; larger inputs are refused rather than overflowing.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromDays(3650);

    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var unit = text[^1];
        var multiplier = unit switch
        {
            's' => 1L,
            'm' => 60L,
            'h' => 3600L,
            'd' => 86400L,
            _ => 0L,
        };
        var number = multiplier == 0 ? text : text[..^1];
        if (multiplier == 0)
        {
            multiplier = 1;
        }

        if (number.Length == 0 || number.Length > 12 || !number.All(char.IsAsciiDigit)
            || !long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }

        return TryFromSeconds(n * multiplier, out value);
    }

    public static bool TryFromSeconds(long seconds, out TimeSpan value)
    {
        value = default;
        if (seconds <= 0 || seconds > (long)Max.TotalSeconds)
        {
            return false;
        }

        value = TimeSpan.FromSeconds(seconds);
        return true;
    }

    public static string Format(TimeSpan value) => ((long)value.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s";
}
