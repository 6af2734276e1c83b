using Keyward.Core.Validation;

namespace Keyward.Core.Policies;

/// <summary>
/// A path glob: segments, each a literal, <c>*</c> (exactly one whole segment) or <c>**</c> (one or more
/// segments, only as the last). Matching is case-sensitive and segment-wise.
/// </summary>
public sealed class PathGlob : IEquatable<PathGlob>
{
    private const string One = "*";
    private const string Many = "**";

    private readonly string[] _segments;

    private PathGlob(string text, string[] segments)
    {
        Text = text;
        _segments = segments;
    }

    public string Text { get; }

    public static bool TryParse(string? text, out PathGlob? glob, out string? reason)
    {
        glob = null;
        reason = null;
        if (string.IsNullOrEmpty(text))
        {
            reason = "the glob is empty";
            return false;
        }

        if (text.Length > SecretPath.MaxBytes)
        {
            reason = $"the glob is longer than {SecretPath.MaxBytes} characters";
            return false;
        }

        var segments = text.Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            var s = segments[i];
            if (s == Many)
            {
                if (i != segments.Length - 1)
                {
                    reason = "'**' may only be the last segment";
                    return false;
                }

                continue;
            }

            if (s == One)
            {
                continue;
            }

            if (s.Length == 0 || s == "." || s == ".." || !s.All(SecretPath.IsSegmentChar))
            {
                reason = $"segment '{s}' is not '*', '**' or a literal of A-Z a-z 0-9 . _ -";
                return false;
            }
        }

        glob = new PathGlob(text, segments);
        return true;
    }

    public static PathGlob Parse(string text) =>
        TryParse(text, out var glob, out var reason) ? glob! : throw new FormatException($"Invalid glob '{text}': {reason}.");

    public bool Matches(string path)
    {
        var pathIndex = 0;
        for (var i = 0; i < _segments.Length; i++)
        {
            if (pathIndex > path.Length)
            {
                return false;
            }

            var end = path.IndexOf('/', pathIndex);
            if (end < 0)
            {
                end = path.Length;
            }

            var glob = _segments[i];
            if (glob == Many)
            {
                // One or more remaining segments.
                return pathIndex < path.Length;
            }

            if (glob != One && !path.AsSpan(pathIndex, end - pathIndex).SequenceEqual(glob))
            {
                return false;
            }

            pathIndex = end + 1;
        }

        return pathIndex == path.Length + 1;
    }

    /// <summary>
    /// Whether every path this glob matches is matched by <paramref name="parent"/>, proved segment by segment:
    /// a literal is covered by the same literal, '*' or '**'; '*' by '*' or '**'; '**' only by '**'.
    /// Anything not provable this way is not a subset.
    /// </summary>
    public bool IsCoveredBy(PathGlob parent)
    {
        var parentSegments = parent._segments;
        for (var i = 0; i < _segments.Length; i++)
        {
            if (i >= parentSegments.Length)
            {
                return false;
            }

            var p = parentSegments[i];
            if (p == Many)
            {
                // The parent's '**' covers this and every later child segment, whatever kind.
                return true;
            }

            var c = _segments[i];
            var covered = c switch
            {
                Many => false,
                One => p == One,
                _ => p == One || p == c,
            };
            if (!covered)
            {
                return false;
            }
        }

        return _segments.Length == parentSegments.Length;
    }

    public bool Equals(PathGlob? other) => other is not null && Text == other.Text;

    public override bool Equals(object? obj) => Equals(obj as PathGlob);

    public override int GetHashCode() => Text.GetHashCode(StringComparison.Ordinal);

    public override string ToString() => Text;
}
