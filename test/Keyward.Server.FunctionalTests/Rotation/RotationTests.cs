using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Core.Rotation;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Server.FunctionalTests.Events;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Rotation;

/// <summary>Staged versions, promote and rollback, rotation policies, counted uses and the scheduler.</summary>
public sealed class RotationTests : IAsyncLifetime
{
    private const string Path = "apps/web/db";
    private readonly ManualTimeProvider _clock = new();
    private KeywardTestHost _host = null!;
    private AgentWorld _world = null!;

    public async Task InitializeAsync()
    {
        _host = await StartHostAsync(_clock, dataDirectory: null);
        _world = await AgentWorld.CreateAsync(_host, "acme");
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    // The scheduler's own loop never fires in these tests (its interval is a month of fake time): they drive it.
    private static Task<KeywardTestHost> StartHostAsync(ManualTimeProvider clock, string? dataDirectory) =>
        KeywardTestHost.StartAsync(
            new KeywardServerOptions
            {
                Dev = true,
                DevRootToken = KeywardTestHost.RootToken,
                DataDirectory = dataDirectory,
                SweepInterval = TimeSpan.FromDays(30),
                RotationInterval = TimeSpan.FromDays(30),
            },
            s => s.AddSingleton<TimeProvider>(clock));

    private RotationScheduler Scheduler => _host.Services.GetRequiredService<RotationScheduler>();

    private async Task<JsonElement> PostJsonAsync(string route, object? body, HttpStatusCode status = HttpStatusCode.OK, string? token = null) =>
        await Problems.JsonAsync(await _world.PostAsync(token ?? _world.Admin, route, body), status);

    private async Task<JsonElement> ReadAsync(string query = "", string? token = null) =>
        await Problems.JsonAsync(await _world.GetAsync(token ?? _world.Admin, $"/v1/secrets/{Path}{query}"));

    private async Task<JsonElement> MetadataAsync() => await Problems.JsonAsync(await _world.GetAsync(_world.Admin, $"/v1/secret-metadata/{Path}"));

    private async Task PutPolicyAsync(object rotation)
    {
        using var client = _host.Client(_world.Admin);
        using var response = await client.PutAsJsonAsync($"/v1/secret-metadata/{Path}", new { rotation });
        Assert.True(response.StatusCode == HttpStatusCode.NoContent, await response.Content.ReadAsStringAsync());
    }

    private static string Password(JsonElement read) => read.GetProperty("data").GetProperty("password").GetString()!;

    [Fact]
    public async Task RotateThenPromote_PendingServesVerifiersUntilPromotedThenOldIsPrevious()
    {
        // Arrange
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "old" });

        // Act: stage
        var staged = await PostJsonAsync($"/v1/secrets/{Path}/rotate", new { data = new { password = "new" } }, HttpStatusCode.Created);

        // Assert: current unchanged, pending readable by stage
        Assert.Equal((2L, "pending"), (staged.GetProperty("version").GetInt64(), staged.GetProperty("stage").GetString()));
        var current = await ReadAsync();
        Assert.Equal(("old", 1L, "current", 1L), (Password(current), current.GetProperty("version").GetInt64(), current.GetProperty("stage").GetString(), current.GetProperty("epoch").GetInt64()));
        Assert.Equal("new", Password(await ReadAsync("?stage=pending")));

        // Act: promote
        var promoted = await PostJsonAsync($"/v1/secrets/{Path}/promote", new { version = 2 });

        // Assert
        Assert.Equal((2L, 2L), (promoted.GetProperty("version").GetInt64(), promoted.GetProperty("epoch").GetInt64()));
        current = await ReadAsync();
        Assert.Equal(("new", 2L, 2L), (Password(current), current.GetProperty("version").GetInt64(), current.GetProperty("epoch").GetInt64()));
        var previous = await ReadAsync("?stage=previous");
        Assert.Equal(("old", "previous"), (Password(previous), previous.GetProperty("stage").GetString()));
        var metadata = await MetadataAsync();
        Assert.Equal((2L, JsonValueKind.Null, 1L, 2L), (metadata.GetProperty("current_version").GetInt64(), metadata.GetProperty("pending_version").ValueKind,
            metadata.GetProperty("previous_version").GetInt64(), metadata.GetProperty("epoch").GetInt64()));
        Assert.Equal(["previous", "current"], metadata.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("stage").GetString()));
        await Problems.AssertProblemAsync(await _world.GetAsync(_world.Admin, $"/v1/secrets/{Path}?stage=pending"), HttpStatusCode.NotFound, "stage_not_found");
    }

    [Fact]
    public async Task Promote_NotThePendingVersion_409NotPendingAndNothingChanges()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "old" });
        await Problems.AssertProblemAsync(await _world.PostAsync(_world.Admin, $"/v1/secrets/{Path}/promote", new { version = 2 }), HttpStatusCode.Conflict, "not_pending");
        await PostJsonAsync($"/v1/secrets/{Path}/rotate", new { data = new { password = "new" } }, HttpStatusCode.Created);

        await Problems.AssertProblemAsync(await _world.PostAsync(_world.Admin, $"/v1/secrets/{Path}/promote", new { version = 1 }), HttpStatusCode.Conflict, "not_pending");
        await Problems.AssertProblemAsync(await _world.PostAsync(_world.Admin, $"/v1/secrets/{Path}/promote", new { version = 3 }), HttpStatusCode.Conflict, "not_pending");
        await Problems.AssertProblemAsync(await _world.PostAsync(_world.Admin, $"/v1/secrets/{Path}/promote", new { }), HttpStatusCode.BadRequest, "missing_field");
        await Problems.AssertProblemAsync(await _world.PostAsync(_world.Admin, $"/v1/secrets/{Path}/promote", new { version = 2, force = true }), HttpStatusCode.BadRequest, "unknown_field");

        var current = await ReadAsync();
        Assert.Equal(("old", 1L), (Password(current), current.GetProperty("epoch").GetInt64()));
        Assert.Equal(2, (await MetadataAsync()).GetProperty("pending_version").GetInt64());
    }

    [Fact]
    public async Task Rollback_SwapsCurrentAndPrevious_TwiceRestores()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "v1" });
        await Problems.AssertProblemAsync(await _world.PostAsync(_world.Admin, $"/v1/secrets/{Path}/rollback"), HttpStatusCode.Conflict, "no_previous_version");
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "v2" });

        var back = await PostJsonAsync($"/v1/secrets/{Path}/rollback", null);
        Assert.Equal((1L, 3L), (back.GetProperty("version").GetInt64(), back.GetProperty("epoch").GetInt64()));
        Assert.Equal("v1", Password(await ReadAsync()));
        Assert.Equal("v2", Password(await ReadAsync("?stage=previous")));

        var forth = await PostJsonAsync($"/v1/secrets/{Path}/rollback", null);
        Assert.Equal((2L, 4L), (forth.GetProperty("version").GetInt64(), forth.GetProperty("epoch").GetInt64()));
        Assert.Equal("v2", Password(await ReadAsync()));
    }

    [Fact]
    public async Task Rotate_NoDataAndNoGenerator_400NoGeneratorAndNothingStored()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "old" });

        await Problems.AssertProblemAsync(await _world.PostAsync(_world.Admin, $"/v1/secrets/{Path}/rotate"), HttpStatusCode.BadRequest, "no_generator");

        var metadata = await MetadataAsync();
        Assert.Equal((1L, 1), (metadata.GetProperty("latest_version").GetInt64(), metadata.GetProperty("versions").GetArrayLength()));
    }

    [Fact]
    public async Task Rotate_WithGenerator_GeneratesTheNamedFieldsAndCarriesTheOthersOver()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { username = "app", password = "old" });
        await PutPolicyAsync(new { generator = new { kind = "random", length = 32, alphabet = "abcdef", fields = new[] { "password" } } });

        var staged = await PostJsonAsync($"/v1/secrets/{Path}/rotate", null, HttpStatusCode.Created);
        var pending = await ReadAsync("?stage=pending");

        Assert.Equal(2, staged.GetProperty("version").GetInt64());
        Assert.Equal("app", pending.GetProperty("data").GetProperty("username").GetString());
        var generated = Password(pending);
        Assert.Equal(32, generated.Length);
        Assert.All(generated, c => Assert.Contains(c, "abcdef"));
    }

    [Fact]
    public async Task Rotate_DefaultGenerator_FillsEveryFieldWithAlphanumerics()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { a = "1", b = "2" });
        await PutPolicyAsync(new { generator = new { kind = "random", length = 40 } });

        await PostJsonAsync($"/v1/secrets/{Path}/rotate", null, HttpStatusCode.Created);
        var data = (await ReadAsync("?stage=pending")).GetProperty("data");

        foreach (var field in new[] { "a", "b" })
        {
            var value = data.GetProperty(field).GetString()!;
            Assert.Equal(40, value.Length);
            Assert.All(value, c => Assert.True(char.IsAsciiLetterOrDigit(c)));
        }

        Assert.NotEqual(data.GetProperty("a").GetString(), data.GetProperty("b").GetString());
    }

    [Fact]
    public async Task StagePrevious_PastTheGraceWindow_404GraceExpired()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "v1" });
        await PutPolicyAsync(new { grace = "10m" });
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "v2" });

        _clock.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal("v1", Password(await ReadAsync("?stage=previous")));

        _clock.Advance(TimeSpan.FromMinutes(2));
        await Problems.AssertProblemAsync(await _world.GetAsync(_world.Admin, $"/v1/secrets/{Path}?stage=previous"), HttpStatusCode.NotFound, "grace_expired");
        await Problems.AssertProblemAsync(await _world.GetAsync(_world.Admin, $"/v1/secrets/{Path}?stage=latest"), HttpStatusCode.BadRequest, "invalid_field");
        await Problems.AssertProblemAsync(await _world.GetAsync(_world.Admin, $"/v1/secrets/{Path}?stage=current&version=1"), HttpStatusCode.BadRequest, "invalid_request");
    }

    [Fact]
    public async Task AnomalyRotation_AdminPromotesAtOnce_AgentWithRotateIsRefused()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "old" });
        await _world.PutRoleAsync("rotator", [AgentWorld.Rule("apps/**", "read", "rotate")], "1h");
        var agent = await _world.StartAgentAsync("r", "run-1", "rotator");

        await Problems.AssertProblemAsync(
            await _world.PostAsync(agent.Token, $"/v1/secrets/{Path}/rotate", new { data = new { password = "x" }, reason = "anomaly" }), HttpStatusCode.Forbidden, "admin_token_required");
        await Problems.AssertProblemAsync(
            await _world.PostAsync(_world.Admin, $"/v1/secrets/{Path}/rotate", new { data = new { password = "x" }, reason = "because" }), HttpStatusCode.BadRequest, "invalid_field");
        Assert.Equal("old", Password(await ReadAsync()));

        var rotated = await PostJsonAsync($"/v1/secrets/{Path}/rotate", new { data = new { password = "fresh" }, reason = "anomaly" }, HttpStatusCode.Created);

        Assert.Equal(("current", 2L), (rotated.GetProperty("stage").GetString(), rotated.GetProperty("epoch").GetInt64()));
        Assert.Equal("fresh", Password(await ReadAsync()));
    }

    [Fact]
    public async Task RotationRoutes_NeedTheRotateCapability()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "old" });
        var reader = await _world.StartAgentAsync("w", "run-1", "worker");
        await _world.PutRoleAsync("rotator", [AgentWorld.Rule("apps/**", "read", "rotate")], "1h");
        var rotator = await _world.StartAgentAsync("r", "run-1", "rotator");

        await Problems.AssertProblemAsync(await _world.PostAsync(reader.Token, $"/v1/secrets/{Path}/rotate", new { data = new { password = "x" } }), HttpStatusCode.Forbidden, "permission_denied");
        await Problems.AssertProblemAsync(await _world.PostAsync(reader.Token, $"/v1/secrets/{Path}/rollback"), HttpStatusCode.Forbidden, "permission_denied");
        var staged = await PostJsonAsync($"/v1/secrets/{Path}/rotate", new { data = new { password = "x" } }, HttpStatusCode.Created, rotator.Token);
        await Problems.AssertProblemAsync(await _world.PostAsync(reader.Token, $"/v1/secrets/{Path}/promote", new { version = 2 }), HttpStatusCode.Forbidden, "permission_denied");
        await PostJsonAsync($"/v1/secrets/{Path}/promote", new { version = staged.GetProperty("version").GetInt64() }, token: rotator.Token);

        Assert.Equal("x", Password(await ReadAsync(token: reader.Token)));
    }

    [Fact]
    public async Task PutAfterRotate_TakesTheNextFreeNumberAndKeepsThePendingVersion()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "v1" });
        await PostJsonAsync($"/v1/secrets/{Path}/rotate", new { data = new { password = "staged" } }, HttpStatusCode.Created);

        var written = await _host.PutSecretAsync(_world.Admin, Path, new { password = "v3" });

        Assert.Equal(3, written);
        var metadata = await MetadataAsync();
        Assert.Equal((3L, 2L, 1L), (metadata.GetProperty("current_version").GetInt64(), metadata.GetProperty("pending_version").GetInt64(), metadata.GetProperty("previous_version").GetInt64()));
        Assert.Equal("staged", Password(await ReadAsync("?stage=pending")));
    }

    [Fact]
    public async Task MaxVersions_NeverPrunesAVersionHoldingAStage()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "v1" });
        using (var client = _host.Client(_world.Admin))
        {
            Assert.Equal(HttpStatusCode.NoContent, (await client.PutAsJsonAsync($"/v1/secret-metadata/{Path}", new { max_versions = 1 })).StatusCode);
        }

        await PostJsonAsync($"/v1/secrets/{Path}/rotate", new { data = new { password = "p2" } }, HttpStatusCode.Created);
        await PostJsonAsync($"/v1/secrets/{Path}/promote", new { version = 2 });
        await PostJsonAsync($"/v1/secrets/{Path}/rotate", new { data = new { password = "p3" } }, HttpStatusCode.Created);

        var metadata = await MetadataAsync();
        Assert.Equal([1L, 2L, 3L], metadata.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("version").GetInt64()));
        Assert.Equal("v1", Password(await ReadAsync("?stage=previous")));
    }

    [Fact]
    public async Task Policy_ShownByMetadataAndValidated()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "v1" });
        using var client = _host.Client(_world.Admin);
        async Task RefusedAsync(object rotation, string code) =>
            await Problems.AssertProblemAsync(await client.PutAsJsonAsync($"/v1/secret-metadata/{Path}", new { rotation }), HttpStatusCode.BadRequest, code);

        await RefusedAsync(new { period = "30s", generator = new { kind = "random", length = 32 } }, "invalid_field");
        await RefusedAsync(new { max_uses = 10 }, "no_generator");
        await RefusedAsync(new { period = "1h" }, "no_generator");
        await RefusedAsync(new { max_uses = 0, generator = new { kind = "random", length = 32 } }, "invalid_field");
        await RefusedAsync(new { generator = new { kind = "random", length = 4 } }, "invalid_field");
        await RefusedAsync(new { generator = new { kind = "derived", length = 32 } }, "invalid_field");
        await RefusedAsync(new { generator = new { kind = "random", length = 32, alphabet = "aa" } }, "invalid_field");
        await RefusedAsync(new { period = "1h", generatr = new { kind = "random", length = 32 } }, "unknown_field");
        Assert.Equal(JsonValueKind.Null, (await MetadataAsync()).GetProperty("rotation").ValueKind);

        await PutPolicyAsync(new { period = "6h", max_uses = 100, grace = "15m", generator = new { kind = "random", length = 32, fields = new[] { "password" } } });

        var rotation = (await MetadataAsync()).GetProperty("rotation");
        Assert.Equal((21600L, 100L, 900L, 0L), (rotation.GetProperty("period").GetInt64(), rotation.GetProperty("max_uses").GetInt64(), rotation.GetProperty("grace").GetInt64(), rotation.GetProperty("uses").GetInt64()));
        Assert.Equal(_clock.GetUtcNow().AddHours(6), rotation.GetProperty("next_rotation_at").GetDateTimeOffset());
        Assert.Equal(32, rotation.GetProperty("generator").GetProperty("length").GetInt32());
    }

    [Fact]
    public async Task MaxUses_ConcurrentReads_EveryNthUseRotatesExactlyAndStillGetsTheOldValue()
    {
        // Arrange: 5 uses per value, 60 concurrent reads → exactly 12 rotations
        const int maxUses = 5;
        const int reads = 60;
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "initial" });
        await PutPolicyAsync(new { max_uses = maxUses, generator = new { kind = "random", length = 24 } });
        var agent = await _world.StartAgentAsync("w", "run-1", "worker");

        // Act
        var results = await Task.WhenAll(Enumerable.Range(0, reads).Select(async _ =>
        {
            var read = await ReadAsync(token: agent.Token);
            return (Version: read.GetProperty("version").GetInt64(), Password: Password(read), Epoch: read.GetProperty("epoch").GetInt64());
        }));

        // Assert: each version served exactly max_uses times, always with one value; then rotated
        var byVersion = results.GroupBy(r => r.Version).ToDictionary(g => g.Key, g => g.ToArray());
        Assert.Equal(reads / maxUses, byVersion.Count);
        Assert.All(byVersion.Values, uses => Assert.Equal(maxUses, uses.Length));
        Assert.All(byVersion.Values, uses => Assert.Single(uses.Select(u => u.Password).Distinct()));
        Assert.Equal(reads / maxUses, results.Select(r => r.Password).Distinct().Count());
        var metadata = await MetadataAsync();
        Assert.Equal(1L + reads / maxUses, metadata.GetProperty("current_version").GetInt64());
        Assert.Equal(1L + reads / maxUses, metadata.GetProperty("epoch").GetInt64());
        Assert.Equal(0, metadata.GetProperty("rotation").GetProperty("uses").GetInt64());
    }

    [Theory]
    [InlineData("?version=1", 2L, 0L)] // counted while 1 is current: rotated on the 2nd read; reads of 1 as previous count nothing
    [InlineData("?stage=current", 3L, 1L)]
    [InlineData("", 3L, 1L)]
    public async Task MaxUses_ReadsOfTheCurrentVersion_CountHoweverItIsNamed(string query, long currentAfter, long usesAfter)
    {
        // Arrange: two uses per value
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "initial" });
        await PutPolicyAsync(new { max_uses = 2, generator = new { kind = "random", length = 24 } });

        // Act: the current version (1) named five ways in a row
        var served = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            using var response = await _world.GetAsync(_world.Admin, $"/v1/secrets/{Path}{query}");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                served.Add((await Problems.JsonAsync(response)).GetProperty("version").GetInt64());
            }
        }

        // Assert: every read of the current version counted; version 1 was the current one for exactly two of them
        Assert.Equal(5, served.Count);
        var metadata = await MetadataAsync();
        Assert.Equal((currentAfter, usesAfter), (metadata.GetProperty("current_version").GetInt64(), metadata.GetProperty("rotation").GetProperty("uses").GetInt64()));
    }

    [Fact]
    public async Task MaxUses_ReadsOfAnOlderVersion_CountNothing()
    {
        // Arrange: version 1, then version 2 current with two uses per value
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "one" });
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "two" });
        await PutPolicyAsync(new { max_uses = 2, generator = new { kind = "random", length = 24 } });

        // Act: five reads pinned to the older version
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("one", Password(await ReadAsync("?version=1")));
        }

        // Assert: the current version's count did not move
        var metadata = await MetadataAsync();
        Assert.Equal((2L, 0L), (metadata.GetProperty("current_version").GetInt64(), metadata.GetProperty("rotation").GetProperty("uses").GetInt64()));
    }

    [Fact]
    public async Task Promote_UnderConcurrentReaders_NoReaderSeesAnErrorOrATornValue()
    {
        // Arrange: every version's value names its version, so a torn read (one version's number, another's data) shows
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "value-1" });
        using var stop = new CancellationTokenSource();
        var failures = new ConcurrentQueue<string>();
        var seen = new ConcurrentDictionary<long, bool>();
        var readers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            using var client = _host.Client(_world.Admin);
            while (!stop.IsCancellationRequested)
            {
                using var response = await client.GetAsync($"/v1/secrets/{Path}");
                var text = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    failures.Enqueue(text);
                    continue;
                }

                using var body = JsonDocument.Parse(text);
                var version = body.RootElement.GetProperty("version").GetInt64();
                seen[version] = true;
                if (Password(body.RootElement) != $"value-{version}")
                {
                    failures.Enqueue($"version {version} came with another version's value");
                }
            }
        })).ToArray();

        // Act: 30 rotate+promote cycles and a rollback every fifth
        for (var i = 0; i < 30; i++)
        {
            var metadata = await MetadataAsync();
            var next = metadata.GetProperty("latest_version").GetInt64() + 1;
            await PostJsonAsync($"/v1/secrets/{Path}/rotate", new { data = new { password = $"value-{next}" } }, HttpStatusCode.Created);
            await PostJsonAsync($"/v1/secrets/{Path}/promote", new { version = next });
            if (i % 5 == 4)
            {
                await PostJsonAsync($"/v1/secrets/{Path}/rollback", null);
            }
        }

        await stop.CancelAsync();
        await Task.WhenAll(readers);

        // Assert
        Assert.Empty(failures);
        Assert.True(seen.Count > 1, "the readers should have seen several versions");
    }

    [Fact]
    public async Task Events_RotatePromoteRollback_OneSecretRotatedEachWithStageAndEpochAndNoValue()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "canary-old" });
        await using var stream = await SseStream.OpenAsync(_host, _world.Admin, "/v1/events");

        await PostJsonAsync($"/v1/secrets/{Path}/rotate", new { data = new { password = "canary-new" } }, HttpStatusCode.Created);
        await PostJsonAsync($"/v1/secrets/{Path}/promote", new { version = 2 });
        await PostJsonAsync($"/v1/secrets/{Path}/rollback", null);
        var events = await stream.ReadAsync(3, TimeSpan.FromSeconds(10));

        Assert.All(events, e => Assert.Equal("secret.rotated", e.Type));
        Assert.Equal([("pending", 2L, 1L), ("current", 2L, 2L), ("current", 1L, 3L)],
            events.Select(e => (e.Data.GetProperty("stage").GetString(), e.Data.GetProperty("version").GetInt64(), e.Data.GetProperty("epoch").GetInt64())));
        Assert.DoesNotContain(events, e => e.Raw.Contains("canary", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Audit_ReadsAndRotationsCarryVersionAndEpoch()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "v1" });
        await PostJsonAsync($"/v1/secrets/{Path}/rotate", new { data = new { password = "v2" } }, HttpStatusCode.Created);
        await PostJsonAsync($"/v1/secrets/{Path}/promote", new { version = 2 });
        await ReadAsync();

        var records = await _world.AuditAsync();

        var read = records.Last(r => r.GetProperty("operation").GetString() == "secret.read");
        Assert.Equal((2L, 2L), (read.GetProperty("version").GetInt64(), read.GetProperty("epoch").GetInt64()));
        var promote = records.Last(r => r.GetProperty("operation").GetString() == "secret.promote");
        Assert.Equal((2L, 2L), (promote.GetProperty("version").GetInt64(), promote.GetProperty("epoch").GetInt64()));
        Assert.DoesNotContain(records, r => r.GetRawText().Contains("\"v2\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Scheduler_PeriodElapsed_RotatesAndPromotesOnceWithAnAuditedEvent()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { username = "app", password = "v1" });
        await PutPolicyAsync(new { period = "10m", generator = new { kind = "random", length = 32, fields = new[] { "password" } } });
        Assert.Equal(0, await Scheduler.RunOnceAsync());

        _clock.Advance(TimeSpan.FromMinutes(10));
        var promoted = await Scheduler.RunOnceAsync();
        var again = await Scheduler.RunOnceAsync();

        Assert.Equal((1, 0), (promoted, again));
        var current = await ReadAsync();
        Assert.Equal((2L, "app"), (current.GetProperty("version").GetInt64(), current.GetProperty("data").GetProperty("username").GetString()));
        Assert.NotEqual("v1", Password(current));
        Assert.Equal("v1", Password(await ReadAsync("?stage=previous")));
        var rotation = (await MetadataAsync()).GetProperty("rotation");
        Assert.Equal(_clock.GetUtcNow().AddMinutes(10), rotation.GetProperty("next_rotation_at").GetDateTimeOffset());
        var audit = await _world.AuditAsync();
        Assert.Contains(audit, r => r.GetProperty("operation").GetString() == "secret.promote.scheduled"
            && r.GetProperty("actor").GetProperty("kind").GetString() == "scheduler" && r.GetProperty("version").GetInt64() == 2);
    }

    [Fact]
    public async Task Scheduler_SecondNode_CannotTakeALiveClaim()
    {
        await _host.PutSecretAsync(_world.Admin, Path, new { password = "v1" });
        await PutPolicyAsync(new { period = "10m", generator = new { kind = "random", length = 32 } });
        _clock.Advance(TimeSpan.FromMinutes(10));
        var nodeA = Scheduler;
        var nodeB = ActivatorUtilities.CreateInstance<RotationScheduler>(_host.Services);
        nodeA.AfterStage = _ => Task.WhenAll(Task.Run(async () => Assert.Equal(0, await nodeB.RunOnceAsync())));

        Assert.Equal(1, await nodeA.RunOnceAsync());

        nodeA.AfterStage = null;
        Assert.Equal(2, (await MetadataAsync()).GetProperty("current_version").GetInt64());
    }

    [Fact]
    public async Task Scheduler_CrashBetweenStageAndPromote_NextProcessPromotesTheStagedVersionAndLosesNeither()
    {
        // Arrange: a server on a data directory this test owns
        using var data = new TempDirectory();
        var clock = new ManualTimeProvider(_clock.GetUtcNow());
        var first = await StartHostAsync(clock, data.Path);
        var world = await AgentWorld.CreateAsync(first, "crash");
        await first.PutSecretAsync(world.Admin, Path, new { password = "v1" });
        using (var client = first.Client(world.Admin))
        {
            var response = await client.PutAsJsonAsync($"/v1/secret-metadata/{Path}", new { rotation = new { period = "10m", generator = new { kind = "random", length = 32 } } });
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }

        clock.Advance(TimeSpan.FromMinutes(10));
        var scheduler = first.Services.GetRequiredService<RotationScheduler>();
        scheduler.AfterStage = _ => throw new InvalidOperationException("the node dies here");

        // Act: the stage commits, the node dies before promoting; a new process on the same store takes over
        await Assert.ThrowsAsync<InvalidOperationException>(() => scheduler.RunOnceAsync());
        string staged;
        using (var client = first.Client(world.Admin))
        {
            staged = Password(await Problems.JsonAsync(await client.GetAsync($"/v1/secrets/{Path}?stage=pending")));
        }

        await first.DisposeAsync();
        await using var second = await StartHostAsync(clock, data.Path);
        var takeover = second.Services.GetRequiredService<RotationScheduler>();
        var beforeClaimLapsed = await takeover.RunOnceAsync();
        clock.Advance(RotationScheduler.ClaimLifetime + TimeSpan.FromSeconds(1));
        var afterClaimLapsed = await takeover.RunOnceAsync();

        // Assert: the staged value became current, the old one previous, and no third version was made
        Assert.Equal((0, 1), (beforeClaimLapsed, afterClaimLapsed));
        using var reader = second.Client(world.Admin);
        var current = await Problems.JsonAsync(await reader.GetAsync($"/v1/secrets/{Path}"));
        var previous = await Problems.JsonAsync(await reader.GetAsync($"/v1/secrets/{Path}?stage=previous"));
        var metadata = await Problems.JsonAsync(await reader.GetAsync($"/v1/secret-metadata/{Path}"));
        Assert.Equal((2L, staged), (current.GetProperty("version").GetInt64(), Password(current)));
        Assert.Equal("v1", Password(previous));
        Assert.Equal((2L, JsonValueKind.Null), (metadata.GetProperty("latest_version").GetInt64(), metadata.GetProperty("pending_version").ValueKind));
    }
}
