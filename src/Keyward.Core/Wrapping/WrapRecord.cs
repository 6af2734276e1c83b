namespace Keyward.Core.Wrapping;

/// <summary>Where a wrapped response is in its life: once it leaves <see cref="Active"/>, its payload is gone.</summary>
public enum WrapState
{
    /// <summary>Waiting to be unwrapped; the only state with a payload.</summary>
    Active,

    /// <summary>Unwrapped once.</summary>
    Used,

    /// <summary>Its TTL passed before anyone unwrapped it (erased by the sweeper).</summary>
    Expired,

    /// <summary>Invalidated by a lockdown or the offboarding of its tenant, or the revocation of the token that made it.</summary>
    Revoked,
}

public static class WrapStates
{
    public static string Name(WrapState state) => state switch
    {
        WrapState.Active => "active",
        WrapState.Used => "used",
        WrapState.Expired => "expired",
        _ => "revoked",
    };

    public static WrapState Parse(string name) => name switch
    {
        "active" => WrapState.Active,
        "used" => WrapState.Used,
        "expired" => WrapState.Expired,
        _ => WrapState.Revoked,
    };
}

/// <summary>
/// One wrapped response (<c>wraps</c>): the wrapping token is stored only as its SHA-256 hash; <see cref="Payload"/>
/// is the original response body sealed under the tenant's key ring (<see cref="Crypto.Envelope.EnvelopeContext.ForWrapping"/>),
/// and null once the token was used, expired or revoked. The row outlives its payload for a while, so that a late
/// second unwrap is still answered <c>wrap_token_used</c>. <see cref="OwnerAccessor"/> is the accessor of the token whose
/// call was wrapped (a derived token's session): the wrap dies with it. Null only for rows stored before it was recorded.
/// </summary>
public sealed record WrapRecord(
    string TenantUid,
    byte[] TokenHash,
    string Accessor,
    string CreationPath,
    DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt,
    int KeyVersion,
    byte[]? Payload,
    DateTimeOffset? UsedAt,
    WrapState State,
    string? OwnerAccessor);

/// <summary>Storage port for wrapped responses.</summary>
public interface IWrapStore
{
    Task InsertAsync(WrapRecord wrap, CancellationToken cancellationToken = default);

    /// <summary>The row of a token hash, whatever its state (payload included while active).</summary>
    Task<WrapRecord?> GetByHashAsync(byte[] tokenHash, CancellationToken cancellationToken = default);

    /// <summary>
    /// The once-only claim: marks the row used and erases its payload if it is active and not expired at
    /// <paramref name="now"/>, in one conditional step that concurrent claims — on this node or another — serialize on.
    /// Returns the row as it was with its payload when this call won the claim; null when the row is unknown or not
    /// claimable (then nothing changed).
    /// </summary>
    Task<WrapRecord?> ClaimAsync(byte[] tokenHash, DateTimeOffset now, CancellationToken cancellationToken = default);

    /// <summary>The tenant's rows in <paramref name="state"/> (all of its rows when null).</summary>
    Task<int> CountAsync(string tenantUid, WrapState? state = null, CancellationToken cancellationToken = default);

    /// <summary>Marks one row revoked and erases its payload (an unwrap that found its tenant locked or gone).</summary>
    Task RevokeAsync(byte[] tokenHash, CancellationToken cancellationToken = default);

    /// <summary>Erases the payload of every active row of the tenant (lockdown, offboarding). Returns the rows revoked.</summary>
    Task<int> RevokeTenantAsync(string tenantUid, CancellationToken cancellationToken = default);

    /// <summary>
    /// Revokes (erasing the payload) every active row of the tenant whose owner token is revoked or no longer stored: run in
    /// the transaction that revoked tokens, after it did. Rows without an owner are left alone. Returns the rows revoked.
    /// </summary>
    Task<int> RevokeOwnedByRevokedAsync(string tenantUid, CancellationToken cancellationToken = default);

    /// <summary>Erases the payloads of up to <paramref name="limit"/> active rows expired at <paramref name="now"/>.</summary>
    Task<int> EraseExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken = default);

    /// <summary>Deletes up to <paramref name="limit"/> rows without payload that expired before <paramref name="expiredBefore"/>.</summary>
    Task<int> SweepAsync(DateTimeOffset expiredBefore, int limit, CancellationToken cancellationToken = default);
}
