using Keyward.Core.Budgets;

namespace Keyward.Storage.Postgres.Stores;

/// <summary>
/// Budgets on PostgreSQL, shared by every node: <see cref="LockAsync"/> locks the counters (<c>FOR UPDATE</c>, in holder
/// order) for the rest of the transaction, so a count on another node waits and then sees this one's.
/// </summary>
internal sealed class PostgresBudgetStore(PostgresDb db) : IBudgetStore
{
    public Task GrantAsync(string tenantUid, string integration, string runId, string holder, long limit, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "INSERT INTO gateway_budgets (tenant_uid, integration, run_id, holder, lim, used) VALUES (@uid, @integration, @run, @holder, @limit, 0) ON CONFLICT DO NOTHING",
            [("uid", tenantUid), ("integration", integration), ("run", runId), ("holder", holder), ("limit", limit)], cancellationToken);

    public async Task<IReadOnlyList<BudgetCounter>> GetAsync(string tenantUid, string integration, string runId, IReadOnlyList<string> holders, CancellationToken cancellationToken = default) =>
        await db.ListAsync(
            "SELECT holder, lim, used FROM gateway_budgets WHERE tenant_uid = @uid AND integration = @integration AND run_id = @run AND holder = ANY(@holders)",
            [("uid", tenantUid), ("integration", integration), ("run", runId), ("holders", holders.ToArray())], Counter, cancellationToken);

    public async Task<IReadOnlyList<BudgetCounter>> LockAsync(string tenantUid, string integration, string runId, IReadOnlyList<string> holders, CancellationToken cancellationToken = default)
    {
        await db.ExecuteAsync(
            "INSERT INTO gateway_budgets (tenant_uid, integration, run_id, holder, lim, used) VALUES (@uid, @integration, @run, '', NULL, 0) ON CONFLICT DO NOTHING",
            [("uid", tenantUid), ("integration", integration), ("run", runId)], cancellationToken);
        return await db.ListAsync(
            "SELECT holder, lim, used FROM gateway_budgets WHERE tenant_uid = @uid AND integration = @integration AND run_id = @run AND holder = ANY(@holders) ORDER BY holder FOR UPDATE",
            [("uid", tenantUid), ("integration", integration), ("run", runId), ("holders", holders.ToArray())], Counter, cancellationToken);
    }

    public Task CountAsync(string tenantUid, string integration, string runId, IReadOnlyList<string> holders, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "UPDATE gateway_budgets SET used = used + 1 WHERE tenant_uid = @uid AND integration = @integration AND run_id = @run AND holder = ANY(@holders)",
            [("uid", tenantUid), ("integration", integration), ("run", runId), ("holders", holders.ToArray())], cancellationToken);

    private static BudgetCounter Counter(Npgsql.NpgsqlDataReader reader) =>
        new(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetInt64(1), reader.GetInt64(2));
}
