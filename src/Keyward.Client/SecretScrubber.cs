using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Keyward.Client;

/// <summary>
/// Redacts secrets from text before it leaves the process (log lines, exception messages, tool output): every value
/// registered with it — the SDK registers every value it hands out (each string of a secret's data, passwords, tokens,
/// key shares) with its JSON-escaped forms, as it arrives (docs/SDK.md, "Values stay inside") — and anything shaped
/// like a Keyward token (<c>kwr_ kwa_ kwo_ kws_ kwb_ kwd_ kww_</c> followed by token characters), each replaced by
/// <c>[REDACTED]</c>.
/// </summary>
/// <remarks>
/// <para>
/// Matching: the registered strings are searched together with <see cref="SearchValues{T}"/> (a vectorized multi-string
/// search: Aho-Corasick or Teddy inside the runtime), so text without a secret costs one pass. At each hit the longest
/// registered string starting there is taken, and overlapping or adjacent hits merge into one <c>[REDACTED]</c>; the
/// worst case is O(n·k) for n characters and k registered strings. A line with nothing to redact is returned as is,
/// without allocating.
/// </para>
/// <para>
/// Forgetting: evicting a value from the cache does not unregister it (a rotated-out value is still sensitive). The
/// scrubber keeps the most recent <see cref="MaxValues"/> registrations (default 10,000) and forgets the oldest beyond
/// that bound. Values shorter than <see cref="MinimumLength"/> (4) characters are not registered: redacting every
/// "yes" or "42" in a log would destroy it while protecting nothing.
/// </para>
/// </remarks>
public sealed partial class SecretScrubber
{
    /// <summary>What replaces each secret.</summary>
    public const string Redacted = "[REDACTED]";

    /// <summary>Shorter values are not registered.</summary>
    public const int MinimumLength = 4;

    /// <summary>The default bound on registered strings.</summary>
    public const int DefaultMaxValues = 10_000;

    private static readonly JavaScriptEncoder RelaxedEncoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    private readonly Lock _gate = new();
    private readonly LinkedList<string> _order = new();
    private readonly Dictionary<string, LinkedListNode<string>> _registered = new(StringComparer.Ordinal);
    private Snapshot? _snapshot = Snapshot.Empty;

    /// <summary>A scrubber that remembers at most <paramref name="maxValues"/> strings.</summary>
    public SecretScrubber(int maxValues = DefaultMaxValues)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxValues, 1);
        MaxValues = maxValues;
    }

    /// <summary>A scrubber shared by the process: every client, session and cache registers with it unless given another.</summary>
    public static SecretScrubber Shared { get; } = new();

    /// <summary>How many strings it remembers at most (the oldest registrations are forgotten first).</summary>
    public int MaxValues { get; }

    /// <summary>How many strings it remembers now (values and their escaped forms).</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _registered.Count;
            }
        }
    }

    /// <summary>Remembers <paramref name="value"/> and its JSON-escaped forms (strict and relaxed), if at least <see cref="MinimumLength"/> characters.</summary>
    public void Register(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length < MinimumLength)
        {
            return;
        }

        var strict = JsonEncodedText.Encode(value).Value;
        var relaxed = JsonEncodedText.Encode(value, RelaxedEncoder).Value;
        lock (_gate)
        {
            var changed = Add(value);
            changed |= Add(strict);
            changed |= Add(relaxed);
            if (changed)
            {
                // Rebuilt by the next Scrub: a burst of registrations (a prefetch) builds the search once.
                _snapshot = null;
            }
        }
    }

    /// <summary>Registers <paramref name="value"/> unless it is null (a field an answer left out).</summary>
    internal void RegisterIfAny(string? value)
    {
        if (value is not null)
        {
            Register(value);
        }
    }

    /// <summary>Registers every string field of a secret's JSON data (nested objects and arrays included).</summary>
    public void RegisterJson(JsonElement data)
    {
        switch (data.ValueKind)
        {
            case JsonValueKind.String:
                Register(data.GetString()!);
                break;
            case JsonValueKind.Object:
                foreach (var property in data.EnumerateObject())
                {
                    RegisterJson(property.Value);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in data.EnumerateArray())
                {
                    RegisterJson(item);
                }

                break;
            default:
                break;
        }
    }

    /// <summary>
    /// <paramref name="text"/> with every registered value and every token-shaped string replaced by <c>[REDACTED]</c>;
    /// the same instance when there is nothing to redact.
    /// </summary>
    public string Scrub(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return text;
        }

        var snapshot = Volatile.Read(ref _snapshot) ?? Rebuild();
        var span = text.AsSpan();
        List<(int Start, int End)>? hits = null;
        if (snapshot.Search is { } search)
        {
            var offset = 0;
            while (offset < span.Length)
            {
                var found = span[offset..].IndexOfAny(search);
                if (found < 0)
                {
                    break;
                }

                var at = offset + found;
                var length = snapshot.LongestAt(span[at..]);
                (hits ??= []).Add((at, at + length));
                offset = at + 1;
            }
        }

        if (span.Contains("kw", StringComparison.Ordinal))
        {
            foreach (var match in TokenShape().EnumerateMatches(span))
            {
                (hits ??= []).Add((match.Index, match.Index + match.Length));
            }
        }

        return hits is null ? text : Replace(text, hits);
    }

    private Snapshot Rebuild()
    {
        lock (_gate)
        {
            return _snapshot ??= new Snapshot([.. _order]);
        }
    }

    private static string Replace(string text, List<(int Start, int End)> hits)
    {
        hits.Sort((a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : b.End.CompareTo(a.End));
        var builder = new StringBuilder(text.Length);
        var position = 0;
        var index = 0;
        while (index < hits.Count)
        {
            var (start, end) = hits[index++];
            while (index < hits.Count && hits[index].Start <= end)
            {
                end = Math.Max(end, hits[index++].End);
            }

            builder.Append(text, position, start - position).Append(Redacted);
            position = end;
        }

        builder.Append(text, position, text.Length - position);
        return builder.ToString();
    }

    private bool Add(string value)
    {
        if (value.Length < MinimumLength)
        {
            return false;
        }

        if (_registered.TryGetValue(value, out var node))
        {
            // Seen again: it becomes the most recent registration.
            _order.Remove(node);
            _order.AddLast(node);
            return false;
        }

        _registered[value] = _order.AddLast(value);
        while (_registered.Count > MaxValues)
        {
            var oldest = _order.First!;
            _order.RemoveFirst();
            _registered.Remove(oldest.Value);
        }

        return true;
    }

    // kw + kind letter + '_' + token characters (base64url, '.', '~').
    [GeneratedRegex("kw[raobsdw]_[A-Za-z0-9_.~-]+", RegexOptions.CultureInvariant)]
    private static partial Regex TokenShape();

    /// <summary>An immutable view for lock-free scrubbing: the strings, longest first, and their combined search.</summary>
    private sealed class Snapshot
    {
        public static readonly Snapshot Empty = new([]);

        private readonly string[] _longestFirst;

        public Snapshot(string[] values)
        {
            _longestFirst = values;
            Array.Sort(_longestFirst, (a, b) => b.Length.CompareTo(a.Length));
            Search = values.Length == 0 ? null : SearchValues.Create(values, StringComparison.Ordinal);
        }

        public SearchValues<string>? Search { get; }

        public int LongestAt(ReadOnlySpan<char> text)
        {
            foreach (var value in _longestFirst)
            {
                if (text.StartsWith(value, StringComparison.Ordinal))
                {
                    return value.Length;
                }
            }

            return 1;
        }
    }
}
