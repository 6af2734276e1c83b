using System.Collections.Concurrent;
using Keyward.Core.Errors;
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
/// run's budget — so no agent can escape its own slice by spawning. A request is counted only if every level has room,
/// atomically (one lock per run and integration), so the limits hold under concurrent requests.
/// </summary>
/// <remarks>
/// Counters live in this node's memory (like the per-agent rate limits): behind a load balancer each node counts its
/// own requests, and a restart starts the counts again. The slices themselves are granted per bootstrap token (the
/// session an exchange makes carries the bootstrap's accessor as its issuer).
/// </remarks>
public sealed class RunBudgets
{
    /// <summary>Cached ancestor chains kept at most (each session's chain never changes).</summary>
    private const int MaxCachedChains = 100_000;

    /// <summary>Slices one grant may hand out (one per integration).</summary>
    public const int MaxSlicesPerGrant = 32;

    private readonly IKeywardStore _store;
    private readonly IntegrationService _integrations;
    private readonly ConcurrentDictionary<(string Tenant, string Integration, string Run), RunCounter> _runs = new();
    private readonly ConcurrentDictionary<string, string[]> _chains = new(StringComparer.Ordinal);

    public RunBudgets(IKeywardStore store, IntegrationService integrations)
    {
        _store = store;
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

        var chain = await ChainAsync(caller.Token, cancellationToken);
        var counter = _runs.GetOrAdd((tenant.Uid, integration, run), _ => new RunCounter());
        lock (counter)
        {
            return counter.Remaining(chain, runBudget);
        }
    }

    /// <summary>Records the slices a new agent (its bootstrap token <paramref name="holder"/>) may spend.</summary>
    public void Grant(string tenantUid, string runId, string holder, IReadOnlyDictionary<string, long> slices)
    {
        foreach (var (integration, slice) in slices)
        {
            var counter = _runs.GetOrAdd((tenantUid, integration, runId), _ => new RunCounter());
            lock (counter)
            {
                counter.Slices[holder] = new Slice(slice);
            }
        }
    }

    /// <summary>Counts one request, or throws 429 <c>run_budget_exhausted</c> when the run or any slice on the chain is used up.</summary>
    public async Task ConsumeAsync(Principal caller, string integration, long? runBudget, CancellationToken cancellationToken)
    {
        if (caller.Token.RunId is not { } run || caller.Tenant is not { } tenant)
        {
            // Admin and orchestrator tokens belong to no run: only the per-agent rate limit applies to them.
            return;
        }

        var chain = await ChainAsync(caller.Token, cancellationToken);
        var counter = _runs.GetOrAdd((tenant.Uid, integration, run), _ => new RunCounter());
        lock (counter)
        {
            if (counter.Remaining(chain, runBudget) is <= 0)
            {
                throw KeywardErrors.RunBudgetExhausted(integration);
            }

            counter.Used++;
            foreach (var holder in chain)
            {
                if (counter.Slices.TryGetValue(holder, out var slice))
                {
                    slice.Used++;
                }
            }
        }
    }

    /// <summary>The slice holders from the caller up to the run's first agent: each session's issuing bootstrap token.</summary>
    private async Task<string[]> ChainAsync(TokenRecord token, CancellationToken cancellationToken)
    {
        if (_chains.TryGetValue(token.Accessor, out var cached))
        {
            return cached;
        }

        var chain = new List<string>();
        var current = token;
        await using (var session = await _store.ReadAsync(cancellationToken))
        {
            for (var depth = 0; current is { Kind: TokenKind.Agent } && current.RunId == token.RunId && depth < 64; depth++)
            {
                if (current.IssuedBy is { } issuer)
                {
                    chain.Add(issuer);
                }

                current = current.ParentAccessor is { } parent ? await session.Tokens.GetByAccessorAsync(parent, cancellationToken) : null;
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

    private sealed class Slice(long limit)
    {
        public long Limit { get; } = limit;

        public long Used { get; set; }
    }

    private sealed class RunCounter
    {
        public long Used { get; set; }

        public Dictionary<string, Slice> Slices { get; } = new(StringComparer.Ordinal);

        public long? Remaining(string[] chain, long? runBudget)
        {
            long? remaining = runBudget is { } budget ? budget - Used : null;
            foreach (var holder in chain)
            {
                if (Slices.TryGetValue(holder, out var slice))
                {
                    var left = slice.Limit - slice.Used;
                    remaining = remaining is { } r ? Math.Min(r, left) : left;
                }
            }

            return remaining is { } value ? Math.Max(0, value) : null;
        }
    }
}
