using System.Collections.Concurrent;
using Keyward.Core.Leases;
using Keyward.Core.Storage;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Agents;

/// <summary>
/// A lease engine that "drops a login" outside Keyward: it records every clean-up call and fails the first
/// <see cref="FailuresPerLease"/> calls for each lease (as a database that is briefly unreachable would).
/// </summary>
public sealed class TestLeaseEngine : ILeaseEngine
{
    public const string EngineName = "test-db";

    private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _cleaned = new();

    public TestLeaseEngine(int failuresPerLease = 0)
    {
        FailuresPerLease = failuresPerLease;
    }

    public string Name => EngineName;

    public int FailuresPerLease { get; }

    /// <summary>Leases cleaned up successfully, in order.</summary>
    public IReadOnlyCollection<string> Cleaned => _cleaned;

    public int CallsFor(string leaseId) => _calls.GetValueOrDefault(leaseId);

    public int TotalCalls => _calls.Values.Sum();

    public Task CleanUpAsync(LeaseRecord lease, CancellationToken cancellationToken)
    {
        var call = _calls.AddOrUpdate(lease.LeaseId, 1, (_, n) => n + 1);
        if (call <= FailuresPerLease)
        {
            throw new TimeoutException("database 10.0.0.7 unreachable (this message must never be recorded)");
        }

        _cleaned.Enqueue(lease.LeaseId);
        return Task.CompletedTask;
    }

    /// <summary>Issues a lease of this engine to the token with <paramref name="ownerAccessor"/>, the way an engine would.</summary>
    public static async Task<LeaseRecord> IssueAsync(KeywardTestHost host, string ownerAccessor, string path, TimeSpan ttl, TimeSpan? maxTtl = null)
    {
        var owner = await ReadTokenAsync(host, ownerAccessor) ?? throw new InvalidOperationException("unknown owner");
        var lease = host.Services.GetRequiredService<LeaseService>()
            .NewLease(owner, EngineName, path, ttl, maxTtl ?? TimeSpan.FromHours(1), "login_" + Guid.NewGuid().ToString("N")[..8]);
        await host.Services.GetRequiredService<GroupCommitter>().ExecuteAsync(null, session => session.Leases.InsertAsync(lease));
        return lease;
    }

    public static async Task<LeaseRecord?> ReadLeaseAsync(KeywardTestHost host, string leaseId)
    {
        await using var session = await host.Store.ReadAsync();
        return await session.Leases.GetAsync(leaseId);
    }

    public static async Task<Core.Tokens.TokenRecord?> ReadTokenAsync(KeywardTestHost host, string accessor)
    {
        await using var session = await host.Store.ReadAsync();
        return await session.Tokens.GetByAccessorAsync(accessor);
    }

    /// <summary>Every event of a tenant, read through the store port.</summary>
    public static async Task<IReadOnlyList<Core.Events.EventRecord>> ReadEventsAsync(KeywardTestHost host, string tenantId)
    {
        await using var session = await host.Store.ReadAsync();
        var tenant = await session.Tenants.GetByIdAsync(tenantId) ?? throw new InvalidOperationException("unknown tenant");
        return await session.Events.ListAsync(tenant.Uid, 0, 100_000);
    }
}
