using System.Net;
using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>System routes: health, initialization, the seal, root tokens, the audit chain and metrics.</summary>
public partial class KeywardClient
{
    /// <summary>
    /// <c>GET /v1/sys/health</c> (no token). A sealed or uninitialized server answers 503 with the same body: that
    /// is returned, not thrown.
    /// </summary>
    public virtual async Task<KeywardHealth> GetHealthAsync(CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Get, "v1/sys/health", null, authenticate: false, HttpStatusCode.ServiceUnavailable, cancellationToken)
            .ConfigureAwait(false);
        return await ReadAsync<KeywardHealth>(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary><c>POST /v1/sys/init</c> (no token, once): splits a new root key into <paramref name="shares"/> key shares.</summary>
    public virtual Task<InitializeResult> InitializeAsync(int shares, int threshold, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shares, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(threshold, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(threshold, shares);
        return SendAsync<InitializeResult>(HttpMethod.Post, "v1/sys/init", new InitBody(shares, threshold), authenticate: false, cancellationToken);
    }

    /// <summary><c>POST /v1/sys/unseal</c> (no token): submits one key share.</summary>
    public virtual Task<SealStatus> UnsealAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        return SendAsync<SealStatus>(HttpMethod.Post, "v1/sys/unseal", new UnsealBody(key.Trim(), null), authenticate: false, cancellationToken);
    }

    /// <summary><c>POST /v1/sys/unseal {reset: true}</c> (no token): forgets the shares submitted so far.</summary>
    public virtual Task<SealStatus> ResetUnsealAsync(CancellationToken cancellationToken = default) =>
        SendAsync<SealStatus>(HttpMethod.Post, "v1/sys/unseal", new UnsealBody(null, true), authenticate: false, cancellationToken);

    /// <summary><c>POST /v1/sys/seal</c> (root token): wipes every key from the server's memory.</summary>
    public virtual Task SealAsync(CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Post, "v1/sys/seal", null, cancellationToken);

    /// <summary><c>POST /v1/sys/root-token/revoke</c> (root token): retires every root token.</summary>
    public virtual Task RevokeRootTokensAsync(CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Post, "v1/sys/root-token/revoke", null, cancellationToken);

    /// <summary>
    /// <c>POST /v1/sys/generate-root</c> (no token; the key shares are the credential): mints a new root token and
    /// revokes every other.
    /// </summary>
    public virtual Task<RootTokenResult> GenerateRootAsync(IEnumerable<string> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var list = keys.Select(k => k?.Trim() ?? "").ToArray();
        if (list.Length == 0 || Array.Exists(list, k => k.Length == 0))
        {
            throw new ArgumentException("Give at least one key share, none blank.", nameof(keys));
        }

        return SendAsync<RootTokenResult>(HttpMethod.Post, "v1/sys/generate-root", new KeysBody(list), authenticate: false, cancellationToken);
    }

    /// <summary><c>GET /v1/sys/audit/verify</c> (root token): walks the whole audit chain and its checkpoints.</summary>
    public virtual Task<AuditVerification> VerifyAuditAsync(CancellationToken cancellationToken = default) =>
        SendAsync<AuditVerification>(HttpMethod.Get, "v1/sys/audit/verify", null, authenticate: true, cancellationToken);

    /// <summary>
    /// <c>GET /v1/sys/audit</c> (root token): audit records of <paramref name="tenant"/> (including an offboarded
    /// one), or of everything when null.
    /// </summary>
    public virtual Task<AuditPage> GetSystemAuditAsync(string? tenant = null, AuditQuery? query = null, CancellationToken cancellationToken = default)
    {
        query ??= new AuditQuery();
        var url = "v1/sys/audit" + Query(
            ("tenant", tenant), ("after", Number(query.After)), ("limit", Number(query.Limit)), ("agent_id", query.AgentId), ("path", query.Path));
        return SendAsync<AuditPage>(HttpMethod.Get, url, null, authenticate: true, cancellationToken);
    }

    /// <summary><c>GET /v1/sys/metrics</c> (root token): Prometheus text.</summary>
    public virtual async Task<string> GetMetricsAsync(CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Get, "v1/sys/metrics", null, authenticate: true, alsoAccept: null, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
    }

    private sealed record InitBody(int Shares, int Threshold);

    private sealed record UnsealBody(string? Key, bool? Reset);

    private sealed record KeysBody(IReadOnlyList<string> Keys);
}
