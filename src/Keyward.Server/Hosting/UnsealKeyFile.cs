namespace Keyward.Server.Hosting;

/// <summary>
/// The unattended mode's key file: key shares, one per line (blank lines and '#' comments ignored). Whoever can
/// read it can unseal the server, so it must be readable by its owner only (mode 0600); a looser file is refused.
/// </summary>
public static class UnsealKeyFile
{
    public const string DevFileName = "dev-unseal.key";

    public static IReadOnlyList<string> Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new ServerStartupException($"Unseal key file {path} does not exist.");
        }

        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
            {
                throw new ServerStartupException($"Unseal key file {path} is readable or writable by others; chmod 600 it.");
            }
        }

        var shares = File.ReadAllLines(path)
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .ToArray();
        if (shares.Length == 0)
        {
            throw new ServerStartupException($"Unseal key file {path} holds no key shares.");
        }

        return shares;
    }

    public static void Write(string path, IEnumerable<string> shares, string comment)
    {
        var lines = new List<string> { "# " + comment };
        lines.AddRange(shares);
        if (OperatingSystem.IsWindows())
        {
            File.WriteAllLines(path, lines);
            return;
        }

        using (File.Create(path, 1, FileOptions.None))
        {
        }

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllLines(path, lines);
    }
}
