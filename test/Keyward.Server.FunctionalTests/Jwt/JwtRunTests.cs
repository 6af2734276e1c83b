using System.Net;
using System.Net.Http.Json;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;
using Microsoft.IdentityModel.Tokens;

namespace Keyward.Server.FunctionalTests.Jwt;

/// <summary>
/// Every JWT session belongs to a run: the binding's <c>run_id_claim</c> names it, or it is derived from the
/// registration and the subject — the same on every login — so a workload's gateway budget survives logging in again,
/// and its children inherit the run.
/// </summary>
public sealed class JwtRunTests : IClassFixture<JwtFixture>
{
    private const string Acme = JwtFixture.Acme;
    private const string ClaimIssuer = "https://runs.acme.example";
    private const string CallerIssuer = "https://callers.acme.example";

    private readonly JwtFixture _f;

    public JwtRunTests(JwtFixture fixture)
    {
        _f = fixture;
    }

    private static string RunOf(RawResponse login)
    {
        Assert.True(login.Status == 200, login.ToString());
        return login.Json().GetProperty("run_id").GetString()!;
    }

    [Fact]
    public async Task Login_WithoutARunIdClaim_GetsARunDerivedFromTheRegistrationAndSubject_TheSameOnEveryLogin()
    {
        var rs = SecurityAlgorithms.RsaSha256;

        var first = RunOf(await _f.LoginAsync(Acme, "reader", _f.Sign(_f.RsaKey, rs, subject: "builder-1")));
        var again = RunOf(await _f.LoginAsync(Acme, "reader", _f.Sign(_f.RsaKey, rs, subject: "builder-1", expiresIn: TimeSpan.FromMinutes(30))));
        var viaEc = RunOf(await _f.LoginAsync(Acme, "reader", _f.Sign(_f.EcKey, SecurityAlgorithms.EcdsaSha256, subject: "builder-1")));
        var other = RunOf(await _f.LoginAsync(Acme, "reader", _f.Sign(_f.RsaKey, rs, subject: "builder-2")));
        var otherRegistration = RunOf(await _f.LoginAsync(Acme, "reader", _f.Sign(_f.RsaKey, rs, issuer: JwtFixture.RsaOnlyIssuer, subject: "builder-1")));

        Assert.Matches("^jwt-[0-9a-f]{24}$", first);
        Assert.Equal(first, again);
        Assert.Equal(first, viaEc);          // another key of the same registration: the same workload
        Assert.NotEqual(first, other);
        Assert.NotEqual(first, otherRegistration);
    }

    [Fact]
    public async Task Login_WithARunIdClaim_TakesTheRunFromIt_AndRefusesAJwtWithoutAUsableOne()
    {
        var registered = await _f.PutIssuerOkAsync(Acme, "runs", new
        {
            issuer = ClaimIssuer,
            public_keys = new[] { _f.Rsa.ExportSubjectPublicKeyInfoPem() },
            bound_audiences = new[] { JwtFixture.Audience },
            bindings = new[] { new { role = "reader", subject = "*", run_id_claim = "pipeline" } },
        });
        Assert.Equal("pipeline", registered.GetProperty("bindings")[0].GetProperty("run_id_claim").GetString());
        string Jwt(object? pipeline) => _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSha256, issuer: ClaimIssuer, subject: "ci",
            claims: pipeline is null ? null : new Dictionary<string, object> { ["pipeline"] = pipeline });

        Assert.Equal("build-42", RunOf(await _f.LoginAsync(Acme, "reader", Jwt("build-42"))));
        Assert.Equal("8123456789", RunOf(await _f.LoginAsync(Acme, "reader", Jwt(8123456789L))));
        foreach (var bad in new object?[] { null, "not a run id!", "", new[] { "a" } })
        {
            var refused = await _f.LoginAsync(Acme, "reader", Jwt(bad));
            Assert.True(refused.Status == 401 && refused.ProblemCode == "invalid_jwt", refused.ToString());
            Assert.Contains("run id claim", refused.Body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AJwtSession_SpendsItsRunBudget_LoggingInAgainDoesNotResetIt_AndItsChildrenShareIt()
    {
        // Arrange: an integration with a run budget of 3 and a role that may use it and spawn itself
        await using var upstream = await LoopbackUpstream.StartAsync();
        var admin = _f.Admin[Acme].Token;
        await Operator.PutAsync(_f.Host, admin, "llm/jwt-key", new { api_key = "sk-jwt-run-0123456789abcdef" });
        using (var client = _f.Host.Client(admin))
        {
            await Problems.JsonAsync(await client.PutAsJsonAsync("/v1/roles/jwt-caller", new
            {
                rules = new[] { AgentWorld.Rule("llm/*", "use") },
                max_ttl = "1h",
                may_spawn = new[] { "jwt-caller" },
            }));
            await Problems.JsonAsync(await client.PutAsJsonAsync("/v1/integrations/jwt-up", new
            {
                upstream = upstream.Address.ToString(),
                secret_path = "llm/jwt-key",
                secret_field = "api_key",
                inject = new { kind = "bearer" },
                allow = new[] { new { methods = new[] { "GET" }, path = "**" } },
                allow_insecure_loopback = true,
                limits = new { run_budget = 3 },
            }));
        }

        await _f.PutIssuerOkAsync(Acme, "callers", new
        {
            issuer = CallerIssuer,
            public_keys = new[] { _f.Rsa.ExportSubjectPublicKeyInfoPem() },
            bound_audiences = new[] { JwtFixture.Audience },
            bindings = new[] { new { role = "jwt-caller", subject = "worker-*" } },
        });
        async Task<string> LoginAsync() =>
            (await _f.LoginAsync(Acme, "jwt-caller", _f.Sign(_f.RsaKey, SecurityAlgorithms.RsaSha256, issuer: CallerIssuer, subject: "worker-7"))).Json().GetProperty("token").GetString()!;
        async Task<HttpStatusCode> CallAsync(string token)
        {
            using var client = _f.Host.Client(token);
            using var response = await client.GetAsync("/v1/gateway/jwt-up/ok");
            return response.StatusCode;
        }

        // Act: two calls, a fresh login, two more calls, then a child
        var session = await LoginAsync();
        var statuses = new List<HttpStatusCode> { await CallAsync(session), await CallAsync(session) };
        var again = await LoginAsync();
        statuses.Add(await CallAsync(again));
        statuses.Add(await CallAsync(again));
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses);
        using var spawner = _f.Host.Client(again);
        var spawn = await Problems.JsonAsync(await spawner.PostAsJsonAsync("/v1/agents/spawn", new { agent_id = "kid", ttl = "5m" }));
        using var anonymous = _f.Host.Client(null);
        var child = await Problems.JsonAsync(await anonymous.PostAsJsonAsync("/v1/auth/exchange", new { bootstrap_token = spawn.GetProperty("bootstrap_token").GetString() }));
        statuses.Add(await CallAsync(child.GetProperty("token").GetString()!));

        // Assert: three calls for the run, whatever the sessions
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        Assert.Equal(3, upstream.Requests.Count);
    }
}
