using Keyward.Core.Errors;

namespace Keyward.Core.Tenants;

/// <summary>
/// A tenant's anomaly responses (tenant admin, <c>PUT /v1/settings/anomalies</c>). Off by default: an automatic
/// lockdown is a strong reaction and the tenant chooses it. Both lock down the offending subtree, never the tenant.
/// With <see cref="RotateExposed"/>, such a lockdown also rotates (and promotes at once) every secret with a generator
/// that the locked-down tokens could read (<see cref="Rotation.ExposureRotation"/>).
/// </summary>
public sealed record AnomalySettings(
    bool LockdownOnBootstrapReplay, DenyThreshold? DenyThreshold, bool RotateExposed = false, DerivedDenialsLock DerivedDenialsLock = DerivedDenialsLock.Token)
{
    public static readonly AnomalySettings Default = new(false, null);
}

/// <summary>
/// What the deny threshold reached through a derived (<c>kwd_</c>) token locks (<c>derived_denials_lock</c>): by default
/// only that token (and what was derived from it) — a sub-task handed a narrowed token must not be able to revoke the
/// session that handed it out — and the session is flagged; <see cref="Session"/> revokes the session's subtree as for
/// denials of the session itself.
/// </summary>
public enum DerivedDenialsLock
{
    Token,
    Session,
}

/// <summary><see cref="Count"/> denied requests of one agent within <see cref="Window"/> lock down its subtree.</summary>
public sealed record DenyThreshold(int Count, TimeSpan Window)
{
    public const int MaxCount = 10_000;

    public static readonly TimeSpan MaxWindow = TimeSpan.FromHours(1);

    public static DenyThreshold Create(int? count, TimeSpan? window)
    {
        if (count is not { } c || c < 1 || c > MaxCount)
        {
            throw KeywardErrors.InvalidField("deny_threshold.count", $"an integer from 1 to {MaxCount}");
        }

        if (window is not { } w || w <= TimeSpan.Zero || w > MaxWindow)
        {
            throw KeywardErrors.InvalidField("deny_threshold.window", "a duration up to 1h");
        }

        return new DenyThreshold(c, w);
    }
}

/// <summary>Storage port for per-tenant settings.</summary>
public interface ITenantSettingsStore
{
    Task<AnomalySettings?> GetAnomalySettingsAsync(string tenantUid, CancellationToken cancellationToken = default);

    Task PutAnomalySettingsAsync(string tenantUid, AnomalySettings settings, DateTimeOffset at, CancellationToken cancellationToken = default);
}
