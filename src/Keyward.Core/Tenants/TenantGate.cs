using Keyward.Core.Errors;
using Keyward.Core.Storage;

namespace Keyward.Core.Tenants;

/// <summary>
/// The kill switch's other half: what a request of a tenant may change is decided inside the transaction that changes
/// it, from the tenant's row as that transaction sees it — not from a state read before. A lockdown or an offboarding
/// commits in a transaction of its own, and every write transaction runs after it or before it (SQLite: one writer;
/// PostgreSQL: each batch holds the audit head's row lock from its first statement, so batches of all nodes take
/// turns). So a change that comes after the kill switch sees it and is refused, and a change that came before has a
/// creation time at or before the lockdown's epoch and is revoked by it. Nothing a request creates — a token, a lease, a
/// wrap, a database login, a secret version — outruns the kill switch.
/// </summary>
/// <remarks>
/// <see cref="Since"/> is when the request was authorized (its token authenticated, or its credential checked). A
/// request authorized before a lockdown that has committed since — even one lifted again by the time its transaction
/// runs — acted with a token the lockdown revoked, and is refused too. Across nodes this compares instants of two
/// clocks: nodes of one store are expected to keep their clocks synchronized (as token expiry already assumes).
/// </remarks>
/// <param name="TenantUid">The tenant the request acts in.</param>
/// <param name="Since">When the request was authorized.</param>
public readonly record struct TenantGate(string TenantUid, DateTimeOffset Since)
{
    /// <summary>
    /// The tenant as the transaction sees it, if the request may still change it: active, and not locked down since
    /// <see cref="Since"/>. Otherwise 423 <c>tenant_locked</c> (locked now), or 401 <c>token_revoked</c> (offboarded, or
    /// locked down and unlocked again since the request was authorized: its token is revoked).
    /// </summary>
    public async Task<Tenant> RequireOpenAsync(IStoreSession session, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        var tenant = await session.Tenants.GetByUidAsync(TenantUid, cancellationToken);
        return tenant switch
        {
            { State: TenantState.Locked } => throw KeywardErrors.TenantLocked(tenant.Id),
            { State: TenantState.Active, RevokedBefore: { } epoch } when Since <= epoch => throw KeywardErrors.TokenRevoked(),
            { State: TenantState.Active } => tenant,
            _ => throw KeywardErrors.TokenRevoked(),
        };
    }

    /// <summary>Whether <see cref="RequireOpenAsync"/> would let the request through.</summary>
    public async Task<bool> IsOpenAsync(IStoreSession session, CancellationToken cancellationToken = default)
    {
        try
        {
            await RequireOpenAsync(session, cancellationToken);
            return true;
        }
        catch (KeywardException)
        {
            return false;
        }
    }
}
