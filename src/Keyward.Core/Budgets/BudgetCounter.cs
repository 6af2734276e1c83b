namespace Keyward.Core.Budgets;

/// <summary>
/// One gateway request counter of a run for an integration: the run's own (<see cref="RunHolder"/>, no stored limit:
/// the integration's <c>run_budget</c> applies as it is now) or a slice handed to an agent (held by its bootstrap
/// token's accessor, with its <see cref="Limit"/>).
/// </summary>
public sealed record BudgetCounter(string Holder, long? Limit, long Used)
{
    /// <summary>The holder of the run's own counter.</summary>
    public const string RunHolder = "";
}

/// <summary>
/// Storage port for the gateway's request budgets. Counting happens in the transaction that makes the call's
/// <c>gateway.request</c> audit record durable, so a counted request and its record commit together, and every node
/// sharing the store counts against the same rows.
/// </summary>
public interface IBudgetStore
{
    /// <summary>Records a slice for <paramref name="holder"/> (a new agent's bootstrap token); an existing one is kept as it is.</summary>
    Task GrantAsync(string tenantUid, string integration, string runId, string holder, long limit, CancellationToken cancellationToken = default);

    /// <summary>The counters among <paramref name="holders"/> that exist (<see cref="BudgetCounter.RunHolder"/> included if asked for).</summary>
    Task<IReadOnlyList<BudgetCounter>> GetAsync(string tenantUid, string integration, string runId, IReadOnlyList<string> holders, CancellationToken cancellationToken = default);

    /// <summary>
    /// In a write transaction: creates the run's counter if it does not exist, then returns the counters among
    /// <paramref name="holders"/> locked until the transaction ends (another node's count waits, then sees this one's).
    /// </summary>
    Task<IReadOnlyList<BudgetCounter>> LockAsync(string tenantUid, string integration, string runId, IReadOnlyList<string> holders, CancellationToken cancellationToken = default);

    /// <summary>In the same transaction as <see cref="LockAsync"/>: adds one to each of these counters.</summary>
    Task CountAsync(string tenantUid, string integration, string runId, IReadOnlyList<string> holders, CancellationToken cancellationToken = default);
}
