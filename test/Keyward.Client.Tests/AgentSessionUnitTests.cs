using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Keyward.Tests.Common;

namespace Keyward.Client.Tests;

/// <summary>
/// <see cref="AgentSession"/>'s own logic (renewal timing, stop conditions, failure handling, dispose) against a
/// scripted server and a hand-moved clock. The behaviour against the real server is in AgentSessionTests.
/// </summary>
public sealed class AgentSessionUnitTests
{
    private const string Bootstrap = "kwb_unit-bootstrap-token-0123456789abcdefghij";
    private const string Session = "kws_unit-session-token-0123456789abcdefghijkl";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task ExchangeAsync_SendsTheBootstrapTokenInTheBodyWithoutAuthorization()
    {
        var server = new ScriptedServer(new ManualTimeProvider(), TimeSpan.FromMinutes(10));

        await using var session = await server.ExchangeAsync();

        var exchange = Assert.Single(server.Requests, r => r.Path == "/v1/auth/exchange");
        Assert.Null(exchange.Authorization);
        Assert.Equal(Bootstrap, JsonDocument.Parse(exchange.Body!).RootElement.GetProperty("bootstrap_token").GetString());
        Assert.Equal("agent-1", session.AgentId);
        Assert.Equal("run-1", session.RunId);
        Assert.Equal("worker", session.Role);
        Assert.Equal("acc-1", session.Accessor);
    }

    [Fact]
    public async Task Client_SendsTheSessionTokenAsBearer()
    {
        var server = new ScriptedServer(new ManualTimeProvider(), TimeSpan.FromMinutes(10));
        await using var session = await server.ExchangeAsync();

        await session.Client.GetSelfAsync();

        Assert.Equal("Bearer " + Session, server.Requests.Single(r => r.Path == "/v1/auth/self").Authorization);
    }

    [Fact]
    public async Task Renewal_FiresAtTwoThirdsOfTheRemainingLifetime_NotBefore()
    {
        var time = new ManualTimeProvider();
        var server = new ScriptedServer(time, TimeSpan.FromSeconds(90));
        await using var session = await server.ExchangeAsync(new AgentSessionOptions { TimeProvider = time, RenewIncrement = TimeSpan.FromSeconds(90) });
        var renewed = Next<AgentSessionRenewedEventArgs>(h => session.Renewed += h);
        var before = session.ExpiresAt;

        time.Advance(TimeSpan.FromSeconds(59));
        await Task.Delay(100);
        Assert.Equal(0, server.Count("/v1/auth/renew"));

        time.Advance(TimeSpan.FromSeconds(2));
        var args = await renewed.WaitAsync(Wait);

        Assert.Equal(1, server.Count("/v1/auth/renew"));
        Assert.True(session.ExpiresAt > before, "the expiry moved forward");
        Assert.Equal(session.ExpiresAt, args.ExpiresAt);
        Assert.Equal(AgentSessionRenewalState.Active, session.RenewalState);
        Assert.Equal(90, JsonDocument.Parse(server.Requests.Single(r => r.Path == "/v1/auth/renew").Body!).RootElement.GetProperty("increment").GetInt64());
    }

    [Fact]
    public async Task Renewal_KeepsRenewing_UntilTheServerStopsExtending()
    {
        var time = new ManualTimeProvider();
        var server = new ScriptedServer(time, TimeSpan.FromSeconds(90)) { MaxExpiry = new ManualTimeProvider().GetUtcNow() + TimeSpan.FromSeconds(150) };
        await using var session = await server.ExchangeAsync(new AgentSessionOptions { TimeProvider = time });

        // 1st renewal at +60s extends to the cap (+150s); the 2nd, at +120s, gains nothing: renewal stops.
        var first = Next<AgentSessionRenewedEventArgs>(h => session.Renewed += h);
        time.Advance(TimeSpan.FromSeconds(61));
        await first.WaitAsync(Wait);
        var second = Next<AgentSessionRenewedEventArgs>(h => session.Renewed += h);
        time.Advance(TimeSpan.FromSeconds(60));
        await second.WaitAsync(Wait);
        await Eventually(() => session.RenewalState == AgentSessionRenewalState.AtLimit);
        time.Advance(TimeSpan.FromSeconds(25));
        await Task.Delay(100);

        Assert.Equal(2, server.Count("/v1/auth/renew"));
        Assert.Equal(server.MaxExpiry, session.ExpiresAt);
    }

    [Fact]
    public async Task Renewal_NotRenewableSession_NeverRenews()
    {
        var time = new ManualTimeProvider();
        var server = new ScriptedServer(time, TimeSpan.FromSeconds(90)) { Renewable = false };
        await using var session = await server.ExchangeAsync(new AgentSessionOptions { TimeProvider = time });

        time.Advance(TimeSpan.FromSeconds(89));
        await Task.Delay(100);

        Assert.Equal(AgentSessionRenewalState.NotRenewable, session.RenewalState);
        Assert.Equal(0, server.Count("/v1/auth/renew"));
    }

    [Fact]
    public async Task Renewal_AutoRenewOff_NeverRenews()
    {
        var time = new ManualTimeProvider();
        var server = new ScriptedServer(time, TimeSpan.FromSeconds(90));
        await using var session = await server.ExchangeAsync(new AgentSessionOptions { TimeProvider = time, AutoRenew = false });

        time.Advance(TimeSpan.FromSeconds(89));
        await Task.Delay(100);

        Assert.Equal(AgentSessionRenewalState.Disabled, session.RenewalState);
        Assert.Equal(0, server.Count("/v1/auth/renew"));
    }

    [Fact]
    public async Task Renewal_Refused_RaisesEventStopsAndNeverThrows()
    {
        var time = new ManualTimeProvider();
        var server = new ScriptedServer(time, TimeSpan.FromSeconds(90)) { RenewStatus = HttpStatusCode.Unauthorized, RenewCode = "token_revoked" };
        await using var session = await server.ExchangeAsync(new AgentSessionOptions { TimeProvider = time });
        var failed = Next<AgentSessionRenewalFailedEventArgs>(h => session.RenewalFailed += h);
        session.RenewalFailed += (_, _) => throw new InvalidOperationException("a subscriber that throws must not break the timer");

        time.Advance(TimeSpan.FromSeconds(61));
        var args = await failed.WaitAsync(Wait);
        await Eventually(() => session.RenewalState == AgentSessionRenewalState.Failed);
        time.Advance(TimeSpan.FromSeconds(20));
        await Task.Delay(100);

        Assert.False(args.WillRetry);
        var error = Assert.IsType<KeywardRequestFailedException>(args.Error);
        Assert.Equal(401, error.Status);
        Assert.Equal("token_revoked", error.ErrorCode);
        Assert.Same(args.Error, session.LastRenewalError);
        Assert.DoesNotContain(Session, error.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.Count("/v1/auth/renew"));
    }

    [Fact]
    public async Task Renewal_TransientFailure_RetriesBeforeExpiryAndRecovers()
    {
        var time = new ManualTimeProvider();
        var server = new ScriptedServer(time, TimeSpan.FromSeconds(90)) { RenewStatus = HttpStatusCode.ServiceUnavailable, RenewCode = "sealed" };
        await using var session = await server.ExchangeAsync(new AgentSessionOptions { TimeProvider = time });
        var failed = Next<AgentSessionRenewalFailedEventArgs>(h => session.RenewalFailed += h);

        time.Advance(TimeSpan.FromSeconds(61));
        var args = await failed.WaitAsync(Wait);
        Assert.True(args.WillRetry);
        Assert.Equal(AgentSessionRenewalState.Active, session.RenewalState);

        // About a third of the remaining ~29s later it tries again, and this time the server answers.
        server.RenewStatus = HttpStatusCode.OK;
        var renewed = Next<AgentSessionRenewedEventArgs>(h => session.Renewed += h);
        time.Advance(TimeSpan.FromSeconds(10));
        await renewed.WaitAsync(Wait);

        Assert.Equal(2, server.Count("/v1/auth/renew"));
        Assert.Null(session.LastRenewalError);
        Assert.True(session.ExpiresAt > time.GetUtcNow() + TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task DisposeAsync_RevokesSelfOnce_StopsRenewal()
    {
        var time = new ManualTimeProvider();
        var server = new ScriptedServer(time, TimeSpan.FromSeconds(90));
        var session = await server.ExchangeAsync(new AgentSessionOptions { TimeProvider = time });

        await session.DisposeAsync();
        await session.DisposeAsync();
        time.Advance(TimeSpan.FromSeconds(80));
        await Task.Delay(100);

        var revoke = Assert.Single(server.Requests, r => r.Path == "/v1/auth/revoke-self");
        Assert.Equal("Bearer " + Session, revoke.Authorization);
        Assert.Equal(0, server.Count("/v1/auth/renew"));
        Assert.Equal(AgentSessionRenewalState.Stopped, session.RenewalState);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => session.SpawnAsync("child", TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public async Task DisposeAsync_RevokeRefused_DoesNotThrow()
    {
        var server = new ScriptedServer(new ManualTimeProvider(), TimeSpan.FromSeconds(90)) { RevokeStatus = HttpStatusCode.Unauthorized };
        var session = await server.ExchangeAsync();

        await session.DisposeAsync();

        Assert.Equal(1, server.Count("/v1/auth/revoke-self"));
    }

    [Fact]
    public async Task DisposeAsync_ServerHangs_ReturnsWithinTheRevokeTimeout()
    {
        var server = new ScriptedServer(new ManualTimeProvider(), TimeSpan.FromSeconds(90)) { RevokeHangs = true };
        var session = await server.ExchangeAsync(new AgentSessionOptions { RevokeOnDisposeTimeout = TimeSpan.FromMilliseconds(300) });
        var clock = System.Diagnostics.Stopwatch.StartNew();

        await session.DisposeAsync().AsTask().WaitAsync(Wait);

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task RevokeAsync_ThenDispose_RevokesOnlyOnce()
    {
        var server = new ScriptedServer(new ManualTimeProvider(), TimeSpan.FromSeconds(90));
        var session = await server.ExchangeAsync();

        await session.RevokeAsync();
        await session.DisposeAsync();

        Assert.Equal(1, server.Count("/v1/auth/revoke-self"));
    }

    [Fact]
    public async Task ToString_NeverShowsTheSessionToken()
    {
        var server = new ScriptedServer(new ManualTimeProvider(), TimeSpan.FromSeconds(90));
        await using var session = await server.ExchangeAsync();

        var text = session.ToString();

        Assert.DoesNotContain(Session, text, StringComparison.Ordinal);
        Assert.Contains("agent-1", text, StringComparison.Ordinal);
        Assert.Contains("acc-1", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExchangeAsync_Refused_ThrowsWithoutTheBootstrapTokenInTheMessage()
    {
        var server = new ScriptedServer(new ManualTimeProvider(), TimeSpan.FromSeconds(90))
        {
            ExchangeStatus = HttpStatusCode.Conflict,
            ExchangeDetail = "Bootstrap token " + Bootstrap + " was already used.",
        };

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => server.ExchangeAsync());

        Assert.Equal(409, error.Status);
        Assert.Equal("bootstrap_replayed", error.ErrorCode);
        Assert.DoesNotContain(Bootstrap, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Bootstrap, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ModelToString_RedactsTokens()
    {
        var issued = new Models.IssuedBootstrapToken(Bootstrap, "acc", DateTimeOffset.UnixEpoch);
        var exchanged = new Models.AgentSessionToken(Session, "acc", "t", "a", "r", "role", DateTimeOffset.UnixEpoch, true);

        Assert.DoesNotContain(Bootstrap, issued.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Session, exchanged.ToString(), StringComparison.Ordinal);
    }

    private static Task<T> Next<T>(Action<EventHandler<T>> subscribe)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscribe((_, args) => done.TrySetResult(args));
        return done.Task;
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in time");
            await Task.Delay(10);
        }
    }

    internal sealed record Seen(string Method, string Path, string? Authorization, string? Body);

    /// <summary>A scripted Keyward speaking the agent routes, on the test's clock.</summary>
    private sealed class ScriptedServer : HttpMessageHandler
    {
        private readonly ManualTimeProvider _time;
        private readonly TimeSpan _ttl;
        private DateTimeOffset _expiresAt;

        public ScriptedServer(ManualTimeProvider time, TimeSpan ttl)
        {
            _time = time;
            _ttl = ttl;
        }

        public ConcurrentQueue<Seen> Requests { get; } = new();

        public bool Renewable { get; init; } = true;

        public DateTimeOffset? MaxExpiry { get; init; }

        public HttpStatusCode RenewStatus { get; set; } = HttpStatusCode.OK;

        public string RenewCode { get; init; } = "token_revoked";

        public HttpStatusCode RevokeStatus { get; init; } = HttpStatusCode.NoContent;

        public bool RevokeHangs { get; init; }

        public HttpStatusCode ExchangeStatus { get; init; } = HttpStatusCode.OK;

        public string ExchangeDetail { get; init; } = "";

        public int Count(string path) => Requests.Count(r => r.Path == path);

        public Task<AgentSession> ExchangeAsync(AgentSessionOptions? options = null) =>
            AgentSession.ExchangeAsync(new KeywardClientOptions { Address = new Uri("http://127.0.0.1:8210"), Handler = this }, Bootstrap, options);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
            var path = request.RequestUri!.AbsolutePath;
            Requests.Enqueue(new Seen(request.Method.Method, path, request.Headers.Authorization?.ToString(), body));
            switch (path)
            {
                case "/v1/auth/exchange" when ExchangeStatus != HttpStatusCode.OK:
                    return Problem(ExchangeStatus, "bootstrap_replayed", ExchangeDetail);
                case "/v1/auth/exchange":
                    _expiresAt = _time.GetUtcNow() + _ttl;
                    return Json(new
                    {
                        token = Session, accessor = "acc-1", tenant = "t-1", agent_id = "agent-1", run_id = "run-1", role = "worker",
                        expires_at = _expiresAt, renewable = Renewable,
                    });
                case "/v1/auth/self":
                    return Json(new { tenant = "t-1", kind = "agent", accessor = "acc-1", parent_accessor = "orc", agent_id = "agent-1", run_id = "run-1", role = "worker", rules = Array.Empty<object>(), expires_at = _expiresAt, renewable = Renewable });
                case "/v1/auth/renew" when RenewStatus != HttpStatusCode.OK:
                    return Problem(RenewStatus, RenewCode, "refused");
                case "/v1/auth/renew":
                    var increment = JsonDocument.Parse(body ?? "{}").RootElement.TryGetProperty("increment", out var i) ? TimeSpan.FromSeconds(i.GetInt64()) : _ttl;
                    var next = _time.GetUtcNow() + increment;
                    if (MaxExpiry is { } max && next > max)
                    {
                        next = max;
                    }

                    _expiresAt = next > _expiresAt ? next : _expiresAt;
                    return Json(new { accessor = "acc-1", expires_at = _expiresAt, renewable = Renewable });
                case "/v1/auth/revoke-self" when RevokeHangs:
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                    throw new InvalidOperationException("unreachable");
                case "/v1/auth/revoke-self":
                    return RevokeStatus == HttpStatusCode.NoContent ? new HttpResponseMessage(HttpStatusCode.NoContent) : Problem(RevokeStatus, "token_revoked", "revoked");
                default:
                    return Problem(HttpStatusCode.NotFound, "not_found", "no such route");
            }
        }

        private static HttpResponseMessage Json(object body) =>
            new(HttpStatusCode.OK) { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };

        private static HttpResponseMessage Problem(HttpStatusCode status, string code, string detail) =>
            new(status)
            {
                Content = new StringContent(
                    JsonSerializer.Serialize(new { type = "urn:keyward:problem:" + code, title = code, status = (int)status, detail, code }),
                    Encoding.UTF8,
                    "application/problem+json"),
            };
    }
}
