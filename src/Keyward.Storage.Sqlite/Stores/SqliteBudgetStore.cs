using Keyward.Core.Budgets;

namespace Keyward.Storage.Sqlite.Stores;

/// <summary>
/// Budgets on SQLite: the group commit's transaction holds the database's only write lock, so a read of the counters
/// and their update inside it cannot be interleaved with another count.
/// </summary>
internal sealed class SqliteBudgetStore(SqliteConnectionLease db) : IBudgetStore
{
    public Task GrantAsync(string tenantUid, string integration, string runId, string holder, long limit, CancellationToken cancellationToken = default)
    {
        db.Execute(
            "INSERT INTO gateway_budgets (tenant_uid, integration, run_id, holder, lim, used) VALUES ($uid, $integration, $run, $holder, $limit, 0) ON CONFLICT DO NOTHING",
            ("$uid", tenantUid), ("$integration", integration), ("$run", runId), ("$holder", holder), ("$limit", limit));
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<BudgetCounter>> GetAsync(string tenantUid, string integration, string runId, IReadOnlyList<string> holders, CancellationToken cancellationToken = default)
    {
        var (list, parameters) = Holders(tenantUid, integration, runId, holders);
        using var reader = db.Query($"SELECT holder, lim, used FROM gateway_budgets WHERE tenant_uid = $uid AND integration = $integration AND run_id = $run AND holder IN ({list})", parameters);
        var counters = new List<BudgetCounter>();
        while (reader.Read())
        {
            counters.Add(new BudgetCounter(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetInt64(1), reader.GetInt64(2)));
        }

        return Task.FromResult<IReadOnlyList<BudgetCounter>>(counters);
    }

    public Task<IReadOnlyList<BudgetCounter>> LockAsync(string tenantUid, string integration, string runId, IReadOnlyList<string> holders, CancellationToken cancellationToken = default)
    {
        db.Execute(
            "INSERT INTO gateway_budgets (tenant_uid, integration, run_id, holder, lim, used) VALUES ($uid, $integration, $run, '', NULL, 0) ON CONFLICT DO NOTHING",
            ("$uid", tenantUid), ("$integration", integration), ("$run", runId));
        return GetAsync(tenantUid, integration, runId, holders, cancellationToken);
    }

    public Task CountAsync(string tenantUid, string integration, string runId, IReadOnlyList<string> holders, CancellationToken cancellationToken = default)
    {
        var (list, parameters) = Holders(tenantUid, integration, runId, holders);
        db.Execute($"UPDATE gateway_budgets SET used = used + 1 WHERE tenant_uid = $uid AND integration = $integration AND run_id = $run AND holder IN ({list})", parameters);
        return Task.CompletedTask;
    }

    private static (string List, (string, object?)[] Parameters) Holders(string tenantUid, string integration, string runId, IReadOnlyList<string> holders)
    {
        var parameters = new List<(string, object?)> { ("$uid", tenantUid), ("$integration", integration), ("$run", runId) };
        var names = new string[Math.Max(1, holders.Count)];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = "$h" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            parameters.Add((names[i], i < holders.Count ? holders[i] : null));
        }

        return (string.Join(", ", names), [.. parameters]);
    }
}
