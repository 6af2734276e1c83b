using Keyward.Core.Auth.Jwt;
using Keyward.Core.Storage;

namespace Keyward.Storage.Postgres.Stores;

internal sealed class PostgresJwtIssuerStore(PostgresDb db) : IJwtIssuerStore
{
    private const string Columns = "tenant_uid, name, node_id, issuer, keys, audiences, bindings, clock_skew_seconds, created_at, updated_at";

    public Task<JwtIssuer?> GetAsync(string tenantUid, string name, CancellationToken cancellationToken = default) =>
        db.FirstOrDefaultAsync<JwtIssuer?>($"SELECT {Columns} FROM jwt_issuers WHERE tenant_uid = @uid AND name = @v", [("uid", tenantUid), ("v", name)], StoredRows.JwtIssuer, cancellationToken);

    public Task<JwtIssuer?> GetByIssuerAsync(string tenantUid, string issuer, CancellationToken cancellationToken = default) =>
        db.FirstOrDefaultAsync<JwtIssuer?>($"SELECT {Columns} FROM jwt_issuers WHERE tenant_uid = @uid AND issuer = @v", [("uid", tenantUid), ("v", issuer)], StoredRows.JwtIssuer, cancellationToken);

    public async Task<IReadOnlyList<JwtIssuer>> ListAsync(string tenantUid, CancellationToken cancellationToken = default) =>
        await db.ListAsync($"SELECT {Columns} FROM jwt_issuers WHERE tenant_uid = @uid ORDER BY name", [("uid", tenantUid)], StoredRows.JwtIssuer, cancellationToken);

    public Task UpsertAsync(JwtIssuer issuer, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            $"""
            INSERT INTO jwt_issuers ({Columns}) VALUES (@uid, @name, @node, @issuer, @keys, @audiences, @bindings, @skew, @created, @updated)
            ON CONFLICT (tenant_uid, name) DO UPDATE SET issuer = excluded.issuer, keys = excluded.keys, audiences = excluded.audiences,
                bindings = excluded.bindings, clock_skew_seconds = excluded.clock_skew_seconds, updated_at = excluded.updated_at
            """,
            [("uid", issuer.TenantUid), ("name", issuer.Name), ("node", issuer.NodeId), ("issuer", issuer.Issuer),
                ("keys", JwtIssuerJson.Keys(issuer.Keys)), ("audiences", StoredJson.Strings(issuer.Audiences)),
                ("bindings", JwtIssuerJson.Bindings(issuer.Bindings)), ("skew", (long)issuer.ClockSkew.TotalSeconds),
                ("created", PostgresValues.Ticks(issuer.CreatedAt)), ("updated", PostgresValues.Ticks(issuer.UpdatedAt))],
            cancellationToken);

    /// <summary>Atomic: <c>DELETE … RETURNING</c>; of two concurrent deletes only one gets the node back.</summary>
    public async Task<string?> DeleteAsync(string tenantUid, string name, CancellationToken cancellationToken = default) =>
        await db.ScalarAsync(
            "DELETE FROM jwt_issuers WHERE tenant_uid = @uid AND name = @name RETURNING node_id", [("uid", tenantUid), ("name", name)], cancellationToken) as string;
}
