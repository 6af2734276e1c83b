using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Core.Rotation;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Rotation;

/// <summary>
/// Compare-and-promote: a promotion makes current only the version its verification call (or its engine) checked. The
/// verification runs outside any transaction, through the gateway to a real upstream on loopback; here that upstream
/// restages the secret while it is being called, and the restaged value must never become current unverified.
/// </summary>
public sealed class VerifiedPromotionTests : IAsyncLifetime
{
    private const string Path = "llm/openai";
    private const string Old = "sk-live-old-value-0123456789";
    private const string Next = "sk-live-next-value-0123456789";
    private const string Attacker = "sk-live-attacker-value-0123456789";

    private readonly ManualTimeProvider _clock = new();
    private LoopbackUpstream _upstream = null!;
    private KeywardTestHost _host = null!;
    private AgentWorld _world = null!;

    public async Task InitializeAsync()
    {
        _upstream = await LoopbackUpstream.StartAsync();
        _host = await KeywardTestHost.StartAsync(
            new KeywardServerOptions
            {
                Dev = true,
                DevRootToken = KeywardTestHost.RootToken,
                SweepInterval = TimeSpan.FromDays(30),
                RotationInterval = TimeSpan.FromDays(30), // the tests drive the scheduler
            },
            s => s.AddSingleton<TimeProvider>(_clock));
        _world = await AgentWorld.CreateAsync(_host, "acme");
        await _host.PutSecretAsync(_world.Admin, Path, new { api_key = Old });
        await Problems.JsonAsync(await SendAsync(HttpMethod.Put, "/v1/integrations/openai", new Dictionary<string, object?>
        {
            ["upstream"] = _upstream.Address.ToString(),
            ["secret_path"] = Path,
            ["secret_field"] = "api_key",
            ["inject"] = new { kind = "bearer" },
            ["allow"] = new[] { new { methods = new[] { "GET" }, path = "**" } },
            ["allow_insecure_loopback"] = true,
        }));
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private RotationScheduler Scheduler => _host.Services.GetRequiredService<RotationScheduler>();

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string route, object? body = null)
    {
        using var client = _host.Client(_world.Admin);
        using var request = new HttpRequestMessage(method, route) { Content = body is null ? null : JsonContent.Create(body) };
        return await client.SendAsync(request);
    }

    private async Task PutPolicyAsync(object rotation)
    {
        using var response = await SendAsync(HttpMethod.Put, $"/v1/secret-metadata/{Path}", new { rotation });
        Assert.True(response.StatusCode == HttpStatusCode.NoContent, await response.Content.ReadAsStringAsync());
    }

    private static object Verify => new { integration = "openai", method = "GET", path = "check", expect_status = 200 };

    private async Task<long> StageAsync(string value) =>
        (await Problems.JsonAsync(await SendAsync(HttpMethod.Post, $"/v1/secrets/{Path}/rotate", new { data = new { api_key = value } }), HttpStatusCode.Created))
            .GetProperty("version").GetInt64();

    /// <summary>The upstream restages the secret with <see cref="Attacker"/> the first time it is called for the verification.</summary>
    private TaskCompletionSource<long> RestageDuringTheVerificationCall()
    {
        var restaged = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.OnRequest = async request =>
        {
            if (request.RawTarget.StartsWith("/check", StringComparison.Ordinal) && !restaged.Task.IsCompleted)
            {
                restaged.SetResult(await StageAsync(Attacker));
            }
        };
        return restaged;
    }

    private async Task<JsonElement> MetadataAsync() => await Problems.JsonAsync(await SendAsync(HttpMethod.Get, $"/v1/secret-metadata/{Path}"));

    private async Task<string> CurrentValueAsync() =>
        (await Problems.JsonAsync(await SendAsync(HttpMethod.Get, $"/v1/secrets/{Path}"))).GetProperty("data").GetProperty("api_key").GetString()!;

    [Fact]
    public async Task Scheduler_RestagedDuringTheVerificationCall_PromotesNothingAndAuditsIt()
    {
        // Arrange: v2 staged and accepted by the upstream; a period that is due.
        await PutPolicyAsync(new { period = "10m", generator = new { kind = "random", length = 32, fields = new[] { "api_key" } }, verify = Verify });
        Assert.Equal(2, await StageAsync(Next));
        _upstream.Secret = Next;
        var restaged = RestageDuringTheVerificationCall();
        _clock.Advance(TimeSpan.FromMinutes(10));

        // Act: the scheduler verifies v2; during that call the upstream stages v3 (a value that was never verified).
        var promoted = await Scheduler.RunOnceAsync();

        // Assert: v3 is not current (nor is v2: it is no longer the pending version), and the skip is on the record.
        Assert.Equal(3, await restaged.Task);
        Assert.Equal(0, promoted);
        var metadata = await MetadataAsync();
        Assert.Equal((1L, 3L), (metadata.GetProperty("current_version").GetInt64(), metadata.GetProperty("pending_version").GetInt64()));
        Assert.Equal(Old, await CurrentValueAsync());
        var skipped = Assert.Single(await _world.AuditAsync(), r => r.GetProperty("operation").GetString() == "secret.promote.scheduled");
        Assert.Equal("pending_changed", skipped.GetProperty("details").GetProperty("skipped").GetString());
        Assert.Equal(2, skipped.GetProperty("version").GetInt64());

        // The next pass verifies the version pending now: the upstream refuses it, so it is not promoted either.
        Assert.Equal(0, await Scheduler.RunOnceAsync());
        Assert.Equal(Old, await CurrentValueAsync());
        Assert.Equal(Attacker, _upstream.Requests.Last().Header("Authorization")?["Bearer ".Length..]);
    }

    [Fact]
    public async Task Scheduler_VerifiedVersionStillPending_IsPromoted()
    {
        await PutPolicyAsync(new { period = "10m", generator = new { kind = "random", length = 32, fields = new[] { "api_key" } }, verify = Verify });
        await StageAsync(Next);
        _upstream.Secret = Next;
        _clock.Advance(TimeSpan.FromMinutes(10));

        Assert.Equal(1, await Scheduler.RunOnceAsync());

        Assert.Equal(Next, await CurrentValueAsync());
    }

    [Fact]
    public async Task Promote_RestagedDuringTheVerificationCall_409NotPendingAndTheRestagedVersionIsNotCurrent()
    {
        await PutPolicyAsync(new { verify = Verify });
        Assert.Equal(2, await StageAsync(Next));
        _upstream.Secret = Next;
        var restaged = RestageDuringTheVerificationCall();

        using var refused = await SendAsync(HttpMethod.Post, $"/v1/secrets/{Path}/promote", new { version = 2 });

        await Problems.AssertProblemAsync(refused, HttpStatusCode.Conflict, "not_pending");
        Assert.Equal(3, await restaged.Task);
        var metadata = await MetadataAsync();
        Assert.Equal((1L, 3L), (metadata.GetProperty("current_version").GetInt64(), metadata.GetProperty("pending_version").GetInt64()));
        Assert.Equal(Old, await CurrentValueAsync());

        // Naming the restaged version runs the verification for it, which the upstream refuses.
        _upstream.OnRequest = null;
        await Problems.AssertProblemAsync(
            await SendAsync(HttpMethod.Post, $"/v1/secrets/{Path}/promote", new { version = 3 }), HttpStatusCode.Conflict, "rotation_verification_failed");
        Assert.Equal(Old, await CurrentValueAsync());
    }

    [Fact]
    public async Task Promote_VerifyCallChangedDuringTheVerification_409AndNothingPromoted()
    {
        await PutPolicyAsync(new { verify = Verify });
        await StageAsync(Next);
        _upstream.Secret = Next;
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.OnRequest = async request =>
        {
            if (!changed.Task.IsCompleted)
            {
                // The policy now wants another call: the one just made no longer vouches for the promotion.
                await PutPolicyAsync(new { verify = new { integration = "openai", method = "GET", path = "status/200", expect_status = 200 } });
                changed.SetResult();
            }
        };

        using var refused = await SendAsync(HttpMethod.Post, $"/v1/secrets/{Path}/promote", new { version = 2 });

        await Problems.AssertProblemAsync(refused, HttpStatusCode.Conflict, "rotation_verification_failed");
        Assert.Equal(Old, await CurrentValueAsync());
        Assert.Equal(2, (await MetadataAsync()).GetProperty("pending_version").GetInt64());
        var record = Assert.Single(await _world.AuditAsync(), r => r.GetProperty("operation").GetString() == "secret.promote");
        Assert.Equal("policy_changed", record.GetProperty("details").GetProperty("refused").GetString());
    }
}
