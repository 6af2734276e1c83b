using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Gateway;

/// <summary>
/// The verification call a <c>promote</c> starts is a call through the integration like an agent's: it counts against
/// the promoting token's run budget and takes from its per-agent rate limit. On a manual clock, so a rate-limit bucket
/// never refills behind the test's back.
/// </summary>
public sealed class RotationVerificationLimitsTests : IAsyncLifetime
{
    private const string Value = "sk-live-verify-limits-0123456789";

    private readonly ManualTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private KeywardTestHost _host = null!;
    private LoopbackUpstream _upstream = null!;
    private AgentWorld _world = null!;

    public async Task InitializeAsync()
    {
        _upstream = await LoopbackUpstream.StartAsync();
        _upstream.Secret = Value;
        _host = await KeywardTestHost.StartAsync(services: s => s.AddSingleton<TimeProvider>(_clock));
        _world = await AgentWorld.CreateAsync(_host, "acme");
        await _host.PutSecretAsync(_world.Admin, "llm/openai", new { api_key = Value });
        await _world.PutRoleAsync("rotator", [AgentWorld.Rule("llm/*", "use", "rotate")], "1h");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private async Task ArrangeAsync(object limits)
    {
        using var admin = _host.Client(_world.Admin);
        await Problems.JsonAsync(await admin.PutAsJsonAsync("/v1/integrations/openai", new
        {
            upstream = _upstream.Address.ToString(),
            secret_path = "llm/openai",
            secret_field = "api_key",
            inject = new { kind = "bearer" },
            allow = new[] { new { methods = new[] { "GET" }, path = "**" } },
            allow_insecure_loopback = true,
            limits,
        }));
        using var policy = await admin.PutAsJsonAsync("/v1/secret-metadata/llm/openai",
            new { rotation = new { verify = new { integration = "openai", method = "GET", path = "check", expect_status = 200 } } });
        Assert.Equal(HttpStatusCode.NoContent, policy.StatusCode);
        await Problems.JsonAsync(await admin.PostAsJsonAsync("/v1/secrets/llm/openai/rotate", new { data = new { api_key = "sk-live-next-0123456789" } }), HttpStatusCode.Created);
    }

    private async Task<HttpResponseMessage> PromoteAsync(string token)
    {
        using var client = _host.Client(token);
        return await client.PostAsJsonAsync("/v1/secrets/llm/openai/promote", new { version = 2 });
    }

    private async Task<HttpStatusCode> CallAsync(string token)
    {
        using var client = _host.Client(token);
        using var response = await client.GetAsync("/v1/gateway/openai/ok");
        return response.StatusCode;
    }

    [Fact]
    public async Task APromotersVerificationCall_CountsAgainstItsRunBudget()
    {
        await ArrangeAsync(new { run_budget = 2 });
        var agent = await _world.StartAgentAsync("rotator-1", "r1", "rotator");

        Assert.Equal(HttpStatusCode.OK, await CallAsync(agent.Token));
        using (var first = await PromoteAsync(agent.Token))
        {
            // The upstream does not know the pending key yet: the call is made (and counted), the promotion refused.
            await Problems.AssertProblemAsync(first, HttpStatusCode.Conflict, "rotation_verification_failed");
        }

        using var second = await PromoteAsync(agent.Token);

        await Problems.AssertProblemAsync(second, HttpStatusCode.TooManyRequests, "run_budget_exhausted");
        Assert.Equal(2, _upstream.Requests.Count);
        Assert.Equal(HttpStatusCode.TooManyRequests, await CallAsync(agent.Token));
        var records = await _world.AuditAsync();
        var verifications = records.Where(r => r.GetProperty("operation").GetString() == "gateway.request"
            && r.GetProperty("details").TryGetProperty("purpose", out var purpose) && purpose.GetString() == "rotation.verify").ToList();
        Assert.Equal(2, verifications.Count);
        Assert.All(verifications, r => Assert.Equal(agent.Accessor, r.GetProperty("details").GetProperty("promoter").GetString()));
        Assert.Equal(JsonValueKind.Null, verifications[0].GetProperty("code").ValueKind);
        Assert.Equal("run_budget_exhausted", verifications[1].GetProperty("code").GetString());
    }

    [Fact]
    public async Task APromotersVerificationCall_TakesFromItsRateLimit()
    {
        await ArrangeAsync(new { per_agent_rps = 1 });
        var agent = await _world.StartAgentAsync("rotator-1", "r1", "rotator");

        Assert.Equal(HttpStatusCode.OK, await CallAsync(agent.Token));
        using var promote = await PromoteAsync(agent.Token);

        // The clock stands still: the bucket holds nothing more this second.
        await Problems.AssertProblemAsync(promote, HttpStatusCode.TooManyRequests, "gateway_rate_limited");
        Assert.Single(_upstream.Requests);

        _clock.Advance(TimeSpan.FromSeconds(1));
        _upstream.Secret = "sk-live-next-0123456789";
        using var later = await PromoteAsync(agent.Token);
        var promoted = await Problems.JsonAsync(later);
        Assert.Equal(2, promoted.GetProperty("version").GetInt64());
        Assert.Equal(JsonValueKind.Number, promoted.GetProperty("version").ValueKind);
    }
}
