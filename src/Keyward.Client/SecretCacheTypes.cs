using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>Why the <see cref="SecretCache"/> dropped entries.</summary>
public enum SecretInvalidationReason
{
    /// <summary><c>secret.written</c>: a new version (or an undelete).</summary>
    Written,

    /// <summary><c>secret.deleted</c>: a deletion or destruction.</summary>
    Deleted,

    /// <summary><c>secret.rotated</c> with stage <c>current</c>: a promotion or rollback changed the current version.</summary>
    Rotated,

    /// <summary>A <c>reset</c>: events were missed for good.</summary>
    Reset,

    /// <summary>The stream (re)opened with nothing to resume from: what happened meanwhile is unknown.</summary>
    Resubscribed,

    /// <summary>The session was revoked or expired (<c>token.revoked</c>, or a reconnect refused with 401): the cache refuses from now on.</summary>
    Revoked,

    /// <summary>The tenant was locked down (<c>tenant.lockdown</c>, or a reconnect refused with 423): the cache refuses from now on.</summary>
    Lockdown,

    /// <summary>The cache (its session) was disposed.</summary>
    Disposed,
}

/// <summary>Entries were dropped: <see cref="Path"/> names the path, or is null when every entry was.</summary>
public sealed class SecretInvalidatedEventArgs : EventArgs
{
    public SecretInvalidatedEventArgs(string? path, SecretInvalidationReason reason)
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The path, or null for all of them.</summary>
    public string? Path { get; }

    public SecretInvalidationReason Reason { get; }
}

/// <summary>Where the server event stream comes from (the seam unit tests replace).</summary>
/// <param name="lastEventId">Resume after this id, or null for a fresh stream.</param>
/// <param name="opened">Called once the server has opened the stream (before the first event).</param>
/// <param name="cancellationToken">Ends the stream.</param>
internal delegate IAsyncEnumerable<KeywardEvent> KeywardEventSource(long? lastEventId, Action opened, CancellationToken cancellationToken);

/// <summary>What the cache asks the server: reads, the event stream, the session's rules and listings.</summary>
internal sealed record SecretCacheBackend(
    Func<string, long?, CancellationToken, Task<KeywardSecret>> Fetch,
    KeywardEventSource Events,
    Func<CancellationToken, Task<IReadOnlyList<RoleRule>>> Rules,
    Func<string?, CancellationToken, Task<IReadOnlyList<string>>> List)
{
    public static SecretCacheBackend For(KeywardClient client) => new(
        client.GetSecretAsync,
        (lastEventId, opened, cancellationToken) => client.StreamEventsCoreAsync(null, lastEventId, opened, cancellationToken),
        async cancellationToken => (await client.GetSelfAsync(cancellationToken).ConfigureAwait(false)).Rules ?? [],
        client.ListSecretsAsync);
}

/// <summary>Rule globs (API.md "Rules and globs"): literal segments, <c>*</c> one segment, <c>**</c> one or more (last only).</summary>
internal static class SecretGlob
{
    public static bool HasWildcard(string glob) => glob.Contains('*', StringComparison.Ordinal);

    /// <summary>The literal segments before the first wildcard, or null when the glob starts with one.</summary>
    public static string? LiteralPrefix(string glob)
    {
        var segments = glob.Split('/');
        var literal = segments.TakeWhile(s => s is not ("*" or "**")).ToArray();
        return literal.Length == 0 ? null : string.Join('/', literal);
    }

    public static bool Matches(string glob, string path)
    {
        var pattern = glob.Split('/');
        var segments = path.Split('/');
        for (var i = 0; i < pattern.Length; i++)
        {
            if (pattern[i] == "**")
            {
                return i == pattern.Length - 1 && segments.Length > i;
            }

            if (i >= segments.Length || (pattern[i] != "*" && pattern[i] != segments[i]))
            {
                return false;
            }
        }

        return pattern.Length == segments.Length;
    }
}
