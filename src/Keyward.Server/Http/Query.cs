using System.Globalization;
using Keyward.Core.Errors;

namespace Keyward.Server.Http;

/// <summary>Query-string values, parsed strictly: a malformed number is a 400 naming the parameter.</summary>
public static class Query
{
    public static string? String(HttpRequest request, string name)
    {
        var values = request.Query[name];
        if (values.Count > 1)
        {
            throw KeywardErrors.InvalidField(name, "may be given once");
        }

        return values.Count == 0 ? null : values[0];
    }

    public static long? Long(HttpRequest request, string name)
    {
        var text = String(request, name);
        if (text is null)
        {
            return null;
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw KeywardErrors.InvalidField(name, "must be a non-negative integer");
    }

    /// <summary>A comma-separated list of positive integers (<c>?versions=1,2</c>).</summary>
    public static IReadOnlyList<long>? Longs(HttpRequest request, string name)
    {
        var text = String(request, name);
        if (text is null)
        {
            return null;
        }

        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0)
        {
            // Given but empty must never fall back to "the latest version".
            throw KeywardErrors.InvalidField(name, "must be a comma-separated list of positive integers");
        }

        var values = new List<long>(parts.Length);
        foreach (var part in parts)
        {
            if (!long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0)
            {
                throw KeywardErrors.InvalidField(name, "must be a comma-separated list of positive integers");
            }

            values.Add(value);
        }

        return values;
    }
}
