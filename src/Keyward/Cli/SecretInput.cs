using System.Text;

namespace Keyward.Cli.Cli;

/// <summary>Reading secrets the CLI must never take as arguments (arguments are visible to other local users).</summary>
internal static class SecretInput
{
    /// <summary>
    /// A secret line (a key share, a bootstrap token) from standard input: piped, the first line that is not blank
    /// or a <c>#</c> comment; on a terminal, prompted on stderr and not echoed. Null when there is none.
    /// </summary>
    public static string? ReadLine(string prompt)
    {
        if (Console.IsInputRedirected)
        {
            // The first line that is not blank or a '#' comment (a key file can be piped in as it is).
            while (Console.In.ReadLine() is { } line)
            {
                line = line.Trim();
                if (line.Length > 0 && !line.StartsWith('#'))
                {
                    return line;
                }
            }

            return null;
        }

        Console.Error.Write(prompt);
        var text = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                break;
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                if (text.Length > 0)
                {
                    text.Length--;
                }

                continue;
            }

            if (!char.IsControl(key.KeyChar))
            {
                text.Append(key.KeyChar);
            }
        }

        Console.Error.WriteLine();
        return text.ToString().Trim();
    }
}
