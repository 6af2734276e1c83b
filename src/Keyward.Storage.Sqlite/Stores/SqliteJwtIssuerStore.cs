using Keyward.Core.Auth.Jwt;
using Keyward.Core.Storage;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteJwtIssuerStore(SqliteConnectionLease db) : IJwtIssuerStore
{
    private const string Columns = "tenant_uid, name, node_id, issuer, keys, audiences, bindings, clock_skew_seconds, created_at, updated_at";

    public Task<JwtIssuer?> GetAsync(string tenantUid, string name, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadOne($"SELECT {Columns} FROM jwt_issuers WHERE tenant_uid = $uid AND name = $v", tenantUid, name));

    public Task<JwtIssuer?> GetByIssuerAsync(string tenantUid, string issuer, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadOne($"SELECT {Columns} FROM jwt_issuers WHERE tenant_uid = $uid AND issuer = $v", tenantUid, issuer));

    public Task<IReadOnlyList<JwtIssuer>> ListAsync(string tenantUid, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query($"SELECT {Columns} FROM jwt_issuers WHERE tenant_uid = $uid ORDER BY name", ("$uid", tenantUid));
        var list = new List<JwtIssuer>();
        while (reader.Read())
        {
            list.Add(StoredRows.JwtIssuer(reader));
        }

        return Task.FromResult<IReadOnlyList<JwtIssuer>>(list);
    }

    public Task UpsertAsync(JwtIssuer issuer, CancellationToken cancellationToken = default)
    {
        db.Execute(
            $"""
            INSERT INTO jwt_issuers ({Columns}) VALUES ($uid, $name, $node, $issuer, $keys, $audiences, $bindings, $skew, $created, $updated)
            ON CONFLICT (tenant_uid, name) DO UPDATE SET issuer = excluded.issuer, keys = excluded.keys, audiences = excluded.audiences,
                bindings = excluded.bindings, clock_skew_seconds = excluded.clock_skew_seconds, updated_at = excluded.updated_at
            """,
            ("$uid", issuer.TenantUid), ("$name", issuer.Name), ("$node", issuer.NodeId), ("$issuer", issuer.Issuer),
            ("$keys", JwtIssuerJson.Keys(issuer.Keys)), ("$audiences", StoredJson.Strings(issuer.Audiences)),
            ("$bindings", JwtIssuerJson.Bindings(issuer.Bindings)), ("$skew", (long)issuer.ClockSkew.TotalSeconds),
            ("$created", SqliteValues.Ticks(issuer.CreatedAt)), ("$updated", SqliteValues.Ticks(issuer.UpdatedAt)));
        return Task.CompletedTask;
    }

    public Task<string?> DeleteAsync(string tenantUid, string name, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Scalar(
            "DELETE FROM jwt_issuers WHERE tenant_uid = $uid AND name = $name RETURNING node_id", ("$uid", tenantUid), ("$name", name)) as string);

    private JwtIssuer? ReadOne(string sql, string tenantUid, string value)
    {
        using var reader = db.Query(sql, ("$uid", tenantUid), ("$v", value));
        return reader.Read() ? StoredRows.JwtIssuer(reader) : null;
    }
}
