using System.Globalization;

namespace Keyward.Benchmarks;

/// <summary>The drivers' command lines: <c>--name value</c> pairs over defaults; <c>--addr</c> is required.</summary>
internal static class CommandOptions
{
    public static Dictionary<string, string> Parse(string[] args, Dictionary<string, string> defaults)
    {
        var options = new Dictionary<string, string>(defaults, StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i += 2)
        {
            if (i + 1 >= args.Length || !args[i].StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"unexpected argument '{args[i]}'");
            }

            options[args[i]] = args[i + 1];
        }

        return options.ContainsKey("--addr") ? options : throw new ArgumentException("--addr is required");
    }

    public static int Int(Dictionary<string, string> options, string name) =>
        int.TryParse(options[name], NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : throw new ArgumentException($"{name} must be a positive integer");
}
