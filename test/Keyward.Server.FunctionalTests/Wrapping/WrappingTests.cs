using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Core.Leases;
using Keyward.Core.Tokens;
using Keyward.Core.Wrapping;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Wrapping;

/// <summary>
/// Response wrapping end to end: <c>X-Keyward-Wrap-TTL</c> on a secret read returns <c>{wrap_info}</c> instead of the
/// value; <c>POST /v1/wrapping/unwrap</c> with the <c>kww_</c> token returns the original body exactly once. Run on
/// both stores (<see cref="SqliteWrappingTests"/>, <see cref="PostgresWrappingTests"/>), on a fake clock.
/// </summary>
public abstract class WrappingTests : IAsyncLifetime
{
    private const string Canary = "wrapped-canary-9f2c41d7e0";
    private const string Path = "apps/web/db";

    protected ManualTimeProvider Clock { get; } = new();

    protected KeywardTestHost Host { get; private set; } = null!;

    private AgentWorld _acme = null!;

    protected abstract Task<KeywardTestHost> StartHostAsync();

    protected virtual Task CleanUpAsync() => Task.CompletedTask;

    public async Task InitializeAsync()
    {
        Host = await StartHostAsync();
        _acme = await AgentWorld.CreateAsync(Host, "acme");
        await Host.PutSecretAsync(_acme.Admin, Path, new { password = Canary, user = "web" });
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await CleanUpAsync();
    }

    private async Task<HttpResponseMessage> ReadAsync(string token, string target, string? wrapTtl)
    {
        using var client = Host.Client(token);
        using var request = new HttpRequestMessage(HttpMethod.Get, target);
        if (wrapTtl is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Keyward-Wrap-TTL", wrapTtl);
        }

        return await client.SendAsync(request);
    }

    private async Task<(JsonElement WrapInfo, string Text, string? RequestId)> WrapReadAsync(string? token = null, string target = "/v1/secrets/" + Path, string ttl = "60s")
    {
        using var response = await ReadAsync(token ?? _acme.Admin, target, ttl);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        using var document = JsonDocument.Parse(text);
        Assert.Equal(["wrap_info"], document.RootElement.EnumerateObject().Select(p => p.Name));
        return (document.RootElement.GetProperty("wrap_info").Clone(), text, response.Headers.GetValues("X-Request-Id").Single());
    }

    private async Task<HttpResponseMessage> UnwrapAsync(string? wrappingToken)
    {
        using var client = Host.Client(wrappingToken);
        return await client.PostAsync("/v1/wrapping/unwrap", content: null);
    }

    private async Task<string> TenantUidAsync(string id)
    {
        await using var session = await Host.Store.ReadAsync();
        return (await session.Tenants.GetByIdAsync(id))!.Uid;
    }

    private async Task<WrapRecord?> RowAsync(string token)
    {
        await using var session = await Host.Store.ReadAsync();
        return await session.Wraps.GetByHashAsync(TokenHasher.Hash(token));
    }

    private async Task<int> CountRowsAsync(string tenant)
    {
        var uid = await TenantUidAsync(tenant);
        await using var session = await Host.Store.ReadAsync();
        return await session.Wraps.CountAsync(uid);
    }

    [Fact]
    public async Task WrappedRead_AnswersWrapInfoOnly_AndUnwrapReturnsTheExactOriginalBodyOnce()
    {
        // Arrange: the body an unwrapped read answers.
        string original;
        using (var plain = await ReadAsync(_acme.Admin, "/v1/secrets/" + Path, wrapTtl: null))
        {
            original = await plain.Content.ReadAsStringAsync();
        }

        // Act
        var (info, text, _) = await WrapReadAsync(ttl: "90s");
        var token = info.GetProperty("token").GetString()!;
        using var first = await UnwrapAsync(token);
        var unwrapped = await first.Content.ReadAsStringAsync();
        using var second = await UnwrapAsync(token);

        // Assert: the wrapped answer carries no part of the value; the unwrap is byte for byte the read.
        Assert.DoesNotContain(Canary, text, StringComparison.Ordinal);
        Assert.DoesNotContain("\"data\"", text, StringComparison.Ordinal);
        Assert.StartsWith("kww_", token, StringComparison.Ordinal);
        Assert.True(token.Length >= 4 + 43, "256 random bits in base64url");
        Assert.Equal(90, info.GetProperty("ttl").GetInt64());
        Assert.Equal(Path, info.GetProperty("creation_path").GetString());
        Assert.Equal(Clock.GetUtcNow(), info.GetProperty("created_at").GetDateTimeOffset());
        Assert.Matches("^[0-9a-f]{32}$", info.GetProperty("accessor").GetString()!);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("application/json", first.Content.Headers.ContentType?.MediaType);
        Assert.Equal(original, unwrapped);
        Assert.Contains(Canary, unwrapped, StringComparison.Ordinal);
        await Problems.AssertProblemAsync(second, HttpStatusCode.NotFound, "wrap_token_used");
    }

    [Fact]
    public async Task SecondUnwrap_404WrapTokenUsed_AuditedWithTheAnomalyWrapReuse_AndNoRecordOrLogHoldsTheTokenOrValue()
    {
        // Arrange
        var (info, _, readRequest) = await WrapReadAsync();
        var token = info.GetProperty("token").GetString()!;
        var accessor = info.GetProperty("accessor").GetString()!;
        using var first = await UnwrapAsync(token);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);

        // Act
        using var second = await UnwrapAsync(token);

        // Assert
        await Problems.AssertProblemAsync(second, HttpStatusCode.NotFound, "wrap_token_used");
        var audit = new AuditLog(Host);
        var reuse = await audit.SingleAsync(second.Headers.GetValues("X-Request-Id").Single());
        Assert.Equal("wrap.unwrap", reuse.GetProperty("operation").GetString());
        Assert.Equal("wrap_reuse", reuse.GetProperty("anomaly").GetString());
        Assert.Equal(Path, reuse.GetProperty("path").GetString());
        Assert.Equal("acme", reuse.GetProperty("tenant").GetString());
        Assert.Equal(accessor, reuse.GetProperty("actor").GetProperty("accessor").GetString());
        Assert.Equal("error", reuse.GetProperty("outcome").GetString());

        var unwrap = await audit.SingleAsync(first.Headers.GetValues("X-Request-Id").Single());
        Assert.Equal("ok", unwrap.GetProperty("outcome").GetString());
        Assert.Equal(JsonValueKind.Null, unwrap.GetProperty("anomaly").ValueKind);

        var read = await audit.SingleAsync(readRequest);
        Assert.Equal("secret.read", read.GetProperty("operation").GetString());
        Assert.Equal("ok", read.GetProperty("outcome").GetString());
        Assert.Equal("true", read.GetProperty("details").GetProperty("wrapped").GetString());
        Assert.Equal(accessor, read.GetProperty("details").GetProperty("wrap_accessor").GetString());

        // The tenant's own view of the log agrees, and the anomaly was published as an event.
        var tenantLog = await _acme.AuditAsync();
        Assert.Contains(tenantLog, r => r.GetProperty("anomaly").GetString() == "wrap_reuse");

        var everything = audit.AllText + "\n" + string.Join('\n', tenantLog.Select(r => r.GetRawText()));
        foreach (var needle in new[] { token, token[4..], Canary })
        {
            Assert.DoesNotContain(needle, everything, StringComparison.Ordinal);
            Assert.DoesNotContain(needle, Host.Logs.All, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ConcurrentUnwraps_ExactlyOneGetsTheBody_TheOthers404WrapTokenUsed()
    {
        for (var round = 0; round < 3; round++)
        {
            // Arrange
            var token = (await WrapReadAsync()).WrapInfo.GetProperty("token").GetString()!;

            // Act: eight at once.
            var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
            {
                using var response = await UnwrapAsync(token);
                return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
            }));

            // Assert
            var winners = responses.Where(r => r.StatusCode == HttpStatusCode.OK).ToList();
            Assert.Single(winners);
            Assert.Contains(Canary, winners[0].Body, StringComparison.Ordinal);
            Assert.All(responses.Where(r => r.StatusCode != HttpStatusCode.OK), r =>
            {
                Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
                Assert.Contains("\"wrap_token_used\"", r.Body, StringComparison.Ordinal);
                Assert.DoesNotContain(Canary, r.Body, StringComparison.Ordinal);
            });
        }
    }

    [Fact]
    public async Task Expiry_Unwrap404WrapTokenExpired_SweeperErasesThePayload_ThenDeletesTheRowAfterRetention()
    {
        // Arrange: one token left to expire, one used.
        var expiring = (await WrapReadAsync(ttl: "60s")).WrapInfo.GetProperty("token").GetString()!;
        var used = (await WrapReadAsync(ttl: "60s")).WrapInfo.GetProperty("token").GetString()!;
        using (var ok = await UnwrapAsync(used))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        // Act + Assert: just before the TTL the payload is there; at the TTL it is not served.
        Clock.Advance(TimeSpan.FromSeconds(59));
        Assert.NotNull((await RowAsync(expiring))!.Payload);
        Clock.Advance(TimeSpan.FromSeconds(1));
        using (var expired = await UnwrapAsync(expiring))
        {
            await Problems.AssertProblemAsync(expired, HttpStatusCode.NotFound, "wrap_token_expired");
        }

        // (The host's own sweeper runs on the same clock and may get there first: what matters is the state.)
        var sweeper = Host.Services.GetRequiredService<Sweeper>();
        await sweeper.SweepOnceAsync();
        var row = await RowAsync(expiring);
        Assert.Equal(WrapState.Expired, row!.State);
        Assert.Null(row.Payload);
        using (var again = await UnwrapAsync(expiring))
        {
            await Problems.AssertProblemAsync(again, HttpStatusCode.NotFound, "wrap_token_expired");
        }

        // A late second unwrap of the used token is still recognized within the retention…
        Clock.Advance(WrappingService.Retention - TimeSpan.FromMinutes(2));
        Assert.Equal(0, (await sweeper.SweepOnceAsync()).DeletedWraps);
        Assert.NotNull(await RowAsync(used));
        using (var late = await UnwrapAsync(used))
        {
            await Problems.AssertProblemAsync(late, HttpStatusCode.NotFound, "wrap_token_used");
        }

        // …and after it both rows are gone: the tokens are then simply unknown.
        Clock.Advance(TimeSpan.FromMinutes(3));
        await sweeper.SweepOnceAsync();
        Assert.Null(await RowAsync(used));
        Assert.Null(await RowAsync(expiring));
        using var unknown = await UnwrapAsync(used);
        await Problems.AssertProblemAsync(unknown, HttpStatusCode.Unauthorized, "invalid_token");
    }

    [Theory]
    [InlineData("11m")]
    [InlineData("601")]
    [InlineData("1h")]
    [InlineData("0")]
    [InlineData("0s")]
    [InlineData("-5s")]
    [InlineData("abc")]
    [InlineData("60 s")]
    [InlineData("1m30s")]
    public async Task WrapTtl_OverTenMinutesZeroOrMalformed_400InvalidWrapTtl_AndNothingStored(string ttl)
    {
        // Act
        using var response = await ReadAsync(_acme.Admin, "/v1/secrets/" + Path, ttl);
        var text = await response.Content.ReadAsStringAsync();

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_wrap_ttl");
        Assert.DoesNotContain(Canary, text, StringComparison.Ordinal);
        Assert.Equal(0, await CountRowsAsync("acme"));
    }

    [Theory]
    [InlineData("10m")]
    [InlineData("600")]
    [InlineData("1s")]
    public async Task WrapTtl_UpToTenMinutes_Accepted(string ttl)
    {
        var (info, _, _) = await WrapReadAsync(ttl: ttl);
        Assert.True(info.GetProperty("ttl").GetInt64() is >= 1 and <= 600);
    }

    [Fact]
    public async Task WrappedRead_EveryQueryForm_WrapsWhatThatFormReads()
    {
        // Arrange: version 2 is current, version 1 previous.
        await Host.PutSecretAsync(_acme.Admin, Path, new { password = "second-" + Canary });
        foreach (var query in new[] { "?version=1", "?stage=current", "?stage=previous", "" })
        {
            string original;
            using (var plain = await ReadAsync(_acme.Admin, "/v1/secrets/" + Path + query, wrapTtl: null))
            {
                original = await plain.Content.ReadAsStringAsync();
                Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
            }

            // Act
            var token = (await WrapReadAsync(target: "/v1/secrets/" + Path + query)).WrapInfo.GetProperty("token").GetString()!;
            using var unwrapped = await UnwrapAsync(token);

            // Assert
            Assert.Equal(original, await unwrapped.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task UseOnlyToken_AskingForAWrappedRead_403_AndNoWrapRow()
    {
        // Arrange: a role that may use apps/web/** (the gateway injects it) but never read it.
        await _acme.PutRoleAsync("user", [AgentWorld.Rule("apps/web/**", "use")], "1h");
        var agent = await _acme.StartAgentAsync("injector", "run-1", role: "user");

        // Act
        using var response = await ReadAsync(agent.Token, "/v1/secrets/" + Path, "60s");

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.Forbidden, "permission_denied");
        Assert.Equal(0, await CountRowsAsync("acme"));
    }

    [Fact]
    public async Task WrappedRead_OfAMissingSecret_404AsUnwrapped_AndNoWrapRow()
    {
        using var response = await ReadAsync(_acme.Admin, "/v1/secrets/apps/none", "60s");
        await Problems.AssertProblemAsync(response, HttpStatusCode.NotFound, "secret_not_found");
        Assert.Equal(0, await CountRowsAsync("acme"));
    }

    [Fact]
    public async Task WrapHeader_OnAnyOtherRoute_400WrapNotSupported_AndNothingDone()
    {
        using var client = Host.Client(_acme.Admin);

        // A write with the header writes nothing.
        using (var put = new HttpRequestMessage(HttpMethod.Put, "/v1/secrets/apps/other") { Content = JsonContent.Create(new { data = new { a = "b" } }) })
        {
            put.Headers.Add("X-Keyward-Wrap-TTL", "60s");
            await Problems.AssertProblemAsync(await client.SendAsync(put), HttpStatusCode.BadRequest, "wrap_not_supported");
        }

        using (var read = await ReadAsync(_acme.Admin, "/v1/secrets/apps/other", wrapTtl: null))
        {
            await Problems.AssertProblemAsync(read, HttpStatusCode.NotFound, "secret_not_found");
        }

        // Listing, metadata, self and unwrap itself refuse it too.
        foreach (var target in new[] { "/v1/secrets?prefix=apps", "/v1/secret-metadata/" + Path, "/v1/auth/self" })
        {
            using var response = await ReadAsync(_acme.Admin, target, "60s");
            await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "wrap_not_supported");
        }

        var token = (await WrapReadAsync()).WrapInfo.GetProperty("token").GetString()!;
        using (var unwrapWithHeader = new HttpRequestMessage(HttpMethod.Post, "/v1/wrapping/unwrap"))
        {
            unwrapWithHeader.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            unwrapWithHeader.Headers.Add("X-Keyward-Wrap-TTL", "60s");
            using var anonymous = Host.Client(token: null);
            await Problems.AssertProblemAsync(await anonymous.SendAsync(unwrapWithHeader), HttpStatusCode.BadRequest, "wrap_not_supported");
        }

        // The refused unwrap did not consume the token.
        using var unwrap = await UnwrapAsync(token);
        Assert.Equal(HttpStatusCode.OK, unwrap.StatusCode);
    }

    [Fact]
    public async Task WrappingToken_AsABearerTokenAnywhereElse_401InvalidToken_AndStaysUnwrappable()
    {
        // Arrange
        var token = (await WrapReadAsync()).WrapInfo.GetProperty("token").GetString()!;

        // Act + Assert
        foreach (var target in new[] { "/v1/secrets/" + Path, "/v1/auth/self", "/v1/leases", "/v1/audit" })
        {
            using var response = await ReadAsync(token, target, wrapTtl: null);
            await Problems.AssertProblemAsync(response, HttpStatusCode.Unauthorized, "invalid_token");
        }

        using var unwrap = await UnwrapAsync(token);
        Assert.Equal(HttpStatusCode.OK, unwrap.StatusCode);
    }

    [Theory]
    [InlineData(null, HttpStatusCode.Unauthorized, "missing_token")]
    [InlineData("kww_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", HttpStatusCode.Unauthorized, "invalid_token")]
    [InlineData("kwr_test-root-token-0123456789abcdefghijklmnop", HttpStatusCode.Unauthorized, "invalid_token")]
    [InlineData("not a token", HttpStatusCode.Unauthorized, "invalid_token")]
    public async Task Unwrap_WithoutAWrappingTokenItKnows_401(string? token, HttpStatusCode status, string code)
    {
        using var client = Host.Client(token: null);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/wrapping/unwrap");
        if (token is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
        }

        await Problems.AssertProblemAsync(await client.SendAsync(request), status, code);
    }

    [Fact]
    public async Task Unwrap_AnotherAdminsTokenIsNotNeeded_TheWrappingTokenAloneIsTheCredential()
    {
        // Arrange: another tenant's admin holds nothing over acme; the wrapping token alone unwraps.
        var globex = await Host.CreateTenantAsync("globex");
        var token = (await WrapReadAsync()).WrapInfo.GetProperty("token").GetString()!;

        // Act: globex's admin token is no wrapping token.
        using (var client = Host.Client(globex))
        {
            await Problems.AssertProblemAsync(await client.PostAsync("/v1/wrapping/unwrap", null), HttpStatusCode.Unauthorized, "invalid_token");
        }

        using var unwrap = await UnwrapAsync(token);

        // Assert
        Assert.Contains(Canary, await unwrap.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lockdown_InvalidatesOutstandingTokens_404WrapTokenRevoked_BeforeAndAfterUnlock()
    {
        // Arrange: two outstanding tokens; another tenant's token is untouched.
        var globexAdmin = await Host.CreateTenantAsync("globex");
        await Host.PutSecretAsync(globexAdmin, "apps/x", new { k = "globex-value" });
        var first = (await WrapReadAsync()).WrapInfo.GetProperty("token").GetString()!;
        var second = (await WrapReadAsync()).WrapInfo.GetProperty("token").GetString()!;
        var globexToken = (await WrapReadAsync(globexAdmin, "/v1/secrets/apps/x")).WrapInfo.GetProperty("token").GetString()!;

        // Act
        using (var root = Host.Client())
        {
            var incident = await Problems.JsonAsync(await root.PostAsJsonAsync("/v1/tenants/acme/lockdown", new { reason = "wrap test" }));
            Assert.True(incident.TryGetProperty("incident_id", out _));
        }

        // Assert: erased at once, refused while locked and after the unlock.
        Assert.Null((await RowAsync(first))!.Payload);
        Assert.Equal(WrapState.Revoked, (await RowAsync(second))!.State);
        using (var locked = await UnwrapAsync(first))
        {
            await Problems.AssertProblemAsync(locked, HttpStatusCode.NotFound, "wrap_token_revoked");
        }

        using (var root = Host.Client())
        {
            Assert.Equal(HttpStatusCode.NoContent, (await root.PostAsJsonAsync("/v1/tenants/acme/unlock", new { })).StatusCode);
        }

        using (var unlocked = await UnwrapAsync(second))
        {
            await Problems.AssertProblemAsync(unlocked, HttpStatusCode.NotFound, "wrap_token_revoked");
        }

        using var other = await UnwrapAsync(globexToken);
        Assert.Contains("globex-value", await other.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Offboarding_InvalidatesOutstandingTokens_404WrapTokenRevoked()
    {
        // Arrange
        var token = (await WrapReadAsync()).WrapInfo.GetProperty("token").GetString()!;

        // Act
        using (var root = Host.Client())
        {
            var deleted = await root.DeleteAsync("/v1/tenants/acme");
            Assert.True(deleted.IsSuccessStatusCode, await deleted.Content.ReadAsStringAsync());
        }

        // Assert
        var row = await RowAsync(token);
        Assert.Equal(WrapState.Revoked, row!.State);
        Assert.Null(row.Payload);
        using var response = await UnwrapAsync(token);
        var text = await response.Content.ReadAsStringAsync();
        await Problems.AssertProblemAsync(response, HttpStatusCode.NotFound, "wrap_token_revoked");
        Assert.DoesNotContain(Canary, text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("revoke")]
    [InlineData("revoke_parent")]
    [InlineData("revoke_self")]
    [InlineData("run_complete")]
    [InlineData("bootstrap_replay")]
    public async Task RevokingTheTokenThatWrapped_OrAnAncestor_RevokesItsOutstandingWraps_404WrapTokenRevoked(string how)
    {
        // Arrange: an agent and the child it spawned; the child wraps a read. Another run's agent wraps one too.
        var bootstrap = await _acme.BootstrapAsync("lead-1", "run-1", "lead");
        var parent = await _acme.ExchangeAsync(bootstrap);
        var child = await _acme.SpawnAsync(parent, "worker-1", "worker");
        var bystander = await _acme.StartAgentAsync("lead-2", "run-2");
        var wrapped = (await WrapReadAsync(how == "revoke_self" ? parent.Token : child.Token)).WrapInfo.GetProperty("token").GetString()!;
        var untouched = (await WrapReadAsync(bystander.Token)).WrapInfo.GetProperty("token").GetString()!;

        // Act
        using var revoked = how switch
        {
            "revoke" => await _acme.PostAsync(_acme.Orchestrator, "/v1/auth/revoke", new { accessor = child.Accessor }),
            "revoke_parent" => await _acme.PostAsync(_acme.Orchestrator, "/v1/auth/revoke", new { accessor = parent.Accessor }),
            "revoke_self" => await _acme.PostAsync(parent.Token, "/v1/auth/revoke-self"),
            "run_complete" => await _acme.PostAsync(_acme.Orchestrator, "/v1/runs/run-1/complete"),
            _ => await _acme.ExchangeRawAsync(bootstrap), // a replay revokes the session the first exchange produced, with its subtree
        };
        Assert.True(revoked.StatusCode is HttpStatusCode.OK or HttpStatusCode.NoContent or HttpStatusCode.Conflict, await revoked.Content.ReadAsStringAsync());

        // Assert: erased in the revocation's transaction, refused on unwrap; the other run's wrap is untouched.
        var row = (await RowAsync(wrapped))!;
        Assert.Equal((WrapState.Revoked, null), (row.State, row.Payload));
        using (var refused = await UnwrapAsync(wrapped))
        {
            var text = await refused.Content.ReadAsStringAsync();
            await Problems.AssertProblemAsync(refused, HttpStatusCode.NotFound, "wrap_token_revoked");
            Assert.DoesNotContain(Canary, text, StringComparison.Ordinal);
        }

        using var other = await UnwrapAsync(untouched);
        Assert.Contains(Canary, await other.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unwrap_OfAWrapWhoseTokenWasRevokedButTheRowStayedActive_404WrapTokenRevoked()
    {
        // Arrange: a wrap row committed as its token's revocation committed (another node): still active, payload and all.
        await Host.CreateTenantAsync("globex"); // ReplaceAsync clears both tenants' rows
        var agent = await _acme.StartAgentAsync("lead-1", "run-1");
        var row = (await RowAsync((await WrapReadAsync(agent.Token)).WrapInfo.GetProperty("token").GetString()!))!;
        Assert.Equal(agent.Accessor, row.OwnerAccessor);
        Assert.Equal(HttpStatusCode.NoContent, (await _acme.PostAsync(_acme.Orchestrator, "/v1/auth/revoke", new { accessor = agent.Accessor })).StatusCode);
        var late = await ReplaceAsync(row, row);
        Assert.NotNull((await RowAsync(late))!.Payload);

        // Act
        using var response = await UnwrapAsync(late);

        // Assert: the unwrap itself checks the token that wrapped, and revokes the row.
        var text = await response.Content.ReadAsStringAsync();
        await Problems.AssertProblemAsync(response, HttpStatusCode.NotFound, "wrap_token_revoked");
        Assert.DoesNotContain(Canary, text, StringComparison.Ordinal);
        Assert.Equal((WrapState.Revoked, null), ((await RowAsync(late))!.State, (await RowAsync(late))!.Payload));
    }

    [Fact]
    public async Task StoredRow_MovedToAnotherTenantOrAccessor_FailsToDecrypt_AndNothingIsServed()
    {
        // Arrange: acme's wrapped payload as stored (someone with write access to the store, no key).
        await Host.CreateTenantAsync("globex");
        var row = (await RowAsync((await WrapReadAsync()).WrapInfo.GetProperty("token").GetString()!))!;
        var globexUid = await TenantUidAsync("globex");

        // Act + Assert: the same row under globex (same accessor, same bytes) does not open…
        var moved = await ReplaceAsync(row, row with { TenantUid = globexUid });
        await AssertUndecryptableAsync(moved);

        // …nor under acme with another accessor…
        var renamed = await ReplaceAsync(row, row with { Accessor = row.Accessor[..^1] + (row.Accessor[^1] == '0' ? '1' : '0') });
        await AssertUndecryptableAsync(renamed);

        // …while the row put back exactly as it was does: what failed above is the binding, nothing else.
        var restored = await ReplaceAsync(row, row);
        using var real = await UnwrapAsync(restored);
        Assert.Contains(Canary, await real.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    /// <summary>Deletes every wrap row of the store and inserts <paramref name="replacement"/> under a new token, which it returns.</summary>
    private async Task<string> ReplaceAsync(WrapRecord original, WrapRecord replacement)
    {
        var token = TokenHasher.NewToken(TokenKind.Wrapping);
        var tenants = new[] { await TenantUidAsync("acme"), await TenantUidAsync("globex"), original.TenantUid };
        await using var session = await Host.Store.WriteAsync();
        foreach (var uid in tenants)
        {
            await session.Wraps.RevokeTenantAsync(uid);
        }

        await session.Wraps.SweepAsync(DateTimeOffset.MaxValue, 1000);
        await session.Wraps.InsertAsync(replacement with { TokenHash = TokenHasher.Hash(token) });
        await session.CommitAsync();
        return token;
    }

    private async Task AssertUndecryptableAsync(string token)
    {
        using var response = await UnwrapAsync(token);
        var text = await response.Content.ReadAsStringAsync();
        await Problems.AssertProblemAsync(response, HttpStatusCode.InternalServerError, "undecryptable");
        Assert.DoesNotContain(Canary, text, StringComparison.Ordinal);
        Assert.DoesNotContain(Canary, Host.Logs.All, StringComparison.Ordinal);

        // Refused without consuming: the altered row keeps its payload for whoever investigates.
        Assert.NotNull((await RowAsync(token))!.Payload);
    }
}

/// <summary><see cref="WrappingTests"/> on the embedded SQLite store.</summary>
public sealed class SqliteWrappingTests : WrappingTests
{
    protected override Task<KeywardTestHost> StartHostAsync() => KeywardTestHost.StartAsync(services: s => s.AddSingleton<TimeProvider>(Clock));
}

/// <summary><see cref="WrappingTests"/> on a PostgreSQL store.</summary>
public sealed class PostgresWrappingTests : WrappingTests
{
    private readonly TempDirectory _data = new();
    private string _database = null!;

    protected override async Task<KeywardTestHost> StartHostAsync()
    {
        var cluster = await PostgresCluster.GetAsync();
        _database = await cluster.CreateDatabaseAsync();
        return await KeywardTestHost.StartAsync(
            new KeywardServerOptions
            {
                Dev = true,
                DevRootToken = KeywardTestHost.RootToken,
                DataDirectory = _data.Path,
                Storage = KeywardServerOptions.PostgresStorage,
                PostgresConnectionString = cluster.ConnectionString(_database),
            },
            s => s.AddSingleton<TimeProvider>(Clock));
    }

    protected override async Task CleanUpAsync()
    {
        await (await PostgresCluster.GetAsync()).DropDatabaseAsync(_database);
        _data.Dispose();
    }
}
