using System.Net;
using System.Text;
using Keyward.Client.Logging;
using Keyward.Client.Models;
using Keyward.Tests.Common;
using Microsoft.Extensions.Logging;

namespace Keyward.Client.Tests;

/// <summary>
/// Every value the SDK hands out is registered with its scrubber (<see cref="KeywardClientOptions.Scrubber"/>,
/// <see cref="AgentSessionOptions.Scrubber"/>) as it arrives, so a log line that carries it afterwards is scrubbed —
/// not only values read through the cache. Tokens here are opaque on purpose (characters outside the token shape), so
/// only the registration redacts them whole.
/// </summary>
public sealed class ValueRegistrationTests
{
    private const string Field = "reg-secret-field-0001";
    private const string Nested = "reg-nested-field-0002";
    private const string Password = "reg-pg-password-0003";
    private const string WrapToken = "kww_reg+wrap/token=0004";
    private const string BootstrapToken = "kwb_reg+bootstrap/token=0005";
    private const string SessionToken = "kws_reg+session/token=0006";
    private const string JwtToken = "kws_reg+jwt/session=0007";
    private const string AdminToken = "kwa_reg+admin/token=0008";
    private const string RootToken = "kwr_reg+root/token=0009";
    private const string KeyShare = "reg-unseal-share-0010";

    private static readonly string SecretBody =
        $$$"""{"path":"app/db","version":2,"data":{"password":"{{{Field}}}","nested":{"list":["{{{Nested}}}"]},"port":5432},"created_at":"2030-01-01T00:00:00Z","stage":"current","epoch":3}""";

    private static readonly string CredentialBody =
        $$"""{"username":"v-login-1","password":"{{Password}}","lease_id":"lease-1","lease_duration":3600,"renewable":true}""";

    private static readonly string WrapBody =
        $$$"""{"wrap_info":{"token":"{{{WrapToken}}}","accessor":"wacc","ttl":60,"created_at":"2030-01-01T00:00:00Z","creation_path":"app/db"}}""";

    [Fact]
    public async Task GetSecretAsync_RegistersEveryStringOfTheData_ALogLineAfterwardsIsScrubbed()
    {
        var (client, scrubber) = Client(("GET", "/v1/secrets/app/db", SecretBody));
        using (client)
        {
            var secret = await client.GetSecretAsync("app/db");

            Assert.Equal(Field, secret.Data.GetProperty("password").GetString());
            AssertScrubbed(scrubber, Field, Nested);
            Assert.Equal("version 2 of app/db", scrubber.Scrub("version 2 of app/db"));
        }
    }

    [Fact]
    public async Task GetSecretAsync_ValueLoggedAfterwards_ReachesTheSinkRedacted()
    {
        var (client, scrubber) = Client(("GET", "/v1/secrets/app/db", SecretBody));
        using (client)
        {
            var sink = new LinesLogger();
            var logger = new ScrubbingLogger(sink, scrubber);

            var secret = await client.GetSecretAsync("app/db");
#pragma warning disable CA1848 // A test of what reaches the sink.
            logger.LogInformation("connecting with {Password}", secret.Data.GetProperty("password").GetString());
#pragma warning restore CA1848

            Assert.Equal("connecting with [REDACTED]", Assert.Single(sink.Lines));
        }
    }

    [Fact]
    public async Task GetSecretStageAsync_RegistersTheData()
    {
        var (client, scrubber) = Client(("GET", "/v1/secrets/app/db", SecretBody));
        using (client)
        {
            await client.GetSecretStageAsync("app/db", SecretStages.Previous);

            AssertScrubbed(scrubber, Field, Nested);
        }
    }

    [Fact]
    public async Task CreatePostgresCredentialAsync_RegistersThePassword()
    {
        var (client, scrubber) = Client(("POST", "/v1/creds/postgres/main/reader", CredentialBody));
        using (client)
        {
            var login = await client.CreatePostgresCredentialAsync("main", "reader");

            Assert.Equal(Password, login.Password);
            AssertScrubbed(scrubber, Password);
        }
    }

    [Fact]
    public async Task GetSecretWrappedAsync_AndCreatePostgresCredentialWrappedAsync_RegisterTheWrappingToken()
    {
        var (client, scrubber) = Client(("GET", "/v1/secrets/app/db", WrapBody));
        using (client)
        {
            var info = await client.GetSecretWrappedAsync("app/db", TimeSpan.FromMinutes(1));

            Assert.Equal(WrapToken, info.Token);
            AssertScrubbed(scrubber, WrapToken);
        }

        var (second, other) = Client(("POST", "/v1/creds/postgres/main/reader", WrapBody));
        using (second)
        {
            await second.CreatePostgresCredentialWrappedAsync("main", "reader", TimeSpan.FromMinutes(1));

            AssertScrubbed(other, WrapToken);
        }
    }

    [Fact]
    public async Task UnwrapSecretAsync_RegistersTheDataAndTheWrappingToken()
    {
        var (client, scrubber) = Client(("POST", "/v1/wrapping/unwrap", SecretBody));
        using (client)
        {
            var secret = await client.UnwrapSecretAsync(WrapToken);

            Assert.Equal(2, secret.Version);
            AssertScrubbed(scrubber, Field, Nested, WrapToken);
        }
    }

    [Fact]
    public async Task UnwrapPostgresCredentialAsync_RegistersThePassword()
    {
        var (client, scrubber) = Client(("POST", "/v1/wrapping/unwrap", CredentialBody));
        using (client)
        {
            await client.UnwrapPostgresCredentialAsync(WrapToken);

            AssertScrubbed(scrubber, Password);
        }
    }

    [Fact]
    public async Task UnwrapAsync_Raw_RegistersTheValuesOfWhatItRecognizes_AndEveryStringOfWhatItDoesNot()
    {
        var (secretClient, secretScrubber) = Client(("POST", "/v1/wrapping/unwrap", SecretBody));
        var (credentialClient, credentialScrubber) = Client(("POST", "/v1/wrapping/unwrap", CredentialBody));
        var (otherClient, otherScrubber) = Client(("POST", "/v1/wrapping/unwrap", """{"something":{"new":"reg-unknown-shape-0011"}}"""));
        using (secretClient)
        using (credentialClient)
        using (otherClient)
        {
            await secretClient.UnwrapAsync(WrapToken);
            await credentialClient.UnwrapAsync(WrapToken);
            await otherClient.UnwrapAsync(WrapToken);

            AssertScrubbed(secretScrubber, Field, Nested);
            Assert.Equal("read app/db", secretScrubber.Scrub("read app/db"));
            AssertScrubbed(credentialScrubber, Password);
            Assert.Equal("login v-login-1", credentialScrubber.Scrub("login v-login-1"));
            AssertScrubbed(otherScrubber, "reg-unknown-shape-0011");
        }
    }

    [Fact]
    public async Task TokensTheSdkHandsOut_AreRegistered()
    {
        var (client, scrubber) = Client(
            ("POST", "/v1/agents/bootstrap", $$"""{"bootstrap_token":"{{BootstrapToken}}","accessor":"b","expires_at":"2030-01-01T00:00:00Z"}"""),
            ("POST", "/v1/auth/exchange", $$"""{"token":"{{SessionToken}}","accessor":"s","tenant":"t","agent_id":"a","run_id":"r","role":"w","expires_at":"2030-01-01T00:00:00Z","renewable":true}"""),
            ("POST", "/v1/auth/jwt/login", $$"""{"token":"{{JwtToken}}","accessor":"j","tenant":"t","role":"w","renewable":false}"""),
            ("POST", "/v1/tenants/t-1/tokens", $$"""{"token":"{{AdminToken}}","accessor":"i","kind":"admin","tenant":"t-1"}"""),
            ("POST", "/v1/sys/init", $$"""{"keys":["{{KeyShare}}"],"root_token":"{{RootToken}}"}"""),
            ("POST", "/v1/sys/generate-root", $$"""{"root_token":"{{RootToken}}"}"""));
        using (client)
        {
            await client.BootstrapAgentAsync("a", "r", "w", TimeSpan.FromMinutes(1));
            await client.ExchangeBootstrapTokenAsync("kwb_given");
            await client.LoginWithJwtAsync("t", "w", "header.payload.signature");
            await client.CreateTenantTokenAsync("t-1", TenantTokenKind.Admin);

            AssertScrubbed(scrubber, BootstrapToken, SessionToken, JwtToken, AdminToken);
        }

        var (system, systemScrubber) = Client(("POST", "/v1/sys/init", $$"""{"keys":["{{KeyShare}}"],"root_token":"{{RootToken}}"}"""));
        using (system)
        {
            await system.InitializeAsync(1, 1);

            AssertScrubbed(systemScrubber, KeyShare, RootToken);
        }
    }

    [Fact]
    public async Task AgentSession_RegistersItsSessionTokenAndTheTokensItDerivesAndSpawns()
    {
        var scrubber = new SecretScrubber();
        var server = new Scripted(
            ("POST", "/v1/auth/exchange", $$"""{"token":"{{ValueCarriers.SessionToken}}","accessor":"0123456789abcdef0123456789abcdef","tenant":"t","agent_id":"a","run_id":"r","role":"w","expires_at":"2030-01-01T00:00:00Z","renewable":true}"""),
            ("POST", "/v1/agents/spawn", $$"""{"bootstrap_token":"{{BootstrapToken}}","accessor":"b","expires_at":"2030-01-01T00:00:00Z"}"""),
            ("POST", "/v1/auth/revoke-self", ""));
        await using var session = await AgentSession.ExchangeAsync(
            new KeywardClientOptions { Address = new Uri("http://127.0.0.1:8210"), Handler = server },
            "kwb_given",
            new AgentSessionOptions { Scrubber = scrubber, AutoRenew = false, CacheEnabled = false, TimeProvider = new ManualTimeProvider() });

        // Session and derived tokens hold only token-shape characters (redacted by shape anyway): their registration
        // shows in the count. The spawned bootstrap token here is opaque: only its registration redacts it whole.
        var afterExchange = scrubber.Count;
        session.Derive(TimeSpan.FromMinutes(1));
        var afterDerive = scrubber.Count;
        await session.SpawnAsync("child", TimeSpan.FromMinutes(1));

        Assert.Equal(2, afterExchange); // the bootstrap token it was given and the session token it got
        Assert.Equal(3, afterDerive);
        AssertScrubbed(scrubber, BootstrapToken);
    }

    private static void AssertScrubbed(SecretScrubber scrubber, params string[] values)
    {
        foreach (var value in values)
        {
            Assert.Equal("log: [REDACTED] end", scrubber.Scrub("log: " + value + " end"));
        }
    }

    private static (KeywardClient Client, SecretScrubber Scrubber) Client(params (string Method, string Path, string Body)[] routes)
    {
        var scrubber = new SecretScrubber();
        var client = new KeywardClient(new KeywardClientOptions
        {
            Address = new Uri("http://127.0.0.1:8210"),
            Token = "kwa_client-own-token",
            Handler = new Scripted(routes),
            Scrubber = scrubber,
        });
        return (client, scrubber);
    }

    /// <summary>Answers each (method, path) with its JSON body (an empty body is 204); anything else 404.</summary>
    private sealed class Scripted : HttpMessageHandler
    {
        private readonly (string Method, string Path, string Body)[] _routes;

        public Scripted(params (string Method, string Path, string Body)[] routes) => _routes = routes;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath;
            foreach (var (method, route, body) in _routes)
            {
                if (method == request.Method.Method && route == path)
                {
                    return Task.FromResult(body.Length == 0
                        ? new HttpResponseMessage(HttpStatusCode.NoContent)
                        : new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8, "application/json") });
                }
            }

            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.NotFound)
            {
                Content = new StringContent("""{"code":"not_found","detail":"no such route"}""", Encoding.UTF8, "application/problem+json"),
            });
        }
    }

    private sealed class LinesLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }
}
