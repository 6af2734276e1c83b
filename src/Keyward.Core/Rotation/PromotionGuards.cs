using Keyward.Core.Errors;

namespace Keyward.Core.Rotation;

/// <summary>
/// An engine that owns a secret's value outside Keyward (a static database login's password): before a pending version
/// of a secret it manages (<see cref="RotationPolicy.ManagedBy"/>) becomes current, it puts that value in place where it
/// is used. Called outside any transaction, by <c>POST /v1/secrets/{path}/promote</c> and by the scheduler's promote
/// step; if it throws, nothing is promoted and the pending version stays.
/// </summary>
public interface IPromotionGuard
{
    /// <summary>The first segment of the <c>managed_by</c> marks this engine sets (<c>postgres</c>).</summary>
    string Engine { get; }

    /// <summary>
    /// Puts <paramref name="pending"/> (the pending version's JSON object) in place for the secret at
    /// <paramref name="path"/>; idempotent (a crash after it and before the promotion is repaired by calling it again).
    /// Throws a <see cref="KeywardException"/> (never quoting the value) when it cannot.
    /// </summary>
    Task BeforePromoteAsync(string tenantUid, string path, string managedBy, ReadOnlyMemory<byte> pending, CancellationToken cancellationToken);
}

/// <summary>The registered <see cref="IPromotionGuard"/>s, by engine.</summary>
public sealed class PromotionGuards
{
    private readonly Dictionary<string, IPromotionGuard> _guards;

    public PromotionGuards(IEnumerable<IPromotionGuard> guards) => _guards = guards.ToDictionary(g => g.Engine, StringComparer.Ordinal);

    public Task BeforePromoteAsync(string tenantUid, string path, string managedBy, ReadOnlyMemory<byte> pending, CancellationToken cancellationToken)
    {
        var slash = managedBy.IndexOf('/');
        var engine = slash < 0 ? managedBy : managedBy[..slash];
        return _guards.TryGetValue(engine, out var guard)
            ? guard.BeforePromoteAsync(tenantUid, path, managedBy, pending, cancellationToken)
            : throw KeywardErrors.EngineUnavailable(managedBy, "no engine on this server manages it.");
    }
}
