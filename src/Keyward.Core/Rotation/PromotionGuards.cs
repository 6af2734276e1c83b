using Keyward.Core.Errors;
using Keyward.Core.Tokens;

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

/// <summary>
/// Checks that a pending version works before it becomes current (<see cref="RotationPolicy.Verify"/>): the gateway makes
/// the policy's call through its integration with the pending value injected. Called outside any transaction, like
/// <see cref="IPromotionGuard"/>; if it throws, nothing is promoted.
/// </summary>
public interface IPromotionVerifier
{
    /// <summary>
    /// Throws a <see cref="KeywardException"/> (never quoting the value) unless the call with <paramref name="pending"/>
    /// (the value of <paramref name="version"/>) answers <see cref="RotationVerify.ExpectStatus"/>. The call counts like
    /// any call through the integration: against <paramref name="promoter"/>'s run budget and rate limit (the token
    /// whose <c>promote</c> started it; null for the scheduler).
    /// </summary>
    Task VerifyAsync(string tenantUid, string path, long version, RotationVerify verify, ReadOnlyMemory<byte> pending, Principal? promoter, CancellationToken cancellationToken);
}

/// <summary>The registered <see cref="IPromotionGuard"/>s, by engine, and the <see cref="IPromotionVerifier"/>.</summary>
public sealed class PromotionGuards
{
    private readonly Dictionary<string, IPromotionGuard> _guards;
    private readonly IPromotionVerifier? _verifier;

    public PromotionGuards(IEnumerable<IPromotionGuard> guards, IEnumerable<IPromotionVerifier> verifiers)
    {
        _guards = guards.ToDictionary(g => g.Engine, StringComparer.Ordinal);
        _verifier = verifiers.SingleOrDefault();
    }

    public Task VerifyAsync(string tenantUid, string path, long version, RotationVerify verify, ReadOnlyMemory<byte> pending, Principal? promoter, CancellationToken cancellationToken) =>
        _verifier is null
            ? throw KeywardErrors.RotationVerificationFailed(path, "this server has no gateway to verify with.")
            : _verifier.VerifyAsync(tenantUid, path, version, verify, pending, promoter, cancellationToken);

    public Task BeforePromoteAsync(string tenantUid, string path, string managedBy, ReadOnlyMemory<byte> pending, CancellationToken cancellationToken)
    {
        var slash = managedBy.IndexOf('/');
        var engine = slash < 0 ? managedBy : managedBy[..slash];
        return _guards.TryGetValue(engine, out var guard)
            ? guard.BeforePromoteAsync(tenantUid, path, managedBy, pending, cancellationToken)
            : throw KeywardErrors.EngineUnavailable(managedBy, "no engine on this server manages it.");
    }
}
