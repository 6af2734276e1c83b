using System.Text;
using Keyward.Core.Errors;

namespace Keyward.Core.Validation;

/// <summary>
/// Secret paths: '/'-separated segments of [A-Za-z0-9._-], no empty, '.' or '..' segments, at most 512 bytes.
/// Validation runs on the raw request text, never on a decoded form, so '%2F' can never become a separator.
/// </summary>
public static class SecretPath
{
    public const int MaxBytes = 512;

    /// <summary>The last segments that name action routes.</summary>
    public static readonly IReadOnlySet<string> ReservedLastSegments =
        new HashSet<string>(StringComparer.Ordinal) { "undelete", "destroy", "rotate", "promote", "rollback" };

    /// <summary>Top-level prefixes kept for dynamic credentials and system data.</summary>
    public static readonly IReadOnlySet<string> ReservedFirstSegments =
        new HashSet<string>(StringComparer.Ordinal) { "creds", "sys" };

    public static bool TryValidate(string? path, out string? reason)
    {
        reason = null;
        if (string.IsNullOrEmpty(path))
        {
            reason = "the path is empty";
            return false;
        }

        if (path.Length > MaxBytes || Encoding.UTF8.GetByteCount(path) > MaxBytes)
        {
            reason = $"the path is longer than {MaxBytes} bytes";
            return false;
        }

        var segmentStart = 0;
        for (var i = 0; i <= path.Length; i++)
        {
            if (i < path.Length && path[i] != '/')
            {
                if (!IsSegmentChar(path[i]))
                {
                    reason = "segments may contain only A-Z a-z 0-9 . _ -";
                    return false;
                }

                continue;
            }

            var length = i - segmentStart;
            if (length == 0)
            {
                reason = "the path has an empty segment";
                return false;
            }

            if ((length == 1 && path[segmentStart] == '.') || (length == 2 && path[segmentStart] == '.' && path[segmentStart + 1] == '.'))
            {
                reason = "the path has a '.' or '..' segment";
                return false;
            }

            segmentStart = i + 1;
        }

        return true;
    }

    public static string Require(string? path)
    {
        if (!TryValidate(path, out var reason))
        {
            throw KeywardErrors.InvalidPath($"Invalid secret path: {reason}.");
        }

        return path!;
    }

    /// <summary>Writes may not land on action routes or reserved prefixes.</summary>
    public static string RequireWritable(string? path)
    {
        path = Require(path);
        var last = path[(path.LastIndexOf('/') + 1)..];
        var slash = path.IndexOf('/');
        var first = slash < 0 ? path : path[..slash];
        if (ReservedLastSegments.Contains(last) || ReservedFirstSegments.Contains(first))
        {
            throw KeywardErrors.ReservedPath(path);
        }

        return path;
    }

    /// <summary>A prefix for listing: empty (everything) or a valid path; matches whole segments.</summary>
    public static string RequirePrefix(string? prefix)
    {
        if (string.IsNullOrEmpty(prefix))
        {
            return "";
        }

        var trimmed = prefix.EndsWith('/') ? prefix[..^1] : prefix;
        return Require(trimmed);
    }

    /// <summary>True when <paramref name="path"/> equals the prefix or lies under it segment-wise.</summary>
    public static bool IsUnder(string path, string prefix) =>
        prefix.Length == 0
        || path == prefix
        || (path.Length > prefix.Length && path[prefix.Length] == '/' && path.StartsWith(prefix, StringComparison.Ordinal));

    public static bool IsSegmentChar(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-';
}
