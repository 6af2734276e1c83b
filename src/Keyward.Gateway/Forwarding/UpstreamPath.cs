namespace Keyward.Gateway.Forwarding;

/// <summary>
/// The raw path a proxied request sends upstream (what follows <c>/v1/gateway/{integration}/</c>, exactly as the agent
/// sent it, never decoded). Refused with 400 <c>invalid_path</c> (<see cref="Core.Errors.KeywardErrors.InvalidPath"/>):
/// <c>%2F</c>, <c>%5C</c>, <c>%2E</c>, <c>%00</c> (any case), a backslash, an empty segment (<c>//</c>, a leading
/// or trailing slash is allowed only as... decide and document), <c>.</c> or <c>..</c> segments, control characters,
/// and anything that is not a valid RFC 3986 path character or percent-escape.
/// </summary>
public static class UpstreamPath
{
    /// <summary>Returns <paramref name="rawPath"/> unchanged when it may be sent; throws otherwise.</summary>
    public static string Validate(string rawPath) => throw new NotImplementedException();
}

/// <summary>
/// An allow-list glob over upstream paths, segment-wise and case-sensitive like the policy globs: a literal, <c>*</c>
/// (one whole segment) or <c>**</c> (one or more segments, last only). Literal segments may hold any character a
/// valid raw path segment may hold; they are compared with the raw (undecoded) segment.
/// </summary>
public sealed class UpstreamPathGlob
{
    public string Text { get; } = "";

    /// <summary>Parses a glob (no leading slash), or gives the reason it is invalid.</summary>
    public static bool TryParse(string? text, out UpstreamPathGlob? glob, out string? reason) => throw new NotImplementedException();

    /// <summary>Whether a validated raw path matches.</summary>
    public bool Matches(string rawPath) => throw new NotImplementedException();
}
