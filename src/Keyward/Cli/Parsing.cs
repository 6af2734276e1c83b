using System.Globalization;
using Keyward.Client;

namespace Keyward.Cli.Cli;

/// <summary>Parsers for values the command line carries. Errors name the option, never the value (it may be a secret).</summary>
internal static class Parsing
{
    public static TimeSpan Duration(string text, string option) =>
        Durations.TryParse(text, out var value)
            ? value
            : throw new UsageException($"{option} must be a duration such as 90s, 10m, 1h, 7d or integer seconds.");

    /// <summary><c>KEY=VALUE</c> pairs; the key is everything before the first '='.</summary>
    public static Dictionary<string, string> Pairs(IEnumerable<string> pairs, string what)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var pair in pairs)
        {
            index++;
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new UsageException($"{what} #{index} is not KEY=VALUE.");
            }

            var key = pair[..equals];
            if (!result.TryAdd(key, pair[(equals + 1)..]))
            {
                throw new UsageException($"{what} #{index} repeats the key '{key}'.");
            }
        }

        return result;
    }

    /// <summary>Versions given as <c>1,2</c>, repeated, or both.</summary>
    public static long[] Versions(IEnumerable<string>? values, string option)
    {
        var result = new List<long>();
        foreach (var value in values ?? [])
        {
            foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var version) || version <= 0)
                {
                    throw new UsageException($"{option} takes positive version numbers such as 1,2.");
                }

                result.Add(version);
            }
        }

        return result.Distinct().ToArray();
    }

    /// <summary>Key shares from a file: one per line; blank lines and lines starting with '#' are skipped.</summary>
    public static IReadOnlyList<string> SharesFromFile(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"Cannot read the key file '{path}': {error.GetType().Name}.");
        }

        var shares = lines.Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        return shares.Length == 0 ? throw new UsageException($"The key file '{path}' holds no key shares.") : shares;
    }

    /// <summary>Key shares from <c>--key</c> options or a <c>--key-file</c>, exactly one of the two.</summary>
    public static IReadOnlyList<string> Shares(string[]? keys, string? keyFile, string fileOption)
    {
        var hasKeys = keys is { Length: > 0 };
        if (hasKeys == (keyFile is not null))
        {
            throw new UsageException($"Give the key shares either as --key K (repeated) or as {fileOption} F, not both and not neither.");
        }

        return hasKeys ? keys! : SharesFromFile(keyFile!);
    }
}
