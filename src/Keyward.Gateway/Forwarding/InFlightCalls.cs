using System.Collections.Concurrent;
using Keyward.Core.Errors;
using Keyward.Core.Hosting;
using Keyward.Core.Tokens;
using Keyward.Gateway.Integrations;

namespace Keyward.Gateway.Forwarding;

/// <summary>
/// The gateway calls in progress on this node. A long call (a streamed completion) must not outlive its right to run:
/// every <see cref="RecheckInterval"/> each call's token is authenticated again, and each integration with calls in
/// flight is read again from the store; a call whose token was revoked, expired or cut off by its tenant's lockdown, or
/// whose integration was deleted or changed (its version moved) since the call read it, is cancelled — upstream and
/// towards the agent — at once.
/// </summary>
public sealed class InFlightCalls : IAsyncDisposable
{
    /// <summary>
    /// How often running calls are re-checked. A lockdown on another node is seen within this plus the token cache's 1 s
    /// bound; an integration is read from the store itself (never a cache), so a change on any node is seen within this.
    /// </summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromMilliseconds(250);

    private readonly TokenService _tokens;
    private readonly IntegrationService _integrations;
    private readonly PeriodicLoop _loop = new();
    private readonly ConcurrentDictionary<Call, byte> _calls = new();
    private long _rechecks;

    public InFlightCalls(TokenService tokens, IntegrationService integrations)
    {
        _tokens = tokens;
        _integrations = integrations;
    }

    /// <summary>Calls running now.</summary>
    public int Count => _calls.Count;

    /// <summary>How many re-check passes have completed (tests wait for one to be sure a change was looked at).</summary>
    public long Rechecks => Interlocked.Read(ref _rechecks);

    /// <summary>
    /// Tracks a call made with <paramref name="token"/> through <paramref name="integration"/> as it was read (its
    /// <paramref name="integrationVersion"/>); <see cref="Call.Cancellation"/> fires when it loses its right to run.
    /// Dispose at the end.
    /// </summary>
    public Call Begin(string token, string tenantUid, string integration, long integrationVersion, CancellationToken requestAborted)
    {
        var call = new Call(this, token, (tenantUid, integration), integrationVersion, requestAborted);
        _calls.TryAdd(call, 0);
        _loop.Start(RecheckInterval, TimeProvider.System, RecheckAsync, failed: _ => { });
        return call;
    }

    private async Task RecheckAsync(CancellationToken cancellationToken)
    {
        var calls = _calls.Keys.ToArray();
        foreach (var call in calls)
        {
            try
            {
                await _tokens.AuthenticateAsync(call.Token, cancellationToken);
            }
            catch (KeywardException)
            {
                call.CutOff(KeywardErrors.TokenRevoked(), "token no longer valid");
            }
        }

        // One store read per integration in use, whatever the number of calls through it.
        foreach (var group in calls.GroupBy(c => c.Integration))
        {
            var version = await _integrations.VersionAsync(group.Key.TenantUid, group.Key.Name, cancellationToken);
            foreach (var call in group.Where(c => c.IntegrationVersion != version))
            {
                call.CutOff(KeywardErrors.IntegrationChanged(group.Key.Name), "integration changed or deleted");
            }
        }

        Interlocked.Increment(ref _rechecks);
    }

    public ValueTask DisposeAsync() => _loop.DisposeAsync();

    /// <summary>Why a call lost its right to run: the refusal to record (<c>token_revoked</c>, <c>integration_changed</c>) and a short reason.</summary>
    public sealed record CutOffReason(KeywardException Error, string Why);

    /// <summary>One running call.</summary>
    public sealed class Call : IDisposable
    {
        private readonly InFlightCalls _owner;
        private readonly CancellationTokenSource _source;
        private CutOffReason? _cutOff;

        internal Call(InFlightCalls owner, string token, (string TenantUid, string Name) integration, long integrationVersion, CancellationToken requestAborted)
        {
            _owner = owner;
            Token = token;
            Integration = integration;
            IntegrationVersion = integrationVersion;
            _source = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        }

        internal string Token { get; }

        internal (string TenantUid, string Name) Integration { get; }

        internal long IntegrationVersion { get; }

        /// <summary>Fires when the agent goes away or the call loses its right to run.</summary>
        public CancellationToken Cancellation => _source.Token;

        /// <summary>Why the call was cut off, or null while it may run.</summary>
        public CutOffReason? CutOffBy => Volatile.Read(ref _cutOff);

        internal void CutOff(KeywardException error, string why)
        {
            Interlocked.CompareExchange(ref _cutOff, new CutOffReason(error, why), null);
            try
            {
                _source.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Ended meanwhile.
            }
        }

        public void Dispose()
        {
            _owner._calls.TryRemove(this, out _);
            _source.Dispose();
        }
    }
}
