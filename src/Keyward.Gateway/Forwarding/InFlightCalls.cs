using System.Collections.Concurrent;
using Keyward.Core.Errors;
using Keyward.Core.Hosting;
using Keyward.Core.Tokens;

namespace Keyward.Gateway.Forwarding;

/// <summary>
/// The gateway calls in progress on this node. A long call (a streamed completion) must not outlive its right to run:
/// every <see cref="RecheckInterval"/> each call's token is authenticated again, and a call whose token was revoked,
/// expired or cut off by its tenant's lockdown is cancelled — upstream and towards the agent — at once.
/// </summary>
public sealed class InFlightCalls : IAsyncDisposable
{
    /// <summary>How often running calls are re-checked (a lockdown on another node is seen within this plus the token cache's 1 s bound).</summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromMilliseconds(250);

    private readonly TokenService _tokens;
    private readonly PeriodicLoop _loop = new();
    private readonly ConcurrentDictionary<Call, byte> _calls = new();

    public InFlightCalls(TokenService tokens) => _tokens = tokens;

    /// <summary>Calls running now.</summary>
    public int Count => _calls.Count;

    /// <summary>Tracks a call made with <paramref name="token"/>; <see cref="Call.Cancellation"/> fires when it loses its right to run. Dispose at the end.</summary>
    public Call Begin(string token, CancellationToken requestAborted)
    {
        var call = new Call(this, token, requestAborted);
        _calls.TryAdd(call, 0);
        _loop.Start(RecheckInterval, TimeProvider.System, RecheckAsync, failed: _ => { });
        return call;
    }

    private async Task RecheckAsync(CancellationToken cancellationToken)
    {
        foreach (var call in _calls.Keys)
        {
            try
            {
                await _tokens.AuthenticateAsync(call.Token, cancellationToken);
            }
            catch (KeywardException)
            {
                call.Revoke();
            }
        }
    }

    public ValueTask DisposeAsync() => _loop.DisposeAsync();

    /// <summary>One running call.</summary>
    public sealed class Call : IDisposable
    {
        private readonly InFlightCalls _owner;
        private readonly CancellationTokenSource _source;

        internal Call(InFlightCalls owner, string token, CancellationToken requestAborted)
        {
            _owner = owner;
            Token = token;
            _source = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        }

        internal string Token { get; }

        /// <summary>Fires when the agent goes away or the call loses its right to run.</summary>
        public CancellationToken Cancellation => _source.Token;

        /// <summary>Whether the call was cut off because its token no longer authenticates.</summary>
        public bool Revoked { get; private set; }

        internal void Revoke()
        {
            Revoked = true;
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
