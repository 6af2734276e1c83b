using System.Diagnostics;
using Keyward.Client.Internal;
using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>
/// An agent's own session: exchanges a bootstrap token for a session token, keeps it alive in the background
/// (renewal at about two thirds of the remaining lifetime, until the server stops extending it), spawns children,
/// and revokes itself when disposed ("task done").
/// <code>
/// await using var session = await AgentSession.FromEnvironmentAsync();
/// var db = await session.Client.GetSecretAsync("app/db");
/// </code>
/// The session token is held only inside; it never appears in <see cref="ToString"/>, an exception or an event.
/// Renewal failures are never thrown: they are raised as <see cref="RenewalFailed"/> and kept in
/// <see cref="LastRenewalError"/>.
/// </summary>
public sealed class AgentSession : IAsyncDisposable
{
    /// <summary>The environment variable <see cref="FromEnvironmentAsync"/> takes the bootstrap token from (and removes).</summary>
    public const string BootstrapTokenVariable = "KEYWARD_BOOTSTRAP_TOKEN";

    /// <summary>The environment variable <see cref="FromEnvironmentAsync"/> takes the server address from.</summary>
    public const string AddressVariable = "KEYWARD_ADDR";

    // Renew when a third of the remaining lifetime is left: room for a couple of retries before expiry.
    private const double RenewAtFraction = 2.0 / 3.0;

    // A renewal that gains less than this means the server has stopped extending (max_ttl or the parent's expiry).
    private static readonly TimeSpan MinimumGain = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan MinimumRetryDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaximumRetryDelay = TimeSpan.FromSeconds(30);

    private readonly KeywardClient _client;
    private readonly SecretCache _secrets;
    private readonly AgentSessionOptions _options;
    private readonly SecretScrubber _scrubber;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();

    // The session token itself: sent only by _client, and kept for deriving offline children (see Derive below).
    [DebuggerBrowsable(DebuggerBrowsableState.Never)]
    private readonly string _token;

    private ITimer? _timer;
    private Task _renewal = Task.CompletedTask;
    private DateTimeOffset _expiresAt;
    private bool _renewable;
    private AgentSessionRenewalState _renewalState;
    private Exception? _lastRenewalError;
    private int _revoked;
    private int _disposed;

    private AgentSession(KeywardClient client, AgentSessionToken session, AgentSessionOptions options, SecretScrubber scrubber)
    {
        _client = client;
        _options = options;
        _scrubber = scrubber;
        _time = options.TimeProvider ?? TimeProvider.System;
        _token = session.Token;
        _scrubber.Register(_token);
        Accessor = session.Accessor;
        Tenant = session.Tenant;
        AgentId = session.AgentId;
        RunId = session.RunId;
        Role = session.Role;
        _expiresAt = session.ExpiresAt;
        _renewable = session.Renewable;
        _secrets = new SecretCache(SecretCacheBackend.For(client), Accessor, options, scrubber);
    }

    /// <summary>Raised after each successful background renewal (on a thread-pool thread).</summary>
    public event EventHandler<AgentSessionRenewedEventArgs>? Renewed;

    /// <summary>Raised when a background renewal fails (on a thread-pool thread). Handlers' exceptions are swallowed.</summary>
    public event EventHandler<AgentSessionRenewalFailedEventArgs>? RenewalFailed;

    /// <summary>A client that sends this session's token. Disposed with the session.</summary>
    public KeywardClient Client => _client;

    /// <summary>
    /// This session's secret cache: reads of current versions, kept current by the server's event stream (opened on first
    /// use). See <see cref="SecretCache"/> and <see cref="PrefetchAsync"/>.
    /// </summary>
    public SecretCache Secrets => _secrets;

    /// <summary>The session token's accessor (safe to log; it cannot authenticate).</summary>
    public string Accessor { get; }

    public string Tenant { get; }

    public string AgentId { get; }

    public string RunId { get; }

    public string Role { get; }

    /// <summary>When the session expires, as of the last exchange or renewal.</summary>
    public DateTimeOffset ExpiresAt
    {
        get
        {
            lock (_gate)
            {
                return _expiresAt;
            }
        }
    }

    /// <summary>Whether the server last said the session can be renewed.</summary>
    public bool Renewable
    {
        get
        {
            lock (_gate)
            {
                return _renewable;
            }
        }
    }

    /// <summary>Where background renewal stands.</summary>
    public AgentSessionRenewalState RenewalState
    {
        get
        {
            lock (_gate)
            {
                return _renewalState;
            }
        }
    }

    /// <summary>The last background renewal failure, or null (cleared by a successful renewal).</summary>
    public Exception? LastRenewalError
    {
        get
        {
            lock (_gate)
            {
                return _lastRenewalError;
            }
        }
    }

    /// <summary>
    /// Exchanges <paramref name="bootstrapToken"/> at the server <paramref name="clientOptions"/> describes (its
    /// <see cref="KeywardClientOptions.Token"/> is ignored) and starts background renewal.
    /// </summary>
    /// <exception cref="KeywardRequestFailedException">
    /// The exchange was refused: 409 <c>bootstrap_replayed</c> for a bootstrap token already used, 401 for an
    /// unknown or expired one.
    /// </exception>
    public static async Task<AgentSession> ExchangeAsync(
        KeywardClientOptions clientOptions, string bootstrapToken, AgentSessionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(clientOptions);
        ArgumentException.ThrowIfNullOrEmpty(bootstrapToken);
        options ??= new AgentSessionOptions();
        var scrubber = options.Scrubber ?? clientOptions.Scrubber ?? SecretScrubber.Shared;
        scrubber.Register(bootstrapToken);
        AgentSessionToken session;
        using (var anonymous = new KeywardClient(WithToken(clientOptions, clientOptions.Address, token: null, scrubber)))
        {
            session = await anonymous.ExchangeBootstrapTokenAsync(bootstrapToken, cancellationToken).ConfigureAwait(false);
        }

        var result = new AgentSession(new KeywardClient(WithToken(clientOptions, clientOptions.Address, session.Token, scrubber)), session, options, scrubber);
        result.Start();
        return result;
    }

    /// <summary>Exchanges <paramref name="bootstrapToken"/> at <paramref name="address"/>; see the other overload.</summary>
    public static Task<AgentSession> ExchangeAsync(
        Uri address, string bootstrapToken, AgentSessionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        return ExchangeAsync(new KeywardClientOptions { Address = address }, bootstrapToken, options, cancellationToken);
    }

    /// <summary>
    /// Reads the bootstrap token from <c>KEYWARD_BOOTSTRAP_TOKEN</c> and removes the variable at once (before
    /// anything else, even if the exchange then fails), so child processes never inherit it; then exchanges it at
    /// the address in <paramref name="clientOptions"/> or else <c>KEYWARD_ADDR</c>.
    /// </summary>
    /// <remarks>
    /// The variable is removed from this process's .NET environment, which is what <see cref="System.Diagnostics.Process"/>
    /// hands to children. Call this early, before starting other threads or native code that reads the environment.
    /// </remarks>
    /// <exception cref="InvalidOperationException"><c>KEYWARD_BOOTSTRAP_TOKEN</c>, or the address, is not set.</exception>
    public static Task<AgentSession> FromEnvironmentAsync(
        KeywardClientOptions? clientOptions = null, AgentSessionOptions? options = null, CancellationToken cancellationToken = default)
    {
        var bootstrapToken = Environment.GetEnvironmentVariable(BootstrapTokenVariable);
        Environment.SetEnvironmentVariable(BootstrapTokenVariable, null);
        if (string.IsNullOrWhiteSpace(bootstrapToken))
        {
            throw new InvalidOperationException($"{BootstrapTokenVariable} is not set: the orchestrator passes the agent's bootstrap token in it.");
        }

        var address = clientOptions?.Address;
        if (address is null)
        {
            var text = Environment.GetEnvironmentVariable(AddressVariable);
            if (string.IsNullOrWhiteSpace(text))
            {
                throw new InvalidOperationException($"{AddressVariable} is not set: give the server address in it or in the client options.");
            }

            if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out address))
            {
                throw new InvalidOperationException($"{AddressVariable} is not an absolute URL such as https://keyward.example:8210.");
            }
        }

        return ExchangeAsync(WithToken(clientOptions ?? new KeywardClientOptions(), address, token: null, clientOptions?.Scrubber), bootstrapToken.Trim(), options, cancellationToken);
    }

    /// <summary>
    /// The synchronous <see cref="FromEnvironmentAsync"/>, for start-up code that cannot await. Blocks until the
    /// exchange completes.
    /// </summary>
    public static AgentSession FromEnvironment(KeywardClientOptions? clientOptions = null, AgentSessionOptions? options = null)
    {
        // The variable is read and removed synchronously, on this thread, before anything else runs. Every await
        // inside uses ConfigureAwait(false), so blocking cannot deadlock a single-threaded synchronization context.
        return FromEnvironmentAsync(clientOptions, options).GetAwaiter().GetResult();
    }

    /// <summary>
    /// Warms <see cref="Secrets"/> with every secret this session's rules (<c>GET /v1/auth/self</c>) let it read; see
    /// <see cref="SecretCache.PrefetchAsync"/>. Subscribes to the event stream first. Returns how many were loaded.
    /// </summary>
    public Task<int> PrefetchAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _secrets.PrefetchAsync(cancellationToken);
    }

    /// <summary>This session's identity as an <see cref="AgentContext"/> (push it with <see cref="AgentContext.Push"/>).</summary>
    public AgentContext CreateContext() => new(Tenant, AgentId, RunId, Role);

    /// <summary>
    /// Mints a bootstrap token for a child agent (<c>POST /v1/agents/spawn</c>) in this session's run. Hand it to the
    /// child through <c>KEYWARD_BOOTSTRAP_TOKEN</c>. A role outside this role's <c>may_spawn</c> or rules beyond this
    /// session's fail with a 403 <see cref="KeywardRequestFailedException"/>.
    /// </summary>
    public Task<IssuedBootstrapToken> SpawnAsync(
        string agentId,
        TimeSpan ttl,
        string? role = null,
        IEnumerable<RoleRule>? rules = null,
        TimeSpan? bootstrapTtl = null,
        CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _client.SpawnAgentAsync(agentId, ttl, role, rules, runId: null, bootstrapTtl, cancellationToken);
    }

    /// <summary>
    /// Derives a narrower <c>kwd_</c> token for a sub-task, offline (no round trip): this session's token with
    /// <paramref name="caveats"/> appended to its HMAC chain. An expiry is mandatory — <paramref name="lifetime"/> adds
    /// one — and further caveats (path glob, capabilities, tool, sub-agent id) only narrow. Derived tokens die with
    /// this session. See docs/designs/0004-derived-tokens.md.
    /// </summary>
    public KeywardToken Derive(TimeSpan lifetime, params TokenCaveat[] caveats)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lifetime, TimeSpan.Zero);
        ArgumentNullException.ThrowIfNull(caveats);
        var derived = KeywardToken.Parse(_token).Attenuate([TokenCaveat.ExpiresAt(_time.GetUtcNow() + lifetime), .. caveats]);
        _scrubber.Register(derived.Value);
        return derived;
    }

    /// <summary>
    /// Revokes this session (<c>POST /v1/auth/revoke-self</c>: its subtree and leases too) and stops renewal. Throws
    /// if the server refuses; <see cref="DisposeAsync"/> does the same best effort and never throws.
    /// </summary>
    public async Task RevokeAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await StopRenewalAsync().ConfigureAwait(false);
        await _client.RevokeSelfAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Exchange(ref _revoked, 1);
        _secrets.Refuse(SecretInvalidationReason.Revoked);
    }

    /// <summary>
    /// Stops renewal and revokes the session (best effort, bounded by
    /// <see cref="AgentSessionOptions.RevokeOnDisposeTimeout"/>; failures are swallowed), then disposes
    /// <see cref="Client"/>.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await _secrets.DisposeAsync().ConfigureAwait(false);
            await StopRenewalAsync().ConfigureAwait(false);
            if (_options.RevokeOnDispose && Volatile.Read(ref _revoked) == 0)
            {
                using var bounded = new CancellationTokenSource(_options.RevokeOnDisposeTimeout);
                try
                {
                    await _client.RevokeSelfAsync(bounded.Token).ConfigureAwait(false);
                    Interlocked.Exchange(ref _revoked, 1);
                }
                catch (Exception error) when (error is KeywardRequestFailedException or OperationCanceledException or HttpRequestException or ObjectDisposedException)
                {
                    // Best effort: an expired or already revoked session needs nothing, and the server expires it anyway.
                }
            }
        }
        finally
        {
            _client.Dispose();
            _stopping.Dispose();
        }
    }

    /// <summary>Describes the session without the token.</summary>
    public override string ToString() =>
        FormattableString.Invariant(
            $"AgentSession {{ Accessor = {Accessor}, Tenant = {Tenant}, AgentId = {AgentId}, RunId = {RunId}, Role = {Role}, ExpiresAt = {ExpiresAt:O}, Renewal = {RenewalState} }}");

    private static KeywardClientOptions WithToken(KeywardClientOptions options, Uri? address, string? token, SecretScrubber? scrubber) => new()
    {
        Address = address,
        Token = token,
        Timeout = options.Timeout,
        Handler = options.Handler,
        HttpClient = options.HttpClient,
        Scrubber = scrubber,
    };

    private void Start()
    {
        lock (_gate)
        {
            if (!_options.AutoRenew)
            {
                _renewalState = AgentSessionRenewalState.Disabled;
                return;
            }

            if (!_renewable)
            {
                _renewalState = AgentSessionRenewalState.NotRenewable;
                return;
            }

            _renewalState = AgentSessionRenewalState.Active;
            _timer = _time.CreateTimer(static state => ((AgentSession)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            ScheduleLocked(RenewalDelayLocked());
        }
    }

    private async Task StopRenewalAsync()
    {
        ITimer? timer;
        Task renewal;
        lock (_gate)
        {
            timer = _timer;
            _timer = null;
            renewal = _renewal;
            _renewalState = AgentSessionRenewalState.Stopped;
        }

        timer?.Dispose();
        if (!_stopping.IsCancellationRequested)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
        }

        try
        {
            await renewal.ConfigureAwait(false);
        }
        catch (Exception error) when (error is OperationCanceledException or KeywardRequestFailedException)
        {
            // RenewOnceAsync handles its own failures; a cancellation here is the stop itself.
        }
    }

    private TimeSpan RenewalDelayLocked()
    {
        var remaining = _expiresAt - _time.GetUtcNow();
        return remaining <= TimeSpan.Zero ? TimeSpan.Zero : remaining * RenewAtFraction;
    }

    private void ScheduleLocked(TimeSpan delay)
    {
        if (_timer is null || _renewalState != AgentSessionRenewalState.Active)
        {
            return;
        }

        _timer.Change(delay, Timeout.InfiniteTimeSpan);
    }

    private void OnTimer()
    {
        lock (_gate)
        {
            if (_timer is null || _renewalState != AgentSessionRenewalState.Active || !_renewal.IsCompleted)
            {
                return;
            }

            // Task.Run: the timer thread only starts the renewal (a fake clock fires timers inline).
            _renewal = Task.Run(RenewOnceAsync);
        }
    }

    private async Task RenewOnceAsync()
    {
        DateTimeOffset before;
        lock (_gate)
        {
            before = _expiresAt;
        }

        TokenRenewal renewal;
        try
        {
            renewal = await _client.RenewSelfAsync(_options.RenewIncrement, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            return;
        }
        catch (Exception error) when (error is KeywardRequestFailedException or HttpRequestException or OperationCanceledException or ObjectDisposedException)
        {
            RenewalFailedWith(error);
            return;
        }

        lock (_gate)
        {
            if (renewal.ExpiresAt > _expiresAt)
            {
                _expiresAt = renewal.ExpiresAt;
            }

            _renewable = renewal.Renewable;
            _lastRenewalError = null;
            if (_renewalState == AgentSessionRenewalState.Active)
            {
                if (!renewal.Renewable)
                {
                    _renewalState = AgentSessionRenewalState.NotRenewable;
                }
                else if (renewal.ExpiresAt - before < MinimumGain)
                {
                    _renewalState = AgentSessionRenewalState.AtLimit;
                }
                else
                {
                    ScheduleLocked(RenewalDelayLocked());
                }
            }
        }

        EventHandlers.RaiseEach(Renewed, this, new AgentSessionRenewedEventArgs(renewal.ExpiresAt));
    }

    private void RenewalFailedWith(Exception error)
    {
        var transient = error is not KeywardRequestFailedException failed || failed.Status is 0 or 429 or >= 500;
        bool willRetry;
        lock (_gate)
        {
            _lastRenewalError = error;
            var remaining = _expiresAt - _time.GetUtcNow();
            var delay = remaining / 3;
            delay = delay < MinimumRetryDelay ? MinimumRetryDelay : delay > MaximumRetryDelay ? MaximumRetryDelay : delay;
            willRetry = transient && _renewalState == AgentSessionRenewalState.Active && delay < remaining;
            if (willRetry)
            {
                ScheduleLocked(delay);
            }
            else if (_renewalState == AgentSessionRenewalState.Active)
            {
                _renewalState = AgentSessionRenewalState.Failed;
            }
        }

        EventHandlers.RaiseEach(RenewalFailed, this, new AgentSessionRenewalFailedEventArgs(error, willRetry));
    }
}
