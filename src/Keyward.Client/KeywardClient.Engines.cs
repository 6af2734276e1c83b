using Keyward.Client.Internal;
using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>Dynamic PostgreSQL credentials: connections and roles (tenant admin token), logins (read on creds/postgres/NAME/ROLE).</summary>
public partial class KeywardClient
{
    /// <summary><c>PUT /v1/engines/postgres/{name}</c>: registers or replaces a connection (the server logs in to check it first).</summary>
    public virtual Task<PostgresConnection> PutPostgresConnectionAsync(string name, PostgresConnectionSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return SendAsync<PostgresConnection>(HttpMethod.Put, PostgresConnectionUrl(name), spec, authenticate: true, cancellationToken);
    }

    public virtual Task<PostgresConnection> GetPostgresConnectionAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<PostgresConnection>(HttpMethod.Get, PostgresConnectionUrl(name), null, authenticate: true, cancellationToken);

    public virtual async Task<IReadOnlyList<PostgresConnection>> ListPostgresConnectionsAsync(CancellationToken cancellationToken = default) =>
        (await SendAsync<ConnectionList>(HttpMethod.Get, "v1/engines/postgres", null, authenticate: true, cancellationToken).ConfigureAwait(false)).Connections;

    /// <summary><c>DELETE</c>: refused (409 engine_in_use) while any login of the connection exists.</summary>
    public virtual Task DeletePostgresConnectionAsync(string name, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Delete, PostgresConnectionUrl(name), null, cancellationToken);

    /// <summary><c>POST …/rotate-root</c>: Keyward's own login gets a new password nobody has seen.</summary>
    public virtual Task<PostgresConnection> RotatePostgresRootAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<PostgresConnection>(HttpMethod.Post, PostgresConnectionUrl(name) + "/rotate-root", null, authenticate: true, cancellationToken);

    public virtual Task<PostgresRole> PutPostgresRoleAsync(
        string name, string role, IReadOnlyList<string> creationStatements, IReadOnlyList<string>? revocationStatements = null, TimeSpan? defaultTtl = null,
        TimeSpan? maxTtl = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(creationStatements);
        return SendAsync<PostgresRole>(HttpMethod.Put, PostgresRoleUrl(name, role), new PostgresRoleBody(creationStatements, revocationStatements, defaultTtl, maxTtl), authenticate: true, cancellationToken);
    }

    public virtual Task<PostgresRole> GetPostgresRoleAsync(string name, string role, CancellationToken cancellationToken = default) =>
        SendAsync<PostgresRole>(HttpMethod.Get, PostgresRoleUrl(name, role), null, authenticate: true, cancellationToken);

    public virtual async Task<IReadOnlyList<PostgresRole>> ListPostgresRolesAsync(string name, CancellationToken cancellationToken = default) =>
        (await SendAsync<PostgresRoleList>(HttpMethod.Get, PostgresConnectionUrl(name) + "/roles", null, authenticate: true, cancellationToken).ConfigureAwait(false)).Roles;

    public virtual Task DeletePostgresRoleAsync(string name, string role, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Delete, PostgresRoleUrl(name, role), null, cancellationToken);

    /// <summary>
    /// <c>POST /v1/creds/postgres/{name}/{role}</c>: a new login of this token's own with <c>VALID UNTIL</c>, dropped when its
    /// lease ends (revoke it with <see cref="RevokeLeaseAsync"/>, extend it with <see cref="RenewLeaseAsync"/>).
    /// </summary>
    public virtual Task<PostgresCredential> CreatePostgresCredentialAsync(string name, string role, CancellationToken cancellationToken = default) =>
        SendAsync<PostgresCredential>(
            HttpMethod.Post,
            "v1/creds/postgres/" + ClientValidation.Segment(name, nameof(name), "connection name") + "/" + ClientValidation.Segment(role, nameof(role), "role name"),
            null, authenticate: true, cancellationToken);

    private static string PostgresConnectionUrl(string name) => "v1/engines/postgres/" + ClientValidation.Segment(name, nameof(name), "connection name");

    private static string PostgresRoleUrl(string name, string role) => PostgresConnectionUrl(name) + "/roles/" + ClientValidation.Segment(role, nameof(role), "role name");

    private sealed record ConnectionList(IReadOnlyList<PostgresConnection> Connections);

    private sealed record PostgresRoleList(IReadOnlyList<PostgresRole> Roles);

    private sealed record PostgresRoleBody(IReadOnlyList<string> CreationStatements, IReadOnlyList<string>? RevocationStatements, TimeSpan? DefaultTtl, TimeSpan? MaxTtl);
}
