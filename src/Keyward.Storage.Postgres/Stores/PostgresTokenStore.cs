using Keyward.Core.Storage;
using Keyward.Core.Tokens;

namespace Keyward.Storage.Postgres.Stores;

internal sealed class PostgresTokenStore(PostgresDb db) : ITokenStore
{
    private const string Columns =
        "accessor, hash, kind, tenant_uid, parent_accessor, issued_by, display_name, role, agent_id, run_id, rules, created_at, expires_at, revoked_at, " +
        "session_ttl_seconds, used_at, used_by, max_expires_at, revoked_reason, retain_until";

    /// <summary>The subtree rooted at <c>@root</c> (the root included), following parent links down.</summary>
    /// <remarks>The seed is cast to the column's collation: a recursive term must have one collation throughout.</remarks>
    internal const string SubtreeCte =
        "WITH RECURSIVE sub(a) AS (SELECT @root::text COLLATE \"C\" UNION SELECT t.accessor FROM tokens t JOIN sub ON t.parent_accessor = sub.a) ";

    /// <summary>The run's tokens within the optional scope subtree, and everything below them.</summary>
    internal const string RunCte =
        "WITH RECURSIVE scope(a) AS (SELECT @scope::text COLLATE \"C\" UNION SELECT t.accessor FROM tokens t JOIN scope ON t.parent_accessor = scope.a), " +
        "sub(a) AS (SELECT accessor FROM tokens WHERE tenant_uid = @uid AND run_id = @run AND (@scope::text IS NULL OR accessor IN (SELECT a FROM scope)) " +
        "UNION SELECT t.accessor FROM tokens t JOIN sub ON t.parent_accessor = sub.a) ";

    /// <summary>
    /// Exchanged bootstrap tokens are spent: they can never be used again (a second exchange is a replay whatever their
    /// state), so revocations leave them alone and count only tokens that could still act.
    /// </summary>
    private const string NotSpent = "NOT (kind = 'bootstrap' AND used_at IS NOT NULL)";

    /// <summary>Like <see cref="RunCte"/>, with each token's depth below the run's tokens (<c>tree(a, d)</c>).</summary>
    private const string RunTreeCte =
        "WITH RECURSIVE scope(a) AS (SELECT @scope::text COLLATE \"C\" UNION SELECT t.accessor FROM tokens t JOIN scope ON t.parent_accessor = scope.a), " +
        "tree(a, d) AS (SELECT accessor, 0 FROM tokens WHERE tenant_uid = @uid AND run_id = @run AND (@scope::text IS NULL OR accessor IN (SELECT a FROM scope)) " +
        "UNION SELECT t.accessor, tree.d + 1 FROM tokens t JOIN tree ON t.parent_accessor = tree.a) ";

    public Task<TokenRecord?> GetByHashAsync(byte[] hash, CancellationToken cancellationToken = default) =>
        db.FirstOrDefaultAsync<TokenRecord?>($"SELECT {Columns} FROM tokens WHERE hash = @v", [("v", hash)], StoredRows.Token, cancellationToken);

    public Task<TokenRecord?> GetByAccessorAsync(string accessor, CancellationToken cancellationToken = default) =>
        db.FirstOrDefaultAsync<TokenRecord?>($"SELECT {Columns} FROM tokens WHERE accessor = @v", [("v", accessor)], StoredRows.Token, cancellationToken);

    public Task InsertAsync(TokenRecord t, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            $"INSERT INTO tokens ({Columns}) VALUES (@accessor, @hash, @kind, @tenant, @parent, @issued, @display, @role, @agent, @run, @rules, @created, " +
            "@expires, @revoked, @session_ttl, @used_at, @used_by, @max_expires, @reason, @retain)",
            [("accessor", t.Accessor), ("hash", t.Hash), ("kind", TokenKinds.Name(t.Kind)), ("tenant", t.TenantUid), ("parent", t.ParentAccessor),
                ("issued", t.IssuedBy), ("display", t.DisplayName), ("role", t.Role), ("agent", t.AgentId), ("run", t.RunId),
                ("rules", t.Rules is null ? null : StoredJson.Rules(t.Rules)), ("created", PostgresValues.Ticks(t.CreatedAt)),
                ("expires", PostgresValues.Ticks(t.ExpiresAt)), ("revoked", PostgresValues.Ticks(t.RevokedAt)),
                ("session_ttl", t.SessionTtl is { } ttl ? (long)ttl.TotalSeconds : null), ("used_at", PostgresValues.Ticks(t.UsedAt)), ("used_by", t.UsedBy),
                ("max_expires", PostgresValues.Ticks(t.MaxExpiresAt)), ("reason", t.RevokedReason), ("retain", PostgresValues.Ticks(t.RetainUntil))],
            cancellationToken);

    /// <summary>Atomic: a conditional update; of two concurrent revocations exactly one reports true.</summary>
    public async Task<bool> RevokeAsync(string accessor, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        await db.ExecuteAsync("UPDATE tokens SET revoked_at = @at, revoked_reason = 'revoked' WHERE accessor = @accessor AND revoked_at IS NULL",
            [("at", PostgresValues.Ticks(at)), ("accessor", accessor)], cancellationToken) == 1;

    public Task<int> RevokeTenantAsync(string tenantUid, DateTimeOffset at, string reason, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync("UPDATE tokens SET revoked_at = @at, revoked_reason = @reason WHERE tenant_uid = @uid AND revoked_at IS NULL AND " + NotSpent,
            [("at", PostgresValues.Ticks(at)), ("uid", tenantUid), ("reason", reason)], cancellationToken);

    public async Task<int> CountLiveAsync(string tenantUid, DateTimeOffset before, CancellationToken cancellationToken = default) =>
        Convert.ToInt32(await db.ScalarAsync(
            "SELECT count(*) FROM tokens WHERE tenant_uid = @uid AND revoked_at IS NULL AND created_at <= @before AND " + NotSpent,
            [("uid", tenantUid), ("before", PostgresValues.Ticks(before))], cancellationToken), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The outer WHERE repeats the conditions: a row another node revoked meanwhile is re-checked and not counted.</summary>
    public Task<int> RevokeIssuedBeforeAsync(string tenantUid, DateTimeOffset before, string reason, int limit, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "UPDATE tokens SET revoked_at = @before, revoked_reason = @reason WHERE accessor IN (SELECT accessor FROM tokens " +
            "WHERE tenant_uid = @uid AND revoked_at IS NULL AND created_at <= @before AND " + NotSpent + " LIMIT @limit) " +
            "AND revoked_at IS NULL AND " + NotSpent,
            [("uid", tenantUid), ("before", PostgresValues.Ticks(before)), ("reason", reason), ("limit", limit)], cancellationToken);

    /// <summary>Atomic: a conditional update; of concurrent exchanges of one bootstrap token exactly one wins.</summary>
    public async Task<bool> TryMarkUsedAsync(string bootstrapAccessor, string sessionAccessor, DateTimeOffset at, DateTimeOffset retainUntil, CancellationToken cancellationToken = default) =>
        await db.ExecuteAsync(
            "UPDATE tokens SET used_at = @at, used_by = @session, retain_until = @retain " +
            "WHERE accessor = @accessor AND kind = 'bootstrap' AND used_at IS NULL AND revoked_at IS NULL AND expires_at > @at",
            [("at", PostgresValues.Ticks(at)), ("session", sessionAccessor), ("retain", PostgresValues.Ticks(retainUntil)), ("accessor", bootstrapAccessor)],
            cancellationToken) == 1;

    public Task<int> RevokeSubtreeAsync(string accessor, DateTimeOffset at, string reason, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            SubtreeCte + "UPDATE tokens SET revoked_at = @at, revoked_reason = @reason WHERE accessor IN (SELECT a FROM sub) AND revoked_at IS NULL AND " + NotSpent,
            [("root", accessor), ("at", PostgresValues.Ticks(at)), ("reason", reason)], cancellationToken);

    public Task<int> RevokeRunAsync(string tenantUid, string runId, string? scopeAccessor, DateTimeOffset at, string reason, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            RunCte + "UPDATE tokens SET revoked_at = @at, revoked_reason = @reason WHERE accessor IN (SELECT a FROM sub) AND revoked_at IS NULL AND " + NotSpent,
            [("scope", scopeAccessor), ("uid", tenantUid), ("run", runId), ("at", PostgresValues.Ticks(at)), ("reason", reason)], cancellationToken);

    public async Task<IReadOnlyList<TokenRecord>> ListRunAsync(string tenantUid, string runId, string? scopeAccessor, int limit, CancellationToken cancellationToken = default) =>
        // Ordered by depth below the run's topmost tokens (the longest path, as a run token may lie below another), so
        // that a parent always precedes its children — creation instants can tie (a frozen clock) or skew (two nodes).
        await db.ListAsync(
            RunTreeCte + $"SELECT {Columns} FROM tokens JOIN (SELECT a, max(d) AS depth FROM tree GROUP BY a) AS listed ON tokens.accessor = listed.a " +
            "ORDER BY listed.depth, created_at, accessor LIMIT @limit",
            [("scope", scopeAccessor), ("uid", tenantUid), ("run", runId), ("limit", limit)], StoredRows.Token, cancellationToken);

    public async Task<bool> SetExpiryAsync(string accessor, DateTimeOffset expiresAt, CancellationToken cancellationToken = default) =>
        await db.ExecuteAsync("UPDATE tokens SET expires_at = @expires WHERE accessor = @accessor AND revoked_at IS NULL",
            [("expires", PostgresValues.Ticks(expiresAt)), ("accessor", accessor)], cancellationToken) == 1;

    public async Task<bool> InsertDerivedRevocationAsync(DerivedRevocation r, CancellationToken cancellationToken = default) =>
        await db.ExecuteAsync(
            "INSERT INTO derived_revocations (session_accessor, derived_id, tenant_uid, revoked_at, expires_at) VALUES (@session, @id, @uid, @at, @expires) " +
            "ON CONFLICT (session_accessor, derived_id) DO NOTHING",
            [("session", r.SessionAccessor), ("id", r.DerivedId), ("uid", r.TenantUid), ("at", PostgresValues.Ticks(r.RevokedAt)),
                ("expires", PostgresValues.Ticks(r.ExpiresAt))],
            cancellationToken) == 1;

    public async Task<IReadOnlyList<string>> ListDerivedRevocationsAsync(string sessionAccessor, CancellationToken cancellationToken = default) =>
        await db.ListAsync("SELECT derived_id FROM derived_revocations WHERE session_accessor = @session", [("session", sessionAccessor)],
            reader => reader.GetString(0), cancellationToken);

    public Task<int> SweepDerivedRevocationsAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "DELETE FROM derived_revocations WHERE (session_accessor, derived_id) IN " +
            "(SELECT session_accessor, derived_id FROM derived_revocations WHERE expires_at < @before LIMIT @limit)",
            [("before", PostgresValues.Ticks(before)), ("limit", limit)], cancellationToken);

    public Task<int> SweepExpiredAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "DELETE FROM tokens WHERE accessor IN (SELECT accessor FROM tokens WHERE expires_at < @before AND kind <> 'root' " +
            "AND (retain_until IS NULL OR retain_until < @before) LIMIT @limit)",
            [("before", PostgresValues.Ticks(before)), ("limit", limit)], cancellationToken);

    public async Task<bool> DeleteAsync(string accessor, CancellationToken cancellationToken = default) =>
        await db.ExecuteAsync("DELETE FROM tokens WHERE accessor = @accessor", [("accessor", accessor)], cancellationToken) == 1;

    public Task<int> RevokeRootTokensAsync(DateTimeOffset at, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync("UPDATE tokens SET revoked_at = @at, revoked_reason = 'root_revoked' WHERE kind = 'root' AND revoked_at IS NULL",
            [("at", PostgresValues.Ticks(at))], cancellationToken);
}
