using Keyward.Core.Diagnostics;
using Keyward.Core.Errors;
using Keyward.Core.Seal;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;
using Microsoft.Extensions.Logging;

namespace Keyward.Core.Audit;

/// <summary>Reads of the audit log: per tenant for its admins, any tenant (including deleted ones) for root.</summary>
public sealed class AuditService
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    private readonly IKeywardStore _store;
    private readonly KeyHierarchy _keys;
    private readonly ILogger _logger;

    public AuditService(IKeywardStore store, KeyHierarchy keys, ILogger<AuditService> logger)
    {
        _store = store;
        _keys = keys;
        _logger = logger;
    }

    /// <summary>The caller's own tenant (tenant admin token).</summary>
    public Task<(IReadOnlyList<AuditEntry> Records, long? Next)> QueryTenantAsync(
        Principal caller, long? after, long? limit, string? agentId, string? path, CancellationToken cancellationToken = default)
    {
        var tenant = caller.RequireAdminForAudit();
        return QueryAsync(tenant.Id, after, limit, agentId, path, cancellationToken);
    }

    /// <summary>Any tenant's records, or the system's (tenant null), for the root token.</summary>
    public Task<(IReadOnlyList<AuditEntry> Records, long? Next)> QueryAnyAsync(
        Principal caller, string? tenantId, long? after, long? limit, string? agentId, string? path, CancellationToken cancellationToken = default)
    {
        caller.RequireRoot();
        return QueryAsync(tenantId, after, limit, agentId, path, cancellationToken);
    }

    public async Task<AuditVerification> VerifyAsync(Principal caller, CancellationToken cancellationToken = default)
    {
        caller.RequireRoot();
        var result = await AuditVerifier.VerifyAsync(_store, _keys.Require(), cancellationToken);
        if (!result.Ok)
        {
            KeywardLog.AuditVerifyFailed(_logger, result.FirstBadSeq, result.TruncatedAfter);
        }

        return result;
    }

    private async Task<(IReadOnlyList<AuditEntry> Records, long? Next)> QueryAsync(
        string? tenantId, long? after, long? limit, string? agentId, string? path, CancellationToken cancellationToken)
    {
        if (after is < 0)
        {
            throw KeywardErrors.InvalidField("after", "must be 0 or a sequence number");
        }

        var size = (int)Math.Clamp(limit ?? DefaultLimit, 1, MaxLimit);
        await using var session = await _store.ReadAsync(cancellationToken);
        var records = await session.Audit.QueryAsync(new AuditQuery(tenantId, after ?? 0, size + 1, agentId, path), cancellationToken);
        if (records.Count > size)
        {
            var page = records.Take(size).ToArray();
            return (page, page[^1].Seq);
        }

        return (records, null);
    }
}
