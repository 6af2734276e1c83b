using System.Net;
using Keyward.Client;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens.Derived;
using Keyward.Tests.Common;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Derived;

/// <summary>
/// Offline-attenuated (<c>kwd_</c>) tokens end to end: derived with the SDK from a real agent session, presented
/// over HTTP. A derived token may do only what its session's rules AND every caveat allow, dies with its session,
/// and is refused when anything about it is forged.
/// </summary>
public sealed class DerivedTokenTests : IClassFixture<DerivedTokenFixture>
{
    private const string Acme = DerivedTokenFixture.Acme;
    private const string Globex = DerivedTokenFixture.Globex;

    private static readonly string[] Read = ["read"];
    private static readonly string[] ReadList = ["read", "list"];
    private static readonly string[] All = ["read", "list", "write", "delete"];

    private readonly DerivedTokenFixture _fixture;

    public DerivedTokenTests(DerivedTokenFixture fixture)
    {
        _fixture = fixture;
    }

    private static TokenCaveat InAnHour => TokenCaveat.ExpiresAt(DateTimeOffset.UtcNow.AddHours(1));

    [Fact]
    public async Task SessionToken_CarriesAccessorAndRootTag_AndStillWorksItself()
    {
        // Arrange
        var (session, record) = await _fixture.SessionAsync(Acme, ("apps/web/**", ReadList));

        // Act
        var parsed = KeywardToken.Parse(session);
        var read = await _fixture.GetAsync(session, "/v1/secrets/apps/web/key");

        // Assert
        Assert.Matches("^kws_[A-Za-z0-9_-]{43}\\.[0-9a-f]{32}\\.[A-Za-z0-9_-]{43}$", session);
        Assert.Equal(record.Accessor, parsed.Accessor);
        Assert.False(parsed.IsDerived);
        Assert.Equal(DerivedTokenFixture.Value(Acme, "apps/web/key"), (await Problems.JsonAsync(read)).GetProperty("data").GetProperty("value").GetString());
        Assert.DoesNotContain(session, parsed.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_AllowedBySessionAndCaveats_Succeeds()
    {
        var (session, _) = await _fixture.SessionAsync(Acme, ("apps/**", All));
        var derived = KeywardToken.Parse(session).Attenuate(InAnHour, TokenCaveat.Path("apps/web/**"), TokenCaveat.Capabilities("read"));

        var read = await Problems.JsonAsync(await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/web/prod/key"));

        Assert.Equal(DerivedTokenFixture.Value(Acme, "apps/web/prod/key"), read.GetProperty("data").GetProperty("value").GetString());
        Assert.DoesNotContain(derived.Value, derived.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/v1/secrets/apps/api/key")] // outside the path caveat, inside the session
    [InlineData("/v1/secrets/apps/web-admin/key")] // sibling-prefix attack on apps/web/**
    [InlineData("/v1/secrets/apps/webx")]
    [InlineData("/v1/secrets/libs/web/key")] // outside the session
    public async Task Read_OutsideCaveatPath_Is403(string target)
    {
        var (session, _) = await _fixture.SessionAsync(Acme, ("apps/**", All));
        var derived = KeywardToken.Parse(session).Attenuate(InAnHour, TokenCaveat.Path("apps/web/**"));

        await Problems.AssertProblemAsync(await _fixture.GetAsync(derived.Value, target), HttpStatusCode.Forbidden, "permission_denied");
    }

    [Fact]
    public async Task LiteralPathCaveat_DoesNotCoverSiblingPrefixOrChildren()
    {
        var (session, _) = await _fixture.SessionAsync(Acme, ("apps/**", All));
        var derived = KeywardToken.Parse(session).Attenuate(InAnHour, TokenCaveat.Path("apps/web/key"));

        Assert.Equal(HttpStatusCode.OK, (await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/web/key")).StatusCode);
        await Problems.AssertProblemAsync(await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/web/db"), HttpStatusCode.Forbidden, "permission_denied");
        await Problems.AssertProblemAsync(await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/web-admin/key"), HttpStatusCode.Forbidden, "permission_denied");
    }

    [Fact]
    public async Task List_FilteredToCaveatPaths_NoSiblingPrefix()
    {
        var (session, _) = await _fixture.SessionAsync(Acme, ("apps/**", All));
        var derived = KeywardToken.Parse(session).Attenuate(InAnHour, TokenCaveat.Path("apps/web/**"), TokenCaveat.Capabilities("list"));

        var keys = (await Problems.JsonAsync(await _fixture.GetAsync(derived.Value, "/v1/secrets?prefix=apps"))).GetProperty("keys").EnumerateArray().Select(k => k.GetString()).ToList();

        Assert.NotEmpty(keys);
        Assert.All(keys, k => Assert.StartsWith("apps/web/", k, StringComparison.Ordinal));
        Assert.DoesNotContain(keys, k => k!.Contains("web-admin", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Write_WithReadOnlyCaveat_Is403AndWritesNothing()
    {
        var (session, _) = await _fixture.SessionAsync(Acme, ("apps/**", All));
        var derived = KeywardToken.Parse(session).Attenuate(InAnHour, TokenCaveat.Capabilities("read", "list"));

        await Problems.AssertProblemAsync(await _fixture.PutAsync(derived.Value, "apps/web/key", new { value = "overwritten" }), HttpStatusCode.Forbidden, "permission_denied");

        var read = await Problems.JsonAsync(await _fixture.GetAsync(_fixture.Admin[Acme], "/v1/secrets/apps/web/key"));
        Assert.Equal(DerivedTokenFixture.Value(Acme, "apps/web/key"), read.GetProperty("data").GetProperty("value").GetString());
    }

    [Fact]
    public async Task Caveats_CannotWidenTheSession()
    {
        // The caveat names more than the session has: the session's rules still bound the token.
        var (session, _) = await _fixture.SessionAsync(Acme, ("apps/web/**", Read));
        var derived = KeywardToken.Parse(session).Attenuate(InAnHour, TokenCaveat.Path("**"), TokenCaveat.Capabilities("read", "write", "list"));

        Assert.Equal(HttpStatusCode.OK, (await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/web/key")).StatusCode);
        await Problems.AssertProblemAsync(await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/api/key"), HttpStatusCode.Forbidden, "permission_denied");
        await Problems.AssertProblemAsync(await _fixture.PutAsync(derived.Value, "apps/web/key", new { value = "x" }), HttpStatusCode.Forbidden, "permission_denied");
    }

    [Fact]
    public async Task ToolCaveat_FailsClosedOutsideTheGateway()
    {
        var (session, _) = await _fixture.SessionAsync(Acme, ("apps/**", All));
        var derived = KeywardToken.Parse(session).Attenuate(InAnHour, TokenCaveat.Tool("crm"));

        await Problems.AssertProblemAsync(await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/web/key"), HttpStatusCode.Forbidden, "permission_denied");
    }

    [Theory]
    [InlineData("GET", "/v1/roles")]
    [InlineData("GET", "/v1/audit")]
    [InlineData("GET", "/v1/tenants")]
    [InlineData("POST", "/v1/tenants/acme/tokens")]
    public async Task AdminAndRootRoutes_Refused(string method, string target)
    {
        var (session, _) = await _fixture.SessionAsync(Acme, ("**", All));
        var derived = KeywardToken.Parse(session).Attenuate(InAnHour);
        using var client = _fixture.Host.Client(derived.Value);
        using var request = new HttpRequestMessage(new HttpMethod(method), target);
        if (method == "POST")
        {
            request.Content = System.Net.Http.Json.JsonContent.Create(new { kind = "admin", ttl = "1h" });
        }

        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task RevokedSession_DerivedRefusedAtOnce()
    {
        // Arrange: the derived token works (and its session is now cached on this node).
        var (session, record) = await _fixture.SessionAsync(Acme, ("apps/**", ReadList));
        var derived = KeywardToken.Parse(session).Attenuate(InAnHour, TokenCaveat.Path("apps/web/**"));
        var further = derived.Attenuate(TokenCaveat.SubAgent("child"));
        Assert.Equal(HttpStatusCode.OK, (await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/web/key")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _fixture.GetAsync(further.Value, "/v1/secrets/apps/web/key")).StatusCode);

        // Act
        await _fixture.RevokeAsync(record.Accessor);

        // Assert
        await Problems.AssertProblemAsync(await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/web/key"), HttpStatusCode.Unauthorized, "token_revoked");
        await Problems.AssertProblemAsync(await _fixture.GetAsync(further.Value, "/v1/secrets/apps/web/key"), HttpStatusCode.Unauthorized, "token_revoked");
        await Problems.AssertProblemAsync(await _fixture.GetAsync(session, "/v1/secrets/apps/web/key"), HttpStatusCode.Unauthorized, "token_revoked");
    }

    [Fact]
    public async Task ExpiredSession_DerivedRefused()
    {
        var (session, _) = await _fixture.SessionAsync(Acme, [new("apps/**", Read)], ttl: TimeSpan.FromSeconds(-1));
        var derived = KeywardToken.Parse(session).Attenuate(InAnHour);

        await Problems.AssertProblemAsync(await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/web/key"), HttpStatusCode.Unauthorized, "token_expired");
    }

    [Fact]
    public async Task ExpiredCaveat_Is401_EvenIfAnotherCaveatIsLater()
    {
        var (session, _) = await _fixture.SessionAsync(Acme, ("apps/**", Read));
        var derived = KeywardToken.Parse(session).Attenuate(TokenCaveat.ExpiresAt(DateTimeOffset.UtcNow.AddSeconds(-2)), InAnHour);

        await Problems.AssertProblemAsync(await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/web/key"), HttpStatusCode.Unauthorized, "token_expired");
    }

    [Fact]
    public async Task LockedTenant_DerivedIs423()
    {
        // A tenant of its own: locking acme or globex would break the other tests of this fixture.
        await _fixture.Host.CreateTenantAsync("lockme");
        var (session, _) = await _fixture.SessionAsync("lockme", ("apps/**", Read));
        var derived = KeywardToken.Parse(session).Attenuate(InAnHour);

        await _fixture.SetTenantStateAsync("lockme", TenantState.Locked);

        await Problems.AssertProblemAsync(await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/web/key"), (HttpStatusCode)423, "tenant_locked");
    }

    [Fact]
    public async Task OtherTenantsDerivedToken_ReadsOnlyItsOwnTenant()
    {
        // Arrange: globex's agent, with the very same path caveat.
        var (globexSession, _) = await _fixture.SessionAsync(Globex, ("apps/**", ReadList));
        var derived = KeywardToken.Parse(globexSession).Attenuate(InAnHour, TokenCaveat.Path("apps/web/**"));

        // Act
        var read = await Problems.JsonAsync(await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/web/key"));
        var list = await _fixture.GetAsync(derived.Value, "/v1/secrets?prefix=apps");

        // Assert: the tenant comes from the session, so the same path is globex's secret, never acme's.
        Assert.Equal(DerivedTokenFixture.Value(Globex, "apps/web/key"), read.GetProperty("data").GetProperty("value").GetString());
        Assert.DoesNotContain("canary-acme", await list.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OtherTenantsChainGraftedOntoAcmeSession_Refused()
    {
        // Globex's holder knows its own tags and acme's (non-secret) accessor: rewriting the token id must fail.
        var (acmeSession, acme) = await _fixture.SessionAsync(Acme, ("apps/**", Read));
        var (globexSession, _) = await _fixture.SessionAsync(Globex, ("apps/**", Read));
        var derived = KeywardToken.Parse(globexSession).Attenuate(InAnHour);
        var payload = System.Buffers.Text.Base64Url.DecodeFromChars(derived.Value.AsSpan(4));
        Convert.FromHexString(acme.Accessor).CopyTo(payload, 1);
        var grafted = "kwd_" + System.Buffers.Text.Base64Url.EncodeToString(payload);

        await Problems.AssertProblemAsync(await _fixture.GetAsync(grafted, "/v1/secrets/apps/web/key"), HttpStatusCode.Unauthorized, "invalid_token");
        Assert.NotNull(acmeSession);
    }

    [Fact]
    public async Task ChainRootedAtNonAgentToken_Refused()
    {
        // Even a correctly MAC'd chain is refused unless it starts at an agent session (admin tokens carry no root tag).
        var admin = await _fixture.Host.MintTokenAsync(Acme, "admin");
        var audit = await Problems.JsonAsync(await _fixture.GetAsync(admin, "/v1/audit?limit=1000"));
        var accessor = audit.GetProperty("records").EnumerateArray()
            .Select(r => r.GetProperty("actor")).First(a => a.GetProperty("kind").GetString() == "admin").GetProperty("accessor").GetString()!;

        var forged = _fixture.ForgeWithServerKey(accessor, Caveat.Expiry(DateTimeOffset.UtcNow.AddHours(1)));

        await Problems.AssertProblemAsync(await _fixture.GetAsync(forged, "/v1/secrets/apps/web/key"), HttpStatusCode.Unauthorized, "invalid_token");
    }

    public static TheoryData<string> Forgeries => new() { "tag", "caveat", "dropped", "appended", "unknown-caveat", "no-expiry", "garbage", "oversize" };

    [Theory]
    [MemberData(nameof(Forgeries))]
    public async Task ForgedOrMalformed_Is401InvalidToken_AuditedWithReasonButNoToken(string forgery)
    {
        // Arrange
        var (session, record) = await _fixture.SessionAsync(Acme, ("apps/**", ReadList));
        var derived = KeywardToken.Parse(session).Attenuate(InAnHour, TokenCaveat.Path("apps/web/**"));
        var payload = System.Buffers.Text.Base64Url.DecodeFromChars(derived.Value.AsSpan(4));
        byte[] Edit(Action<List<byte>> change)
        {
            var list = payload.ToList();
            change(list);
            return [.. list];
        }

        var token = forgery switch
        {
            "tag" => Kwd(Edit(b => b[^1] ^= 1)),
            "caveat" => Kwd(Edit(b => b[b.Count - 33] = (byte)'x')), // last char of the glob: apps/web/** → apps/web/*x
            "dropped" => Kwd(Edit(b => { b.RemoveRange(18 + 11, 3 + "apps/web/**".Length); b[17] = 1; })),
            "appended" => Kwd(Edit(b => { b.InsertRange(b.Count - 32, [5, 0, 1, (byte)'z']); b[17] = 3; })),
            "unknown-caveat" => UnknownCaveat(record.Accessor),
            "no-expiry" => NoExpiry(record.Accessor),
            "garbage" => "kwd_" + new string('A', 60) + "!",
            _ => "kwd_" + new string('A', 3000),
        };

        // Act
        var response = await _fixture.GetAsync(token, "/v1/secrets/apps/web/key");

        // Assert: the caller learns nothing more; the audit record says why, and never holds the token.
        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.Unauthorized, "invalid_token");
        Assert.Equal("The token is not valid.", problem.GetProperty("detail").GetString());
        var requestId = response.Headers.GetValues("X-Request-Id").Single();
        var entry = await AuditRecordAsync(requestId);
        Assert.Equal("denied", entry.GetProperty("outcome").GetString());
        Assert.False(string.IsNullOrEmpty(entry.GetProperty("details").GetProperty("refusal").GetString()));
        Assert.DoesNotContain(token[4..Math.Min(token.Length, 40)], entry.GetRawText(), StringComparison.Ordinal);
    }

    private async Task<System.Text.Json.JsonElement> AuditRecordAsync(string requestId)
    {
        var log = new Infrastructure.AuditLog(_fixture.Host);
        return await log.SingleAsync(requestId);
    }

    [Fact]
    public async Task AuditRecord_OfDerivedRequest_CarriesTheDelegationChain()
    {
        // Arrange
        var (session, record) = await _fixture.SessionAsync(Acme, ("apps/**", ReadList));
        var derived = KeywardToken.Parse(session)
            .Attenuate(InAnHour, TokenCaveat.Path("apps/**"), TokenCaveat.SubAgent("researcher"))
            .Attenuate(TokenCaveat.Path("apps/web/**"), TokenCaveat.SubAgent("fetcher"));

        // Act
        var response = await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/web/key");
        var denied = await _fixture.GetAsync(derived.Value, "/v1/secrets/apps/api/key");

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var log = await Problems.JsonAsync(await _fixture.GetAsync(_fixture.Admin[Acme], "/v1/audit?limit=1000&agent_id=planner"));
        var records = log.GetProperty("records").EnumerateArray().ToList();
        foreach (var (r, outcome) in new[] { (response, "ok"), (denied, "denied") })
        {
            var id = r.Headers.GetValues("X-Request-Id").Single();
            var entry = Assert.Single(records, x => x.GetProperty("request_id").GetString() == id);
            Assert.Equal(outcome, entry.GetProperty("outcome").GetString());
            var actor = entry.GetProperty("actor");
            Assert.Equal("derived", actor.GetProperty("kind").GetString());
            Assert.Equal(record.Accessor, actor.GetProperty("accessor").GetString());
            Assert.Equal("planner", actor.GetProperty("agent_id").GetString());
            Assert.Equal(
                ["session:" + record.Accessor, "agent:researcher", "agent:fetcher"],
                actor.GetProperty("chain").EnumerateArray().Select(c => c.GetString()!).ToArray());
        }

        var all = log.GetRawText();
        Assert.DoesNotContain(derived.Value[4..40], all, StringComparison.Ordinal);
        Assert.DoesNotContain(session.Split('.')[2], all, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SdkDerivedToken_AcceptedByServer_AndByteIdenticalToServerEncoding()
    {
        // Arrange: every caveat type, derived in two steps by the SDK.
        var (session, record) = await _fixture.SessionAsync(Acme, ("apps/**", All));
        var expiry = DateTimeOffset.UtcNow.AddMinutes(30);
        var sdk = KeywardToken.Parse(session)
            .Attenuate(TokenCaveat.ExpiresAt(expiry), TokenCaveat.Path("apps/*/key"), TokenCaveat.Capabilities("list", "read"))
            .Attenuate(TokenCaveat.SubAgent("worker-1.a_b"), TokenCaveat.Path("apps/web/**"));

        // Act: the server's own encoder from the session's root tag, and the server's parser on the SDK's token.
        var rootTag = System.Buffers.Text.Base64Url.DecodeFromChars(session.Split('.')[2]);
        var server = DerivedToken.Encode(record.Accessor, [], rootTag,
        [
            Caveat.Expiry(expiry), Caveat.Path("apps/*/key"), Caveat.Allow(Core.Policies.Capability.Read | Core.Policies.Capability.List),
            Caveat.Agent("worker-1.a_b"), Caveat.Path("apps/web/**"),
        ]);
        var read = await _fixture.GetAsync(sdk.Value, "/v1/secrets/apps/web/key");
        var outside = await _fixture.GetAsync(sdk.Value, "/v1/secrets/apps/api/key");

        // Assert
        Assert.Equal(server, sdk.Value);
        Assert.True(DerivedToken.TryParse(sdk.Value, out var parsed, out var reason), reason);
        Assert.Equal(sdk.Caveats.Select(c => c.ToString()), parsed!.Caveats.Select(c => c.ToString()));
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        await Problems.AssertProblemAsync(outside, HttpStatusCode.Forbidden, "permission_denied");
        var reparsed = KeywardToken.Parse(sdk.Value);
        Assert.Equal(sdk.Caveats.Select(c => c.ToString()), reparsed.Caveats.Select(c => c.ToString()));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(expiry.ToUnixTimeSeconds()), reparsed.ExpiresAt);
    }

    [Fact]
    public async Task SdkToken_ThroughKeywardClient_Reads()
    {
        var (session, _) = await _fixture.SessionAsync(Acme, ("apps/**", ReadList));
        var derived = KeywardToken.Parse(session).Attenuate(InAnHour, TokenCaveat.Path("apps/web/**"), TokenCaveat.Capabilities("read"));
        using var client = new KeywardClient(new KeywardClientOptions
        {
            Address = new Uri("http://localhost/"),
            Token = derived.Value,
            Handler = _fixture.Host.Host.App.GetTestServer().CreateHandler(),
        });

        var secret = await client.GetSecretAsync("apps/web/key");
        var failure = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => client.GetSecretAsync("apps/api/key"));

        Assert.True(secret.TryGetField("value", out var value));
        Assert.Equal(DerivedTokenFixture.Value(Acme, "apps/web/key"), value.GetString());
        Assert.Equal(403, failure.Status);
    }

    private string UnknownCaveat(string accessor)
    {
        // Correctly MAC'd under the server's key, so only the unknown type (9) can be why it is refused.
        var good = System.Buffers.Text.Base64Url.DecodeFromChars(_fixture.ForgeWithServerKey(accessor, Caveat.Expiry(DateTimeOffset.UtcNow.AddHours(1))).AsSpan(4));
        var tag = good[^32..];
        byte[] unknown = [9, 0, 1, 0];
        var next = System.Security.Cryptography.HMACSHA256.HashData(tag, unknown);
        byte[] payload = [.. good[..^32], .. unknown, .. next];
        payload[17] = 2;
        return Kwd(payload);
    }

    private string NoExpiry(string accessor)
    {
        var key = _fixture.Host.Services.GetRequiredService<Core.Seal.KeyHierarchy>().Require().Attenuation.Bytes;
        var tag = DerivedToken.RootTag(key, accessor);
        byte[] path = [2, 0, 7, .. "apps/**"u8];
        return Kwd([1, .. Convert.FromHexString(accessor), 1, .. path, .. System.Security.Cryptography.HMACSHA256.HashData(tag, path)]);
    }

    private static string Kwd(byte[] payload) => "kwd_" + System.Buffers.Text.Base64Url.EncodeToString(payload);
}
