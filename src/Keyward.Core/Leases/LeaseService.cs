using Keyward.Core.Agents;
using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Events;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;

namespace Keyward.Core.Leases;

/// <summary>
/// Leases (tenant token, own subtree): list, renew, revoke, revoke by prefix. Admin tokens reach every lease of the
/// tenant; orchestrators and agents the leases owned by their own subtree — another's are "not found".
/// </summary>
public sealed class LeaseService
{
    public const int MaxList = 1000;

    /// <summary>Most leases one revoke-prefix call revokes; call again for more.</summary>
    public const int MaxRevokePrefix = 10_000;

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly TokenTree _tree;
    private readonly AgentService _agents;
    private readonly LeaseEngines _engines;
    private readonly TimeProvider _time;

    public LeaseService(IKeywardStore store, GroupCommitter committer, TokenTree tree, AgentService agents, LeaseEngines engines, TimeProvider time)
    {
        _engines = engines;
        _store = store;
        _committer = committer;
        _tree = tree;
        _agents = agents;
        _time = time;
    }

    public async Task<IReadOnlyList<LeaseRecord>> ListAsync(Principal caller, string? prefix, AuditDraft audit, CancellationToken cancellationToken = default)
    {
        var tenant = caller.RequireTenant();
        var scope = caller.TreeScope();
        prefix = ValidPrefix(prefix, allowEmpty: true);
        audit.Path = prefix.Length == 0 ? null : prefix;
        await using var session = await _store.ReadAsync(cancellationToken);
        return await session.Leases.ListAsync(tenant.Uid, scope, prefix, includeRevoked: false, MaxList, cancellationToken);
    }

    /// <summary>A new lease for <paramref name="owner"/> (see <see cref="LeaseRecord.Issue"/>), issued now.</summary>
    public LeaseRecord NewLease(TokenRecord owner, string engine, string path, TimeSpan ttl, TimeSpan maxTtl, string? external) =>
        LeaseRecord.Issue(owner, engine, path, ttl, maxTtl, external, _time.GetUtcNow());

    public async Task<LeaseRecord> RenewAsync(Principal caller, string? leaseId, TimeSpan? increment, AuditDraft audit, CancellationToken cancellationToken = default)
    {
        var tenant = caller.RequireTenant();
        var scope = caller.TreeScope();
        var id = leaseId ?? throw KeywardErrors.MissingField("lease_id");
        audit.Path = id;

        // A credential outside Keyward (a login's VALID UNTIL) is extended first, outside the writer: the lease never
        // promises more than the credential holds. If the commit then fails, the credential merely outlives the lease
        // until its clean-up drops it.
        DateTimeOffset? extended = null;
        await using (var read = await _store.ReadAsync(cancellationToken))
        {
            var lease = await ResolveAsync(read, tenant.Uid, scope, id);
            if (_engines.Find(lease.Engine) is { } engine)
            {
                var next = NextExpiry(lease, await read.Tokens.GetByAccessorAsync(lease.OwnerAccessor, cancellationToken), increment);
                if (next > lease.ExpiresAt)
                {
                    await engine.ExtendAsync(lease, next, cancellationToken);
                    extended = next;
                }
            }
        }

        return await _committer.ExecuteAsync(audit, async session =>
        {
            var lease = await ResolveAsync(session, tenant.Uid, scope, id);
            if (lease.Engine == LeaseEngines.TokenEngine)
            {
                // A session's lease is the session: the token's own renewal rule applies.
                var renewed = await _agents.RenewInTransactionAsync(session, lease.OwnerAccessor, increment);
                return lease with { ExpiresAt = renewed.ExpiresAt };
            }

            var next = NextExpiry(lease, await session.Tokens.GetByAccessorAsync(lease.OwnerAccessor), increment);
            if (extended is { } limit && limit < next)
            {
                next = limit;
            }

            if (next <= lease.ExpiresAt)
            {
                return lease;
            }

            await session.Leases.SetExpiryAsync(id, next);
            return lease with { ExpiresAt = next };
        });
    }

    /// <summary>Now plus the increment (default: the lease's first term), never past the lease's maximum or its owner's expiry.</summary>
    private DateTimeOffset NextExpiry(LeaseRecord lease, TokenRecord? owner, TimeSpan? increment)
    {
        var ceiling = owner?.ExpiresAt is { } ownerExpiry && ownerExpiry < lease.MaxExpiresAt ? ownerExpiry : lease.MaxExpiresAt;
        var now = _time.GetUtcNow();
        var step = increment ?? (lease.ExpiresAt - lease.IssuedAt);
        return now + step < ceiling ? now + step : ceiling;
    }

    public async Task RevokeAsync(Principal caller, string? leaseId, AuditDraft audit)
    {
        var tenant = caller.RequireTenant();
        var scope = caller.TreeScope();
        var id = leaseId ?? throw KeywardErrors.MissingField("lease_id");
        audit.Path = id;
        await _committer.ExecuteAsync(audit, async session =>
        {
            var lease = await ResolveAsync(session, tenant.Uid, scope, id);
            return await RevokeLeasesAsync(session, [lease], audit);
        });
    }

    public async Task<int> RevokePrefixAsync(Principal caller, string? prefix, AuditDraft audit)
    {
        var tenant = caller.RequireTenant();
        var scope = caller.TreeScope();
        var valid = ValidPrefix(prefix ?? throw KeywardErrors.MissingField("prefix"), allowEmpty: false);
        audit.Path = valid;
        return await _committer.ExecuteAsync(audit, async session =>
        {
            var leases = await session.Leases.ListAsync(tenant.Uid, scope, valid, includeRevoked: false, MaxRevokePrefix);
            return await RevokeLeasesAsync(session, leases, audit);
        });
    }

    private async Task<int> RevokeLeasesAsync(IWriteSession session, IReadOnlyList<LeaseRecord> leases, AuditDraft audit)
    {
        var now = _time.GetUtcNow();
        var tokens = 0;
        var wraps = 0;
        var plain = new List<string>();
        foreach (var lease in leases)
        {
            if (lease.Engine == LeaseEngines.TokenEngine)
            {
                // Revoking a session's lease revokes the session, with its subtree and their leases.
                if (await session.Tokens.GetByAccessorAsync(lease.OwnerAccessor) is { } owner)
                {
                    var counts = await _tree.RevokeSubtreeAsync(session, owner, RevocationReasons.Revoked, now);
                    tokens += counts.Tokens;
                    wraps += counts.Wraps;
                }
            }
            else
            {
                plain.Add(lease.LeaseId);
            }
        }

        var revoked = plain.Count == 0 ? 0 : await session.Leases.RevokeAsync(plain, now, _tree.ExternalEngines);
        foreach (var lease in leases.Where(l => l.Engine != LeaseEngines.TokenEngine))
        {
            await EventLog.AppendAsync(session, lease.TenantUid, EventTypes.LeaseRevoked, now,
                new { lease_id = lease.LeaseId, path = lease.Path, engine = lease.Engine }, path: lease.Path, subjectAccessor: lease.OwnerAccessor);
        }

        // Session leases are revoked with their sessions above; plain ones here.
        var total = new RevocationCounts(tokens, revoked + leases.Count - plain.Count, wraps);
        total.AddTo(audit);
        return total.Leases;
    }

    private static async Task<LeaseRecord> ResolveAsync(IStoreSession session, string tenantUid, string? scope, string leaseId)
    {
        var lease = await session.Leases.GetAsync(leaseId);
        if (lease is null || lease.TenantUid != tenantUid || lease.RevokedAt is not null)
        {
            throw KeywardErrors.LeaseNotFound(leaseId);
        }

        if (scope is not null)
        {
            var owner = await session.Tokens.GetByAccessorAsync(lease.OwnerAccessor);
            if (owner is null || !await TokenTree.IsWithinAsync(session, owner, scope))
            {
                throw KeywardErrors.LeaseNotFound(leaseId);
            }
        }

        return lease;
    }

    /// <summary>Lease id prefixes are whole segments of <c>[A-Za-z0-9._-]</c>, like secret paths.</summary>
    private static string ValidPrefix(string? prefix, bool allowEmpty)
    {
        prefix = (prefix ?? "").TrimEnd('/');
        if (prefix.Length == 0)
        {
            return allowEmpty ? prefix : throw KeywardErrors.InvalidPrefix("revoke-prefix needs a non-empty prefix (it would revoke every lease in reach).");
        }

        if (!Validation.SecretPath.TryValidate(prefix, out _))
        {
            throw KeywardErrors.InvalidPrefix("A prefix is '/'-separated segments of [A-Za-z0-9._-], no empty, '.' or '..' segments, at most 512 bytes.");
        }

        return prefix;
    }
}
