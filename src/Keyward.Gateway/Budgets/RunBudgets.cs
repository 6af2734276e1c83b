using System.Collections.Concurrent;
using Keyward.Core.Agents;
using Keyward.Core.Audit;
using Keyward.Core.Budgets;
using Keyward.Core.Errors;
using Keyward.Core.Policies;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;
using Keyward.Core.Validation;
using Keyward.Gateway.Integrations;

namespace Keyward.Gateway.Budgets;

/// <summary>
/// Request budgets per run, split along the agent tree. An integration's <c>run_budget</c> caps the requests of one run
/// (all its agents together). An agent that spawns a child may hand it a slice (<c>budgets: {integration: n}</c> in
/// <c>POST /v1/agents/spawn</c>, or in <c>POST /v1/agents/bootstrap</c> from the orchestrator): the child can never
/// make more than <c>n</c> requests, and every request it makes also counts against each ancestor's slice and the
/// run's budget — so no agent can escape its own slice by spawning.
/// </summary>
/// <remarks>
/// The counters are rows of the store (<see cref="IBudgetStore"/>), counted in the transaction that makes the call's
/// <c>gateway.request</c> record durable (no extra commit): locked there, they hold across concurrent requests and
/// across every node sharing the store, and survive restarts. Slices are held by bootstrap tokens (the session an
/// exchange makes carries its bootstrap's accessor as its issuer).
/// </remarks>
public sealed class RunBudgets
{
    /// <summary>Slices one grant may hand out (one per integration).</summary>
    public const int MaxSlicesPerGrant = 32;

    /// <summary>Cached ancestor chains kept at most (each session's chain never changes).</summary>
    private const int MaxCachedChains = 100_000;

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly IntegrationService _integrations;
    private readonly ConcurrentDictionary<string, string[]> _chains = new(StringComparer.Ordinal);

    public RunBudgets(IKeywardStore store, GroupCommitter committer, IntegrationService integrations)
    {
        _store = store;
        _committer = committer;
        _integrations = integrations;
    }

    /// <summary>
    /// Checks the slices a caller wants to hand a new agent: each names an integration of the tenant and is at most what
    /// the caller itself has left there (400 <c>budget_exceeds_remaining</c> otherwise).
    /// </summary>
    public async Task ValidateSlicesAsync(Principal caller, IReadOnlyDictionary<string, long> slices, CancellationToken cancellationToken)
    {
        var tenant = caller.RequireTenant();
        if (slices.Count > MaxSlicesPerGrant)
        {
            throw KeywardErrors.InvalidField("budgets", $"at most {MaxSlicesPerGrant} integrations");
        }

        foreach (var (name, slice) in slices)
        {
            Names.RequireName("Integration name", name);
            if (slice < 0)
            {
                throw KeywardErrors.InvalidField("budgets", "a number of requests, 0 or more");
            }

            var integration = await _integrations.ResolveAsync(tenant.Uid, name, cancellationToken);
            if (caller.Kind is TokenKind.Agent or TokenKind.Derived && !caller.Can(integration.SecretPath, Capability.Use))
            {
                // An agent may not learn that an integration it cannot use exists (its children cannot use it either).
                throw KeywardErrors.IntegrationNotUsable(name);
            }

            if (await RemainingAsync(caller, name, integration.Limits.RunBudget, cancellationToken) is { } remaining && slice > remaining)
            {
                throw KeywardErrors.BudgetExceedsRemaining(name, remaining);
            }
        }
    }

    /// <summary>
    /// What <paramref name="caller"/> may still spend on <paramref name="integration"/>: the least room left on its run
    /// and on every slice along its chain; null when nothing limits it.
    /// </summary>
    public async Task<long?> RemainingAsync(Principal caller, string integration, long? runBudget, CancellationToken cancellationToken)
    {
        if (caller.Token.RunId is not { } run || caller.Tenant is not { } tenant)
        {
            return runBudget;
        }

        var holders = await HoldersAsync(caller.Token, cancellationToken);
        await using var session = await _store.ReadAsync(cancellationToken);
        return Remaining(await session.Budgets.GetAsync(tenant.Uid, integration, run, holders, cancellationToken), runBudget);
    }

    /// <summary>After the grant is durable: the slices a new agent (its bootstrap token <paramref name="holder"/>) may spend.</summary>
    public Task GrantAsync(string tenantUid, string runId, string holder, IReadOnlyDictionary<string, long> slices) =>
        _committer.ExecuteAsync(null, async session =>
        {
            foreach (var (integration, slice) in slices)
            {
                await session.Budgets.GrantAsync(tenantUid, integration, runId, holder, slice);
            }
        });

    /// <summary>
    /// Makes the call's <c>gateway.request</c> record durable, and — for a token of a run — counts the request against the
    /// run and every slice on the caller's chain in the same transaction, or refuses it with 429 <c>run_budget_exhausted</c>
    /// (the refusal is the record) when any of them is used up. <paramref name="counted"/> (the use of a <c>max_uses</c>
    /// secret) runs in that transaction once the budget allowed the call: a refused call counts nothing.
    /// </summary>
    public async Task CommitRequestAsync(
        Principal caller, string integration, long? runBudget, AuditDraft audit, CancellationToken cancellationToken, Func<IWriteSession, Task>? counted = null)
    {
        if (caller.Token.RunId is not { } run || caller.Tenant is not { } tenant)
        {
            // Admin and orchestrator tokens belong to no run: only the per-agent rate limit applies to them.
            if (counted is null)
            {
                await _committer.AuditAsync(audit);
            }
            else
            {
                await _committer.ExecuteAsync(audit, counted);
            }

            return;
        }

        var holders = await HoldersAsync(caller.Token, cancellationToken);
        await _committer.ExecuteAsync(audit, async session =>
        {
            var counters = await session.Budgets.LockAsync(tenant.Uid, integration, run, holders);
            if (Remaining(counters, runBudget) is <= 0)
            {
                throw KeywardErrors.RunBudgetExhausted(integration);
            }

            await session.Budgets.CountAsync(tenant.Uid, integration, run, holders);
            if (counted is not null)
            {
                await counted(session);
            }
        });
    }

    private static long? Remaining(IReadOnlyList<BudgetCounter> counters, long? runBudget)
    {
        long? remaining = null;
        foreach (var counter in counters)
        {
            var limit = counter.Holder == BudgetCounter.RunHolder ? runBudget : counter.Limit;
            if (limit is { } l)
            {
                remaining = Math.Min(remaining ?? long.MaxValue, l - counter.Used);
            }
        }

        if (remaining is null && runBudget is { } budget)
        {
            remaining = budget;
        }

        return remaining is { } value ? Math.Max(0, value) : null;
    }

    /// <summary>The run's counter and the slice holders from the caller up to the run's first agent: each session's issuing bootstrap token.</summary>
    private async Task<string[]> HoldersAsync(TokenRecord token, CancellationToken cancellationToken)
    {
        if (_chains.TryGetValue(token.Accessor, out var cached))
        {
            return cached;
        }

        var chain = new List<string> { BudgetCounter.RunHolder };
        await using (var session = await _store.ReadAsync(cancellationToken))
        {
            await foreach (var current in TokenTree.LineageAsync(session, token, cancellationToken))
            {
                if (current is not { Kind: TokenKind.Agent } || current.RunId != token.RunId)
                {
                    break;
                }

                if (current.IssuedBy is { } issuer)
                {
                    chain.Add(issuer);
                }
            }
        }

        if (_chains.Count >= MaxCachedChains)
        {
            _chains.Clear();
        }

        var result = chain.ToArray();
        _chains[token.Accessor] = result;
        return result;
    }
}
