using Keyward.Core.Storage;
using Keyward.Core.Tokens;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteTokenStore(SqliteConnectionLease db) : ITokenStore
{
    private const string Columns =
        "accessor, hash, kind, tenant_uid, parent_accessor, issued_by, display_name, role, agent_id, run_id, rules, created_at, expires_at, revoked_at, " +
        "session_ttl_seconds, used_at, used_by, max_expires_at, revoked_reason, retain_until";

    /// <summary>The subtree rooted at <c>$root</c> (the root included), following parent links down.</summary>
    internal const string SubtreeCte =
        "WITH RECURSIVE sub(a) AS (SELECT $root UNION SELECT t.accessor FROM tokens t JOIN sub ON t.parent_accessor = sub.a) ";

    /// <summary>The run's tokens within the optional scope subtree, and everything below them.</summary>
    internal const string RunCte =
        "WITH RECURSIVE scope(a) AS (SELECT $scope UNION SELECT t.accessor FROM tokens t JOIN scope ON t.parent_accessor = scope.a), " +
        "sub(a) AS (SELECT accessor FROM tokens WHERE tenant_uid = $uid AND run_id = $run AND ($scope IS NULL OR accessor IN scope) " +
        "UNION SELECT t.accessor FROM tokens t JOIN sub ON t.parent_accessor = sub.a) ";

    /// <summary>
    /// Exchanged bootstrap tokens are spent: they can never be used again (a second exchange is a replay whatever their
    /// state), so revocations leave them alone and count only tokens that could still act.
    /// </summary>
    private const string NotSpent = "NOT (kind = 'bootstrap' AND used_at IS NOT NULL)";

    /// <summary>Like <see cref="RunCte"/>, with each token's depth below the run's tokens (<c>tree(a, d)</c>).</summary>
    private const string RunTreeCte =
        "WITH RECURSIVE scope(a) AS (SELECT $scope UNION SELECT t.accessor FROM tokens t JOIN scope ON t.parent_accessor = scope.a), " +
        "tree(a, d) AS (SELECT accessor, 0 FROM tokens WHERE tenant_uid = $uid AND run_id = $run AND ($scope IS NULL OR accessor IN scope) " +
        "UNION SELECT t.accessor, tree.d + 1 FROM tokens t JOIN tree ON t.parent_accessor = tree.a) ";

    public Task<TokenRecord?> GetByHashAsync(byte[] hash, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadOne($"SELECT {Columns} FROM tokens WHERE hash = $v", hash));

    public Task<TokenRecord?> GetByAccessorAsync(string accessor, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadOne($"SELECT {Columns} FROM tokens WHERE accessor = $v", accessor));

    public Task InsertAsync(TokenRecord t, CancellationToken cancellationToken = default)
    {
        db.Execute(
            $"INSERT INTO tokens ({Columns}) VALUES ($accessor, $hash, $kind, $tenant, $parent, $issued, $display, $role, $agent, $run, $rules, $created, $expires, $revoked, " +
            "$session_ttl, $used_at, $used_by, $max_expires, $reason, $retain)",
            ("$accessor", t.Accessor), ("$hash", t.Hash), ("$kind", TokenKinds.Name(t.Kind)), ("$tenant", t.TenantUid), ("$parent", t.ParentAccessor),
            ("$issued", t.IssuedBy), ("$display", t.DisplayName), ("$role", t.Role), ("$agent", t.AgentId), ("$run", t.RunId),
            ("$rules", t.Rules is null ? null : StoredJson.Rules(t.Rules)), ("$created", SqliteValues.Ticks(t.CreatedAt)),
            ("$expires", SqliteValues.Ticks(t.ExpiresAt)), ("$revoked", SqliteValues.Ticks(t.RevokedAt)),
            ("$session_ttl", t.SessionTtl is { } ttl ? (long)ttl.TotalSeconds : null), ("$used_at", SqliteValues.Ticks(t.UsedAt)), ("$used_by", t.UsedBy),
            ("$max_expires", SqliteValues.Ticks(t.MaxExpiresAt)), ("$reason", t.RevokedReason), ("$retain", SqliteValues.Ticks(t.RetainUntil)));
        return Task.CompletedTask;
    }

    public Task<bool> RevokeAsync(string accessor, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("UPDATE tokens SET revoked_at = $at, revoked_reason = 'revoked' WHERE accessor = $accessor AND revoked_at IS NULL",
            ("$at", SqliteValues.Ticks(at)), ("$accessor", accessor)) == 1);

    public Task<int> RevokeTenantAsync(string tenantUid, DateTimeOffset at, string reason, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("UPDATE tokens SET revoked_at = $at, revoked_reason = $reason WHERE tenant_uid = $uid AND revoked_at IS NULL AND " + NotSpent,
            ("$at", SqliteValues.Ticks(at)), ("$uid", tenantUid), ("$reason", reason)));

    public Task<int> CountLiveAsync(string tenantUid, DateTimeOffset before, CancellationToken cancellationToken = default) =>
        Task.FromResult(Convert.ToInt32(db.Scalar(
            "SELECT count(*) FROM tokens WHERE tenant_uid = $uid AND revoked_at IS NULL AND created_at <= $before AND " + NotSpent,
            ("$uid", tenantUid), ("$before", SqliteValues.Ticks(before))), System.Globalization.CultureInfo.InvariantCulture));

    public Task<int> RevokeIssuedBeforeAsync(string tenantUid, DateTimeOffset before, string reason, int limit, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            "UPDATE tokens SET revoked_at = $before, revoked_reason = $reason WHERE rowid IN (SELECT rowid FROM tokens " +
            "WHERE tenant_uid = $uid AND revoked_at IS NULL AND created_at <= $before AND " + NotSpent + " LIMIT $limit)",
            ("$uid", tenantUid), ("$before", SqliteValues.Ticks(before)), ("$reason", reason), ("$limit", limit)));

    public Task<bool> TryMarkUsedAsync(string bootstrapAccessor, string sessionAccessor, DateTimeOffset at, DateTimeOffset retainUntil, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            "UPDATE tokens SET used_at = $at, used_by = $session, retain_until = $retain " +
            "WHERE accessor = $accessor AND kind = 'bootstrap' AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $at",
            ("$at", SqliteValues.Ticks(at)), ("$session", sessionAccessor), ("$retain", SqliteValues.Ticks(retainUntil)), ("$accessor", bootstrapAccessor)) == 1);

    public Task<int> RevokeSubtreeAsync(string accessor, DateTimeOffset at, string reason, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            SubtreeCte + "UPDATE tokens SET revoked_at = $at, revoked_reason = $reason WHERE accessor IN (SELECT a FROM sub) AND revoked_at IS NULL AND " + NotSpent,
            ("$root", accessor), ("$at", SqliteValues.Ticks(at)), ("$reason", reason)));

    public Task<int> RevokeRunAsync(string tenantUid, string runId, string? scopeAccessor, DateTimeOffset at, string reason, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            RunCte + "UPDATE tokens SET revoked_at = $at, revoked_reason = $reason WHERE accessor IN (SELECT a FROM sub) AND revoked_at IS NULL AND " + NotSpent,
            ("$scope", scopeAccessor), ("$uid", tenantUid), ("$run", runId), ("$at", SqliteValues.Ticks(at)), ("$reason", reason)));

    public Task<IReadOnlyList<TokenRecord>> ListRunAsync(string tenantUid, string runId, string? scopeAccessor, int limit, CancellationToken cancellationToken = default)
    {
        // Ordered by depth below the run's topmost tokens (the longest path, as a run token may lie below another), so
        // that a parent always precedes its children — creation instants can tie (a frozen clock) or skew (two nodes).
        using var reader = db.Query(
            RunTreeCte + $"SELECT {Columns} FROM tokens JOIN (SELECT a, max(d) AS depth FROM tree GROUP BY a) AS listed ON tokens.accessor = listed.a " +
            "ORDER BY listed.depth, created_at, accessor LIMIT $limit",
            ("$scope", scopeAccessor), ("$uid", tenantUid), ("$run", runId), ("$limit", limit));
        var list = new List<TokenRecord>();
        while (reader.Read())
        {
            list.Add(StoredRows.Token(reader));
        }

        return Task.FromResult<IReadOnlyList<TokenRecord>>(list);
    }

    public Task<bool> SetExpiryAsync(string accessor, DateTimeOffset expiresAt, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("UPDATE tokens SET expires_at = $expires WHERE accessor = $accessor AND revoked_at IS NULL",
            ("$expires", SqliteValues.Ticks(expiresAt)), ("$accessor", accessor)) == 1);

    public Task<bool> InsertDerivedRevocationAsync(DerivedRevocation r, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            "INSERT INTO derived_revocations (session_accessor, derived_id, tenant_uid, revoked_at, expires_at) VALUES ($session, $id, $uid, $at, $expires) " +
            "ON CONFLICT (session_accessor, derived_id) DO NOTHING",
            ("$session", r.SessionAccessor), ("$id", r.DerivedId), ("$uid", r.TenantUid), ("$at", SqliteValues.Ticks(r.RevokedAt)),
            ("$expires", SqliteValues.Ticks(r.ExpiresAt))) == 1);

    public Task<IReadOnlyList<string>> ListDerivedRevocationsAsync(string sessionAccessor, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query("SELECT derived_id FROM derived_revocations WHERE session_accessor = $session", ("$session", sessionAccessor));
        var ids = new List<string>();
        while (reader.Read())
        {
            ids.Add(reader.GetString(0));
        }

        return Task.FromResult<IReadOnlyList<string>>(ids);
    }

    public Task<int> SweepDerivedRevocationsAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            "DELETE FROM derived_revocations WHERE rowid IN (SELECT rowid FROM derived_revocations WHERE expires_at < $before LIMIT $limit)",
            ("$before", SqliteValues.Ticks(before)), ("$limit", limit)));

    public Task<int> SweepExpiredAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            "DELETE FROM tokens WHERE rowid IN (SELECT rowid FROM tokens WHERE expires_at < $before AND kind <> 'root' " +
            "AND (retain_until IS NULL OR retain_until < $before) LIMIT $limit)",
            ("$before", SqliteValues.Ticks(before)), ("$limit", limit)));

    public Task<bool> DeleteAsync(string accessor, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("DELETE FROM tokens WHERE accessor = $accessor", ("$accessor", accessor)) == 1);

    public Task<int> RevokeRootTokensAsync(DateTimeOffset at, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("UPDATE tokens SET revoked_at = $at, revoked_reason = 'root_revoked' WHERE kind = 'root' AND revoked_at IS NULL", ("$at", SqliteValues.Ticks(at))));

    private TokenRecord? ReadOne(string sql, object value)
    {
        using var reader = db.Query(sql, ("$v", value));
        return reader.Read() ? StoredRows.Token(reader) : null;
    }
}
