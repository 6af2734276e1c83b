namespace Keyward.Client;

/// <summary>How an <see cref="AgentSession"/> renews and ends its session.</summary>
public sealed class AgentSessionOptions
{
    /// <summary>The default bound on the revocation <see cref="AgentSession.DisposeAsync"/> attempts.</summary>
    public static readonly TimeSpan DefaultRevokeOnDisposeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The clock the renewal timer runs on (tests pass a fake one).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Renew the session in the background at about two thirds of its remaining lifetime. Default true.</summary>
    public bool AutoRenew { get; init; } = true;

    /// <summary>The increment each renewal asks for; null lets the server choose. The server never extends past the role's <c>max_ttl</c> or the parent's expiry.</summary>
    public TimeSpan? RenewIncrement { get; init; }

    /// <summary>How long <see cref="AgentSession.DisposeAsync"/> waits for its <c>revoke-self</c> before giving up (real time).</summary>
    public TimeSpan RevokeOnDisposeTimeout { get; init; } = DefaultRevokeOnDisposeTimeout;

    /// <summary>Whether <see cref="AgentSession.DisposeAsync"/> revokes the session ("task done"). Default true.</summary>
    public bool RevokeOnDispose { get; init; } = true;

    /// <summary>The default <see cref="CacheFallbackTtl"/>.</summary>
    public static readonly TimeSpan DefaultCacheFallbackTtl = TimeSpan.FromSeconds(5);

    /// <summary>The default <see cref="CacheOpenTimeout"/>.</summary>
    public static readonly TimeSpan DefaultCacheOpenTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether <see cref="AgentSession.Secrets"/> caches values (kept current by the event stream, which it opens on first
    /// use). Default true; when false every read goes to the server.
    /// </summary>
    public bool CacheEnabled { get; init; } = true;

    /// <summary>While the event stream is down, how long an entry is still served (from its fetch, or the moment the stream went down). Default 5 s.</summary>
    public TimeSpan CacheFallbackTtl { get; init; } = DefaultCacheFallbackTtl;

    /// <summary>How long the first read waits for the event stream to open before it falls back to TTL mode. Default 5 s.</summary>
    public TimeSpan CacheOpenTimeout { get; init; } = DefaultCacheOpenTimeout;

    /// <summary>
    /// Where the session registers values for redaction: what the cache and the session's client fetch, the bootstrap and
    /// session tokens, and tokens it derives or spawns. Null means the client options' <see cref="KeywardClientOptions.Scrubber"/>,
    /// else <see cref="SecretScrubber.Shared"/>.
    /// </summary>
    public SecretScrubber? Scrubber { get; init; }
}

/// <summary>Where an <see cref="AgentSession"/>'s background renewal stands.</summary>
public enum AgentSessionRenewalState
{
    /// <summary>A renewal is scheduled.</summary>
    Active,

    /// <summary><see cref="AgentSessionOptions.AutoRenew"/> is off.</summary>
    Disabled,

    /// <summary>The server says the session is not renewable.</summary>
    NotRenewable,

    /// <summary>The server no longer extends the session (the role's <c>max_ttl</c> or the parent's expiry is reached).</summary>
    AtLimit,

    /// <summary>The server refused a renewal (the session was revoked or expired), or the lifetime ran out while retrying.</summary>
    Failed,

    /// <summary>The session was revoked or disposed.</summary>
    Stopped,
}

/// <summary>A background renewal succeeded.</summary>
public sealed class AgentSessionRenewedEventArgs : EventArgs
{
    public AgentSessionRenewedEventArgs(DateTimeOffset expiresAt)
    {
        ExpiresAt = expiresAt;
    }

    /// <summary>The session's new expiry.</summary>
    public DateTimeOffset ExpiresAt { get; }
}

/// <summary>A background renewal failed. Never thrown: raised as an event and kept in <see cref="AgentSession.LastRenewalError"/>.</summary>
public sealed class AgentSessionRenewalFailedEventArgs : EventArgs
{
    public AgentSessionRenewalFailedEventArgs(Exception error, bool willRetry)
    {
        Error = error;
        WillRetry = willRetry;
    }

    /// <summary>What went wrong (usually a <see cref="KeywardRequestFailedException"/>; its message never holds the token).</summary>
    public Exception Error { get; }

    /// <summary>True for a transient failure (no answer, 429, 5xx) retried before the session expires.</summary>
    public bool WillRetry { get; }
}
