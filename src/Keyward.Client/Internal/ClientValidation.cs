namespace Keyward.Client.Internal;

/// <summary>
/// Argument checks made before anything is sent. Secret paths and names go into the URL exactly as given (never
/// percent-encoded), so anything that is not plain <c>[A-Za-z0-9._-]</c> segments is refused here. Messages say
/// what is wrong, not what was given.
/// </summary>
internal static class ClientValidation
{
    public const int MaxPathBytes = 512;

    public static string SecretPath(string path, string paramName)
    {
        ArgumentNullException.ThrowIfNull(path, paramName);
        if (!TryValidatePath(path, out var reason))
        {
            throw new ArgumentException($"Invalid secret path: {reason}.", paramName);
        }

        return path;
    }

    /// <summary>A list prefix: empty (everything) or a valid path, optionally ending in '/'.</summary>
    public static string? Prefix(string? prefix, string paramName)
    {
        if (string.IsNullOrEmpty(prefix))
        {
            return null;
        }

        var trimmed = prefix.EndsWith('/') ? prefix[..^1] : prefix;
        if (!TryValidatePath(trimmed, out var reason))
        {
            throw new ArgumentException($"Invalid prefix: {reason}.", paramName);
        }

        return prefix;
    }

    /// <summary>One URL segment naming a tenant, role or job: [A-Za-z0-9._-], not '.' or '..'.</summary>
    public static string Segment(string value, string paramName, string what)
    {
        ArgumentNullException.ThrowIfNull(value, paramName);
        if (value.Length == 0 || value.Length > 255 || value is "." or ".." || !value.All(IsSegmentChar))
        {
            throw new ArgumentException($"Invalid {what}: use 1-255 of A-Z a-z 0-9 . _ -.", paramName);
        }

        return value;
    }

    public static long[] Versions(IEnumerable<long> versions, string paramName, bool required)
    {
        ArgumentNullException.ThrowIfNull(versions, paramName);
        var list = versions.ToArray();
        if (required && list.Length == 0)
        {
            throw new ArgumentException("Name at least one version.", paramName);
        }

        if (Array.Exists(list, v => v <= 0))
        {
            throw new ArgumentException("Versions are positive integers.", paramName);
        }

        return list;
    }

    public static bool TryValidatePath(string path, out string? reason)
    {
        reason = null;
        if (path.Length == 0)
        {
            reason = "the path is empty";
            return false;
        }

        if (System.Text.Encoding.UTF8.GetByteCount(path) > MaxPathBytes)
        {
            reason = $"the path is longer than {MaxPathBytes} bytes";
            return false;
        }

        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0)
            {
                reason = "the path has an empty segment";
                return false;
            }

            if (segment is "." or "..")
            {
                reason = "the path has a '.' or '..' segment";
                return false;
            }

            if (!segment.All(IsSegmentChar))
            {
                reason = "segments may contain only A-Z a-z 0-9 . _ -";
                return false;
            }
        }

        return true;
    }

    private static bool IsSegmentChar(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-';
}
