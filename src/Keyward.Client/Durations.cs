using System.Globalization;

namespace Keyward.Client;

/// <summary>Durations written the way the API and CLI take them: <c>&lt;n&gt;(s|m|h|d)</c> or integer seconds.</summary>
public static class Durations
{
    /// <summary>Parses <c>90s</c>, <c>10m</c>, <c>1h</c>, <c>7d</c> or <c>3600</c> (seconds); false for anything else or for zero.</summary>
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        text = text.Trim();
        var unit = text[^1];
        var multiplier = unit switch
        {
            's' => 1L,
            'm' => 60L,
            'h' => 3600L,
            'd' => 86400L,
            _ => 0L,
        };
        var digits = multiplier == 0 ? text : text[..^1];
        if (multiplier == 0)
        {
            multiplier = 1;
        }

        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count <= 0 || count > 100L * 365 * 86400 / multiplier)
        {
            return false;
        }

        value = TimeSpan.FromSeconds(count * multiplier);
        return true;
    }

    /// <summary>Formats whole seconds in the largest unit that divides them: <c>3600</c> → <c>1h</c>.</summary>
    public static string Format(TimeSpan value)
    {
        var seconds = (long)value.TotalSeconds;
        return seconds switch
        {
            > 0 when seconds % 86400 == 0 => (seconds / 86400).ToString(CultureInfo.InvariantCulture) + "d",
            > 0 when seconds % 3600 == 0 => (seconds / 3600).ToString(CultureInfo.InvariantCulture) + "h",
            > 0 when seconds % 60 == 0 => (seconds / 60).ToString(CultureInfo.InvariantCulture) + "m",
            _ => seconds.ToString(CultureInfo.InvariantCulture) + "s",
        };
    }
}
