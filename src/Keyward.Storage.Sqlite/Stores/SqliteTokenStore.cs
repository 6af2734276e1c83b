using Keyward.Core.Storage;
using Keyward.Core.Tokens;
using Microsoft.Data.Sqlite;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteTokenStore(SqliteConnectionLease db) : ITokenStore
{
    private const string Columns =
        "accessor, hash, kind, tenant_uid, parent_accessor, issued_by, display_name, role, agent_id, run_id, rules, created_at, expires_at, revoked_at";

    public Task<TokenRecord?> GetByHashAsync(byte[] hash, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadOne($"SELECT {Columns} FROM tokens WHERE hash = $v", hash));

    public Task<TokenRecord?> GetByAccessorAsync(string accessor, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadOne($"SELECT {Columns} FROM tokens WHERE accessor = $v", accessor));

    public Task InsertAsync(TokenRecord t, CancellationToken cancellationToken = default)
    {
        db.Execute(
            $"INSERT INTO tokens ({Columns}) VALUES ($accessor, $hash, $kind, $tenant, $parent, $issued, $display, $role, $agent, $run, $rules, $created, $expires, $revoked)",
            ("$accessor", t.Accessor), ("$hash", t.Hash), ("$kind", TokenKinds.Name(t.Kind)), ("$tenant", t.TenantUid), ("$parent", t.ParentAccessor),
            ("$issued", t.IssuedBy), ("$display", t.DisplayName), ("$role", t.Role), ("$agent", t.AgentId), ("$run", t.RunId),
            ("$rules", t.Rules is null ? null : StoredJson.Rules(t.Rules)), ("$created", SqliteValues.Ticks(t.CreatedAt)),
            ("$expires", SqliteValues.Ticks(t.ExpiresAt)), ("$revoked", SqliteValues.Ticks(t.RevokedAt)));
        return Task.CompletedTask;
    }

    public Task<bool> RevokeAsync(string accessor, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("UPDATE tokens SET revoked_at = $at WHERE accessor = $accessor AND revoked_at IS NULL",
            ("$at", SqliteValues.Ticks(at)), ("$accessor", accessor)) == 1);

    public Task<int> RevokeTenantAsync(string tenantUid, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("UPDATE tokens SET revoked_at = $at WHERE tenant_uid = $uid AND revoked_at IS NULL",
            ("$at", SqliteValues.Ticks(at)), ("$uid", tenantUid)));

    public Task<bool> DeleteAsync(string accessor, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("DELETE FROM tokens WHERE accessor = $accessor", ("$accessor", accessor)) == 1);

    public Task<int> RevokeRootTokensAsync(DateTimeOffset at, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("UPDATE tokens SET revoked_at = $at WHERE kind = 'root' AND revoked_at IS NULL", ("$at", SqliteValues.Ticks(at))));

    private TokenRecord? ReadOne(string sql, object value)
    {
        using var reader = db.Query(sql, ("$v", value));
        return reader.Read() ? Map(reader) : null;
    }

    private static TokenRecord Map(SqliteDataReader r)
    {
        if (!TokenKinds.TryParseName(r.GetString(2), out var kind))
        {
            throw new InvalidDataException("A stored token has an unknown kind.");
        }

        var rules = SqliteValues.NullableString(r, 10);
        return new TokenRecord(
            r.GetString(0), SqliteValues.Blob(r, 1), kind, SqliteValues.NullableString(r, 3), SqliteValues.NullableString(r, 4),
            SqliteValues.NullableString(r, 5), SqliteValues.NullableString(r, 6), SqliteValues.NullableString(r, 7),
            SqliteValues.NullableString(r, 8), SqliteValues.NullableString(r, 9), rules is null ? null : StoredJson.ParseRules(rules),
            SqliteValues.Instant(r, 11), SqliteValues.NullableInstant(r, 12), SqliteValues.NullableInstant(r, 13));
    }
}
