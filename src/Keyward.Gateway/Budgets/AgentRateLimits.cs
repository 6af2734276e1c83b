using System.Collections.Concurrent;
using Keyward.Core.Errors;

namespace Keyward.Gateway.Budgets;

/// <summary>
/// <c>limits.per_agent_rps</c>: a token bucket per integration and token (an agent session, or any other caller), holding
/// one second's worth of requests, refilled continuously. Per node, in memory; idle buckets are dropped.
/// </summary>
public sealed class AgentRateLimits
{
    private const int MaxBuckets = 100_000;

    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(string Tenant, string Integration, string Accessor), Bucket> _buckets = new();

    public AgentRateLimits(TimeProvider time) => _time = time;

    /// <summary>Takes one request from the caller's bucket, or throws 429 <c>gateway_rate_limited</c>.</summary>
    public void Take(string tenantUid, string integration, string accessor, int perSecond)
    {
        if (_buckets.Count >= MaxBuckets)
        {
            Prune();
        }

        var now = _time.GetTimestamp();
        var bucket = _buckets.GetOrAdd((tenantUid, integration, accessor), _ => new Bucket(perSecond, now));
        lock (bucket)
        {
            var elapsed = _time.GetElapsedTime(bucket.Stamp, now).TotalSeconds;
            bucket.Stamp = now;
            bucket.Tokens = Math.Min(perSecond, bucket.Tokens + (elapsed * perSecond));
            if (bucket.Tokens < 1)
            {
                throw KeywardErrors.GatewayRateLimited(integration, perSecond);
            }

            bucket.Tokens -= 1;
        }
    }

    /// <summary>Drops buckets full again (idle for a second or more): they hold nothing worth keeping.</summary>
    private void Prune()
    {
        var now = _time.GetTimestamp();
        foreach (var (key, bucket) in _buckets)
        {
            if (_time.GetElapsedTime(bucket.Stamp, now) > TimeSpan.FromSeconds(1))
            {
                _buckets.TryRemove(key, out _);
            }
        }
    }

    private sealed class Bucket(double tokens, long stamp)
    {
        public double Tokens { get; set; } = tokens;

        public long Stamp { get; set; } = stamp;
    }
}
