using Keyward.Client.Internal;
using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>Role routes (tenant admin token).</summary>
public partial class KeywardClient
{
    /// <summary><c>PUT /v1/roles/{name}</c>: creates or replaces a role.</summary>
    public virtual Task<KeywardRole> PutRoleAsync(
        string name, IEnumerable<RoleRule> rules, TimeSpan maxTtl, IEnumerable<string>? maySpawn = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(maxTtl, TimeSpan.Zero);
        var body = new PutRoleBody(rules.ToArray(), maxTtl, maySpawn?.ToArray());
        return SendAsync<KeywardRole>(HttpMethod.Put, RoleUrl(name), body, authenticate: true, cancellationToken);
    }

    /// <summary><c>GET /v1/roles/{name}</c>.</summary>
    public virtual Task<KeywardRole> GetRoleAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<KeywardRole>(HttpMethod.Get, RoleUrl(name), null, authenticate: true, cancellationToken);

    /// <summary><c>GET /v1/roles</c>: the tenant's roles.</summary>
    public virtual async Task<IReadOnlyList<KeywardRole>> ListRolesAsync(CancellationToken cancellationToken = default) =>
        (await SendAsync<RoleList>(HttpMethod.Get, "v1/roles", null, authenticate: true, cancellationToken).ConfigureAwait(false)).Roles;

    /// <summary><c>DELETE /v1/roles/{name}</c>.</summary>
    public virtual Task DeleteRoleAsync(string name, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Delete, RoleUrl(name), null, cancellationToken);

    private static string RoleUrl(string name) => "v1/roles/" + ClientValidation.Segment(name, nameof(name), "role name");

    private sealed record PutRoleBody(IReadOnlyList<RoleRule> Rules, TimeSpan MaxTtl, IReadOnlyList<string>? MaySpawn);

    private sealed record RoleList(IReadOnlyList<KeywardRole> Roles);
}
