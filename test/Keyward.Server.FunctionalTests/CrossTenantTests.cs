using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Server.FunctionalTests.CrossTenant;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests;

/// <summary>
/// Adversarial cross-tenant suite: tenant <c>globex</c> (and everyone who is not a tenant) attacks tenant <c>acme</c>
/// over HTTP, and the other way round. Both hold same-named secrets with different canary values. Every attempt must
/// get the answer API.md documents, disclose nothing of the other tenant, change nothing, and leave exactly one audit
/// record with the right outcome, status, code, tenant and request id.
/// </summary>
public sealed class CrossTenantTests : IClassFixture<CrossTenantFixture>
{
    private const string Acme = CrossTenantAttacks.Acme;
    private const string Globex = CrossTenantAttacks.Globex;

    private readonly CrossTenantFixture _fixture;

    public CrossTenantTests(CrossTenantFixture fixture)
    {
        _fixture = fixture;
    }

    public static TheoryData<string> Attacks => CrossTenantAttacks.Names;

    public static TheoryData<string> KnownBugAttacks => CrossTenantAttacks.KnownBugNames;

    [Theory]
    [MemberData(nameof(Attacks))]
    public Task Attempt_AgainstOtherTenant_DocumentedAnswerNoDisclosureNothingChangedAudited(string name) => AttemptAsync(name);

    [Theory]
    [MemberData(nameof(KnownBugAttacks))]
    public Task Attempt_RewrapJobReadByTenantToken_AuditedUnderCallersTenant(string name) => AttemptAsync(name);

    [Fact]
    public async Task RewrapJobRead_ByOtherTenantsAdmin_NeverWrittenIntoVictimsAuditLog()
    {
        // Arrange
        var globex = _fixture.Admin[Globex];

        // Act
        var response = await _fixture.Host.SendAsync(new RawRequest("GET", $"/v1/tenants/{Acme}/rewrap/job-1") { Authorization = [RawRequest.Bearer(globex.Token)] });
        var acmeView = await new AuditLog(_fixture.Host, _fixture.Admin[Acme].Token, "/v1/audit").RefreshAsync();
        var globexView = await new AuditLog(_fixture.Host, globex.Token, "/v1/audit").RefreshAsync();

        // Assert: refused, on globex's record, and acme's admins never see globex's token accessor
        Assert.True(response.Status == 403 && response.ProblemCode == "root_token_required", response.ToString());
        Assert.Single(globexView, r => r.GetProperty("request_id").GetString() == response.RequestId);
        Assert.DoesNotContain(acmeView, r => r.GetProperty("request_id").GetString() == response.RequestId);
        Assert.DoesNotContain(acmeView, r => r.GetRawText().Contains(globex.Accessor, StringComparison.Ordinal));
    }

    private async Task AttemptAsync(string name)
    {
        // Arrange
        var attack = CrossTenantAttacks.All[name];
        var before = await _fixture.StateAsync(attack);
        var request = new RawRequest(attack.Method, _fixture.Fill(attack.Target))
        {
            Authorization = _fixture.Authorization(attack),
            Body = attack.Body,
            Headers = attack.Headers,
        };

        // Act
        var response = await _fixture.Host.SendAsync(request);

        // Assert
        AssertDocumentedAnswer(attack, response);
        AssertNoDisclosure(attack, response);
        var record = await _fixture.Audit.SingleAsync(response.RequestId);
        AuditLog.AssertRecord(record, response, attack.Operation, attack.AuditTenant);
        AssertActor(attack, record);
        Assert.Equal(before, await _fixture.StateAsync(attack));
    }

    [Fact]
    public async Task TenantAuditViews_AttemptsByOtherTenant_VisibleToAttackerAdminOnly()
    {
        // Arrange
        string[] names =
        [
            "globex-admin/secret.read.other", "globex-admin/role.delete.other", "globex-orchestrator/secret.write.other",
            "path-encoded-slash-upper/secret.read", "query-token/secret.read.other", "body-tenant/secret.write",
        ];
        var requestIds = new List<string>();

        // Act
        foreach (var name in names)
        {
            var attack = CrossTenantAttacks.All[name];
            var response = await _fixture.Host.SendAsync(new RawRequest(attack.Method, _fixture.Fill(attack.Target))
            {
                Authorization = _fixture.Authorization(attack),
                Body = attack.Body,
            });
            requestIds.Add(response.RequestId!);
        }

        var globexView = await new AuditLog(_fixture.Host, _fixture.Admin[Globex].Token, "/v1/audit").RefreshAsync();
        var acmeView = await new AuditLog(_fixture.Host, _fixture.Admin[Acme].Token, "/v1/audit").RefreshAsync();

        // Assert
        foreach (var requestId in requestIds)
        {
            Assert.Single(globexView, r => r.GetProperty("request_id").GetString() == requestId);
            Assert.DoesNotContain(acmeView, r => r.GetProperty("request_id").GetString() == requestId);
        }

        Assert.All(globexView, r => Assert.Equal(Globex, r.GetProperty("tenant").GetString()));
        Assert.All(acmeView, r => Assert.Equal(Acme, r.GetProperty("tenant").GetString()));
    }

    [Fact]
    public async Task SameNamedWrites_ByOtherTenantsAdmin_LandInItsOwnTenantOnly()
    {
        // Arrange
        await using var host = await KeywardTestHost.StartAsync();
        await Operator.CreateTenantAsync(host, Acme);
        await Operator.CreateTenantAsync(host, Globex);
        var acme = (await Operator.MintAsync(host, Acme, "admin")).Token;
        var globex = (await Operator.MintAsync(host, Globex, "admin")).Token;
        var acmeValue = Operator.Canary("acme-db");
        var globexValue = Operator.Canary("globex-db");
        await Operator.PutAsync(host, acme, "shared/db", new { password = acmeValue });
        await Operator.PutAsync(host, acme, "shared/db", new { password = acmeValue + "-v2" });
        await Operator.PutAsync(host, acme, "acme-only/key", new { token = acmeValue + "-only" });
        await Operator.SendOkAsync(host, acme, HttpMethod.Put, "/v1/secret-metadata/shared/db", new { custom_metadata = new { owner = "acme" } });
        await Operator.SendOkAsync(host, acme, HttpMethod.Put, "/v1/roles/shared-role", new { rules = new[] { new { path = "acme/**", capabilities = new[] { "read" } } }, max_ttl = "1h" });
        await Operator.SendOkAsync(host, acme, HttpMethod.Put, "/v1/roles/acme-role", new { rules = new[] { new { path = "acme/*", capabilities = new[] { "list" } } }, max_ttl = "1h" });
        string[] tracked = ["shared/db", "acme-only/key"];
        var acmeBefore = await Operator.TenantStateAsync(host, acme, tracked);
        using var client = host.Client(globex);
        var role = new { rules = new[] { new { path = "**", capabilities = new[] { "read", "write", "delete" } } }, max_ttl = "2h" };
        var requestIds = new List<string>();

        // Act
        async Task<HttpResponseMessage> SendAsync(HttpMethod method, string target, object? body = null)
        {
            using var message = new HttpRequestMessage(method, target) { Content = body is null ? null : JsonContent.Create(body) };
            var response = await client.SendAsync(message);
            requestIds.Add(response.Headers.GetValues("X-Request-Id").Single());
            return response;
        }

        var firstWrite = await Problems.JsonAsync(await SendAsync(HttpMethod.Put, "/v1/secrets/shared/db", new { data = new { password = globexValue }, cas = 0 }));
        var otherWrite = await Problems.JsonAsync(await SendAsync(HttpMethod.Put, "/v1/secrets/acme-only/key", new { data = new { token = globexValue + "-only" } }));
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Put, "/v1/secret-metadata/shared/db", new { max_versions = 1, custom_metadata = new { owner = "globex" } })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/v1/roles/shared-role", role)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/v1/roles/acme-role", role)).StatusCode);
        var globexRole = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, "/v1/roles/acme-role"));
        var globexRead = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, "/v1/secrets/acme-only/key"));
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, "/v1/secrets/shared/db")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Post, "/v1/secrets/shared/db/destroy", new { versions = new[] { 1 } })).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, "/v1/secret-metadata/acme-only/key")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, "/v1/roles/shared-role")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, "/v1/roles/acme-role")).StatusCode);

        // Assert
        Assert.Equal(1, firstWrite.GetProperty("version").GetInt64());
        Assert.Equal(1, otherWrite.GetProperty("version").GetInt64());
        Assert.Equal(globexValue + "-only", globexRead.GetProperty("data").GetProperty("token").GetString());
        Assert.Equal(7200, globexRole.GetProperty("max_ttl").GetInt64());
        Assert.Equal(acmeBefore, await Operator.TenantStateAsync(host, acme, tracked));
        using var acmeClient = host.Client(acme);
        var acmeRead = await Problems.JsonAsync(await acmeClient.GetAsync("/v1/secrets/shared/db"));
        Assert.Equal(acmeValue + "-v2", acmeRead.GetProperty("data").GetProperty("password").GetString());
        var acmeAudit = await new AuditLog(host, acme, "/v1/audit").RefreshAsync();
        var all = await new AuditLog(host).RefreshAsync();
        foreach (var requestId in requestIds)
        {
            Assert.DoesNotContain(acmeAudit, r => r.GetProperty("request_id").GetString() == requestId);
            var record = Assert.Single(all, r => r.GetProperty("request_id").GetString() == requestId);
            Assert.Equal(Globex, record.GetProperty("tenant").GetString());
            Assert.Equal("ok", record.GetProperty("outcome").GetString());
        }

        Assert.DoesNotContain(acmeValue, string.Concat(all.Select(r => r.GetRawText())), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeletedTenantTokens_EveryRoute_401TokenRevokedAuditedOtherTenantUntouched()
    {
        // Arrange
        await using var host = await KeywardTestHost.StartAsync();
        await Operator.CreateTenantAsync(host, Acme);
        await Operator.CreateTenantAsync(host, Globex);
        var acmeAdmin = (await Operator.MintAsync(host, Acme, "admin")).Token;
        var acmeOrchestrator = (await Operator.MintAsync(host, Acme, "orchestrator")).Token;
        var globex = (await Operator.MintAsync(host, Globex, "admin")).Token;
        var acmeValue = Operator.Canary("acme");
        var globexValue = Operator.Canary("globex");
        await Operator.PutAsync(host, acmeAdmin, "shared/db", new { password = acmeValue });
        await Operator.PutAsync(host, acmeAdmin, "acme-only/key", new { token = acmeValue });
        await Operator.PutAsync(host, globex, "shared/db", new { password = globexValue });
        await Operator.PutAsync(host, globex, "globex-only/key", new { token = globexValue });
        var globexBefore = await Operator.TenantStateAsync(host, globex, []);
        using (var root = host.Client())
        {
            Assert.Equal(HttpStatusCode.NoContent, (await root.DeleteAsync("/v1/tenants/" + Acme)).StatusCode);
        }

        var audit = new AuditLog(host);
        var attempts = CrossTenantAttacks.RouteList(Acme, Globex).Concat(CrossTenantAttacks.RouteList(Globex, Acme)).ToList();

        // Act / Assert
        foreach (var token in new[] { acmeAdmin, acmeOrchestrator })
        {
            foreach (var (id, method, target, body, operation) in attempts)
            {
                var response = await host.SendAsync(new RawRequest(method, target) { Authorization = [RawRequest.Bearer(token)], Body = body });
                Assert.True(response.Status == 401 && response.ProblemCode == "token_revoked", $"{id}: {response}");
                AssertProblemShape(response);
                Assert.DoesNotContain(acmeValue, response.Body, StringComparison.Ordinal);
                Assert.DoesNotContain(globexValue, response.Body, StringComparison.Ordinal);
                var record = await audit.SingleAsync(response.RequestId);
                // Still a known token: the attempt lands in the deleted tenant's records, which only root can read.
                AuditLog.AssertRecord(record, response, operation, tenant: Acme);
                Assert.DoesNotContain(token, record.GetRawText(), StringComparison.Ordinal);
            }
        }

        // The id is retired for good; the other tenant is exactly as it was; the deleted tenant's records stay for root.
        using var operatorClient = host.Client();
        await Problems.AssertProblemAsync(await operatorClient.PostAsJsonAsync("/v1/tenants", new { id = Acme }), HttpStatusCode.Conflict, "tenant_id_retired");
        await Problems.AssertProblemAsync(
            await operatorClient.PostAsJsonAsync($"/v1/tenants/{Acme}/tokens", new { kind = "admin", ttl = "1h" }), HttpStatusCode.NotFound, "tenant_not_found");
        Assert.Equal(globexBefore, await Operator.TenantStateAsync(host, globex, []));
        var acmeRecords = await new AuditLog(host, KeywardTestHost.RootToken, "/v1/sys/audit?tenant=" + Acme).RefreshAsync();
        Assert.Contains(acmeRecords, r => r.GetProperty("operation").GetString() == "secret.write");
        Assert.DoesNotContain(acmeValue, string.Concat(acmeRecords.Select(r => r.GetRawText())), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RevokedRootToken_EveryRoute_401TokenRevokedAuditedTenantsUntouched()
    {
        // Arrange
        await using var host = await KeywardTestHost.StartAsync();
        await Operator.CreateTenantAsync(host, Acme);
        var acme = (await Operator.MintAsync(host, Acme, "admin")).Token;
        var value = Operator.Canary("acme");
        await Operator.PutAsync(host, acme, "shared/db", new { password = value });
        var acmeBefore = await Operator.TenantStateAsync(host, acme, []);
        using (var root = host.Client())
        {
            Assert.Equal(HttpStatusCode.NoContent, (await root.PostAsync("/v1/sys/root-token/revoke", null)).StatusCode);
        }

        (string Id, string Method, string Target, string? Body, string Operation)[] sys =
        [
            ("sys.seal", "POST", "/v1/sys/seal", null, "sys.seal"),
            ("sys.root-token.revoke", "POST", "/v1/sys/root-token/revoke", null, "sys.root_token.revoke"),
            ("sys.audit.verify", "GET", "/v1/sys/audit/verify", null, "sys.audit.verify"),
            ("sys.metrics", "GET", "/v1/sys/metrics", null, "sys.metrics"),
            ("tenant.create", "POST", "/v1/tenants", """{"id":"initech"}""", "tenant.create"),
        ];
        var attempts = CrossTenantAttacks.RouteList(Globex, Acme).Concat(sys).ToList();
        var responses = new List<(string Operation, RawResponse Response)>();

        // Act
        foreach (var (id, method, target, body, operation) in attempts)
        {
            var response = await host.SendAsync(new RawRequest(method, target) { Authorization = [RawRequest.Bearer(KeywardTestHost.RootToken)], Body = body });
            Assert.True(response.Status == 401 && response.ProblemCode == "token_revoked", $"{id}: {response}");
            AssertProblemShape(response);
            Assert.DoesNotContain(value, response.Body, StringComparison.Ordinal);
            responses.Add((operation, response));
        }

        // Assert: nothing happened (still unsealed, no tenant created, acme as it was), and every attempt is on record.
        using var anonymous = host.Client(token: null);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/v1/sys/health")).StatusCode);
        Assert.Equal(acmeBefore, await Operator.TenantStateAsync(host, acme, []));
        var generated = await Problems.JsonAsync(await anonymous.PostAsJsonAsync("/v1/sys/generate-root", new { keys = Operator.DevUnsealKeys(host) }));
        var newRoot = generated.GetProperty("root_token").GetString()!;
        var audit = new AuditLog(host, newRoot);
        foreach (var (operation, response) in responses)
        {
            var record = await audit.SingleAsync(response.RequestId);
            AuditLog.AssertRecord(record, response, operation, tenant: null);
            Assert.DoesNotContain(KeywardTestHost.RootToken, record.GetRawText(), StringComparison.Ordinal);
        }

        using var rootAgain = host.Client(newRoot);
        await Problems.AssertProblemAsync(await rootAgain.GetAsync("/v1/tenants/initech"), HttpStatusCode.NotFound, "tenant_not_found");
    }

    [Fact]
    public async Task UnroutedProbe_WithOtherTenantInPath_AuditedAndAttributed()
    {
        // Arrange
        var token = _fixture.Admin[Globex].Token;
        (string Method, string Target, string Code)[] probes =
        [
            ("GET", $"/v1/tenants/{Acme}/secrets/shared/db", "route_not_found"),
            ("GET", $"/v1/{Acme}/secrets/shared/db", "route_not_found"),
            ("POST", $"/v1/secrets/{Acme}-only/key", "method_not_allowed"),
            ("PATCH", $"/v1/secrets/{Acme}-only/key", "method_not_allowed"),
        ];

        foreach (var (method, target, code) in probes)
        {
            // Act
            var response = await _fixture.Host.SendAsync(new RawRequest(method, target) { Authorization = [RawRequest.Bearer(token)] });

            // Assert
            Assert.True(response.ProblemCode == code, response.ToString());
            var records = await _fixture.Audit.ForRequestAsync(response.RequestId);
            var record = Assert.Single(records);
            Assert.Equal(Globex, record.GetProperty("tenant").GetString());
            Assert.Equal(code, record.GetProperty("code").GetString());
        }
    }

    private static void AssertDocumentedAnswer(Attack attack, RawResponse response)
    {
        var answer = response.Status < 300 ? response.Status.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{response.Status} {response.ProblemCode}";
        Assert.True(attack.Allowed.Contains(answer), $"{attack.Name}: expected one of [{string.Join(", ", attack.Allowed)}], got {response}");
        if (response.Status >= 400)
        {
            AssertProblemShape(response);
        }
    }

    private static void AssertProblemShape(RawResponse response)
    {
        Assert.True(response.IsProblem, $"not problem+json: {response}");
        var problem = response.Json();
        Assert.Equal(response.Status, problem.GetProperty("status").GetInt32());
        foreach (var field in new[] { "type", "title", "detail", "code" })
        {
            Assert.False(string.IsNullOrEmpty(problem.GetProperty(field).GetString()), $"problem.{field} is empty: {response}");
        }
    }

    private void AssertNoDisclosure(Attack attack, RawResponse response)
    {
        var forbidden = _fixture.CanariesOf(attack.Victim)
            .Concat(_fixture.SecretCanariesOf(attack.Attacker))
            .Concat(response.Status < 300 ? [] : _fixture.MarkersOf(attack.Attacker))
            .Concat(attack.MustNotContain);
        string? own = null;
        if (attack.OwnCanary is { } label)
        {
            var colon = label.IndexOf(':', StringComparison.Ordinal);
            own = _fixture.Canary(label[..colon], label[(colon + 1)..]);
            Assert.True(response.Body.Contains(own, StringComparison.Ordinal), $"{attack.Name}: the legitimate read did not return the caller's own data: {response}");
        }

        foreach (var text in forbidden.Where(t => t != own))
        {
            Assert.False(response.Body.Contains(text, StringComparison.Ordinal), $"{attack.Name}: response discloses '{text}': {response}");
        }

        if (attack.AuditPage)
        {
            foreach (var record in response.Json().GetProperty("records").EnumerateArray())
            {
                Assert.Equal(attack.Attacker, record.GetProperty("tenant").GetString());
            }
        }
    }

    private void AssertActor(Attack attack, JsonElement record)
    {
        var actor = record.GetProperty("actor");
        var kind = actor.GetProperty("kind").GetString();
        var accessor = actor.GetProperty("accessor").GetString();
        if (attack.Who is Who.ExpiredVictimAdmin or Who.ExpiredVictimOrchestrator)
        {
            // An expired token is still known: the record names its kind and accessor, never the token.
            var expired = attack.Who == Who.ExpiredVictimAdmin ? _fixture.ExpiredAdmin[attack.Victim] : _fixture.ExpiredOrchestrator[attack.Victim];
            Assert.Equal(attack.Who == Who.ExpiredVictimAdmin ? "admin" : "orchestrator", kind);
            Assert.Equal(_fixture.ExpiredAccessors[expired], accessor);
        }
        else if (attack.AuditTenant is not null)
        {
            var minted = attack.Who == Who.Orchestrator ? _fixture.Orchestrator[attack.Attacker] : _fixture.Admin[attack.Attacker];
            Assert.Equal(attack.Who == Who.Orchestrator ? "orchestrator" : "admin", kind);
            Assert.Equal(minted.Accessor, accessor);
        }
        else if (attack.Who == Who.Root)
        {
            Assert.Equal("root", kind);
        }
        else
        {
            Assert.Null(accessor);
            Assert.Contains(kind, new[] { "anonymous", "unknown" });
        }

        var text = record.GetRawText();
        foreach (var token in _fixture.AllTokens())
        {
            Assert.False(text.Contains(token[4..], StringComparison.Ordinal), $"{attack.Name}: the audit record carries a token: {text}");
        }

        var victimAdmin = _fixture.Admin[attack.Victim].Token;
        Assert.DoesNotContain(victimAdmin[4..^1], text, StringComparison.Ordinal);
    }
}
