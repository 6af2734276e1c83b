using System.Runtime.CompilerServices;
using Keyward.Core.Errors;
using Keyward.Core.Events;
using Keyward.Core.Leases;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;

namespace Keyward.Core.Agents;

/// <summary>
/// The token tree's rules in one place: what a caller may reach, and the cascading revocation every route uses
/// (a token, every descendant, every lease they own, every outstanding wrap they made, one event).
/// </summary>
public sealed class TokenTree
{
    /// <summary>Deeper chains are refused: a runaway spawn loop stops here.</summary>
    public const int MaxDepth = 32;

    private readonly LeaseEngines _engines;

    public TokenTree(LeaseEngines engines)
    {
        _engines = engines;
    }

    /// <summary>Engines whose revoked leases need clean-up outside Keyward.</summary>
    public IReadOnlyCollection<string> ExternalEngines => _engines.External;

    /// <summary>
    /// <paramref name="token"/>, then its parent, its parent's parent… up to the root or a parent no longer stored, and
    /// never more than <see cref="MaxDepth"/> ancestors (a corrupt chain cannot loop): the one walk up the tree.
    /// </summary>
    public static async IAsyncEnumerable<TokenRecord> LineageAsync(
        IStoreSession session, TokenRecord token, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        TokenRecord? current = token;
        for (var depth = 0; current is not null && depth <= MaxDepth; depth++)
        {
            yield return current;
            current = current.ParentAccessor is { } parent ? await session.Tokens.GetByAccessorAsync(parent, cancellationToken) : null;
        }
    }

    /// <summary>Whether <paramref name="token"/> is <paramref name="ancestorAccessor"/> or lies below it.</summary>
    public static async Task<bool> IsWithinAsync(IStoreSession session, TokenRecord token, string ancestorAccessor)
    {
        await foreach (var current in LineageAsync(session, token))
        {
            if (current.Accessor == ancestorAccessor)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>How many ancestors a token has (root-level tenant tokens: 0).</summary>
    public static async Task<int> DepthAsync(IStoreSession session, TokenRecord token) =>
        await LineageAsync(session, token).CountAsync() - 1;

    /// <summary>
    /// Resolves a token the caller names: it must be in the caller's tenant and, for orchestrators and agents,
    /// in the caller's own subtree. Anything else is "not found": the caller learns nothing about other trees.
    /// </summary>
    public static async Task<TokenRecord> ResolveInScopeAsync(IStoreSession session, string tenantUid, string? scope, string accessor)
    {
        var token = await session.Tokens.GetByAccessorAsync(accessor);
        if (token is null || token.TenantUid != tenantUid || (scope is not null && !await IsWithinAsync(session, token, scope)))
        {
            throw KeywardErrors.TokenNotFound(accessor);
        }

        return token;
    }

    /// <summary>
    /// Revokes one derived token of <paramref name="session"/> (the hash part of its id, see
    /// <see cref="Tokens.Derived.DerivedToken.IdOf"/>) — and with it every token derived from it — and records a
    /// <c>token.revoked</c> event naming its id. Returns false if it was revoked already.
    /// </summary>
    public static async Task<bool> RevokeDerivedAsync(IWriteSession session, TokenRecord agentSession, string hash, string reason, DateTimeOffset at)
    {
        var tenantUid = agentSession.TenantUid ?? throw new ArgumentException("Not a tenant's session.", nameof(agentSession));
        var revoked = await session.Tokens.InsertDerivedRevocationAsync(
            new DerivedRevocation(tenantUid, agentSession.Accessor, hash, at, agentSession.MaxExpiresAt ?? agentSession.ExpiresAt ?? at));
        await EventLog.AppendAsync(session, tenantUid, EventTypes.TokenRevoked, at,
            new { derived_id = agentSession.Accessor + "." + hash, reason }, subjectAccessor: agentSession.Accessor);
        return revoked;
    }

    /// <summary>
    /// Revokes a token's subtree, every lease under it and every outstanding wrap its tokens made, and records one
    /// <c>token.revoked</c> event.
    /// </summary>
    public async Task<RevocationCounts> RevokeSubtreeAsync(IWriteSession session, TokenRecord root, string reason, DateTimeOffset at)
    {
        var tokens = await session.Tokens.RevokeSubtreeAsync(root.Accessor, at, reason);
        var leases = await session.Leases.RevokeForSubtreeAsync(root.Accessor, at, _engines.External);
        var wraps = await RevokeWrapsOfRevokedAsync(session, root.TenantUid);
        if (root.TenantUid is { } tenantUid)
        {
            await EventLog.AppendAsync(session, tenantUid, EventTypes.TokenRevoked, at,
                new { accessor = root.Accessor, agent_id = root.AgentId, run_id = root.RunId, reason, tokens, leases },
                subjectAccessor: root.Accessor);
        }

        return new RevocationCounts(tokens, leases, wraps);
    }

    /// <summary>
    /// A wrap dies with the token that made it: after tokens of <paramref name="tenantUid"/> were revoked in
    /// <paramref name="session"/> (a subtree, a run, a JWT issuer's sessions), revokes the outstanding wraps of every revoked
    /// token of the tenant, erasing their payloads. Unwrap checks the same (a wrap committed by another node as the
    /// revocation committed). Lockdown and offboarding revoke all of a tenant's wraps instead.
    /// </summary>
    public static async Task<int> RevokeWrapsOfRevokedAsync(IWriteSession session, string? tenantUid) =>
        tenantUid is null ? 0 : await session.Wraps.RevokeOwnedByRevokedAsync(tenantUid);
}
