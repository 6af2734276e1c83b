using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>The tenant's audit trail (tenant admin token).</summary>
public partial class KeywardClient
{
    /// <summary>
    /// <c>GET /v1/audit</c>: one page of the tenant's audit records in ascending seq. Pass
    /// <see cref="AuditPage.Next"/> as <see cref="AuditQuery.After"/> for the next page.
    /// </summary>
    public virtual Task<AuditPage> GetAuditAsync(AuditQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new AuditQuery();
        var url = "v1/audit" + Query(("after", Number(query.After)), ("limit", Number(query.Limit)), ("agent_id", query.AgentId), ("path", query.Path));
        return SendAsync<AuditPage>(HttpMethod.Get, url, null, authenticate: true, cancellationToken);
    }
}
