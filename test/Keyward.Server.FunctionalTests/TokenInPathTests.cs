using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests;

/// <summary>One server for the token-in-path attempts: tenant acme, its admin token (the token that leaks) and a secret.</summary>
public sealed class TokenInPathFixture : IAsyncLifetime
{
    public KeywardTestHost Host { get; private set; } = null!;

    public AuditLog Audit { get; private set; } = null!;

    /// <summary>The admin token that every attempt leaks into its path (and presents as its credential).</summary>
    public string Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Host = await KeywardTestHost.StartAsync();
        Audit = new AuditLog(Host);
        Admin = await Host.CreateTenantAsync("acme");
        await Host.PutSecretAsync(Admin, "app/db", new { password = "s3cr3t" });
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>
/// A token in a path segment (a known prefix and at least 32 token characters, API.md): 400 <c>token_in_path</c> on
/// every route, before routing, and the token is never echoed (not in the answer, not in any log line) nor stored (the
/// audit record of the refusal has no path and no part of the token). Ordinary names that start with a prefix stay usable.
/// </summary>
public sealed class TokenInPathTests : IClassFixture<TokenInPathFixture>
{
    private const string Placeholder = "{token}";

    private readonly TokenInPathFixture _fixture;

    public TokenInPathTests(TokenInPathFixture fixture)
    {
        _fixture = fixture;
    }

    /// <summary>Every route family, with the leaked token as (or in) a segment; bearer: the admin token, or root.</summary>
    public static TheoryData<string, string, string?, bool> Families => new()
    {
        { "GET", "/v1/secrets/leaked/{token}", null, false },
        { "GET", "/v1/secrets/{token}", null, false },
        { "PUT", "/v1/secrets/app/{token}", """{"data":{"k":"v"}}""", false },
        { "POST", "/v1/secrets/{token}/destroy", """{"versions":[1]}""", false },
        { "DELETE", "/v1/secrets/app/{token}", null, false },
        { "GET", "/v1/secret-metadata/app/{token}", null, false },
        { "PUT", "/v1/secret-metadata/{token}", """{"max_versions":3}""", false },
        { "POST", "/v1/gateway/openai/v1/chat/{token}", """{"model":"m"}""", false },
        { "GET", "/v1/gateway/{token}/v1/models", null, false },
        { "GET", "/v1/integrations/{token}", null, false },
        { "GET", "/v1/roles/{token}", null, false },
        { "PUT", "/v1/roles/{token}", """{"rules":[],"max_ttl":"1h"}""", false },
        { "GET", "/v1/tenants/{token}", null, true },
        { "POST", "/v1/tenants/acme/tokens/{token}", """{"kind":"admin"}""", true },
        { "GET", "/v1/tenants/acme/rewrap/{token}", null, true },
        { "GET", "/v1/runs/{token}/tokens", null, false },
        { "POST", "/v1/runs/{token}/complete", null, false },
        { "GET", "/v1/leases/{token}", null, false },
        { "POST", "/v1/leases/revoke/{token}", null, false },
        { "POST", "/v1/wrapping/unwrap/{token}", null, false },
        { "POST", "/v1/agents/bootstrap/{token}", null, false },
        { "POST", "/v1/auth/exchange/{token}", null, false },
        { "GET", "/v1/auth/jwt/issuers/{token}", null, false },
        { "GET", "/v1/engines/postgres/{token}/roles", null, false },
        { "POST", "/v1/creds/postgres/main/{token}", null, false },
        { "GET", "/v1/audit/{token}", null, false },
        { "GET", "/v1/settings/{token}", null, false },
        { "GET", "/v1/events/{token}", null, false },
        { "GET", "/v1/sys/audit/{token}", null, true },
        { "GET", "/v1/sys/health/{token}", null, false },
        { "GET", "/{token}", null, false },
        { "GET", "/v2/{token}/x", null, false },
    };

    [Theory]
    [MemberData(nameof(Families))]
    public async Task AnyRoute_TokenInASegment_400TokenInPathNeitherEchoedNorStored(string method, string template, string? body, bool asRoot)
    {
        // Arrange
        var token = _fixture.Admin;
        var bearer = asRoot ? KeywardTestHost.RootToken : _fixture.Admin;

        // Act
        var response = await _fixture.Host.SendAsync(new RawRequest(method, template.Replace(Placeholder, token, StringComparison.Ordinal))
        {
            Authorization = [RawRequest.Bearer(bearer)],
            Body = body,
        });

        // Assert
        await AssertRefusedAsync(response, token, asRoot ? null : "acme");
    }

    /// <summary>The raw target may encode characters of the token; unreserved escapes are decoded before matching.</summary>
    public static TheoryData<string, string> Disguises => new()
    {
        { "encoded-underscore", "/v1/secrets/leaked/kwa%5F{body}" },
        { "encoded-prefix", "/v1/secrets/leaked/%6B%77%61%5f{body}" },
        { "encoded-body-letter", "/v1/secrets/leaked/kwa_%{hex0}{body1}" },
        { "upper-case-prefix", "/v1/secrets/leaked/KWA_{body}" },
        { "inside-a-segment", "/v1/secrets/leaked/note-kwa_{body}.txt" },
        { "gateway-upstream-path", "/v1/gateway/openai/v1/files/x-kwa_{body}" },
        { "token-then-query", "/v1/secret-metadata/kwa_{body}?version=1" },
    };

    [Theory]
    [MemberData(nameof(Disguises))]
    public async Task AnyRoute_TokenDisguisedInASegment_400TokenInPath(string disguise, string template)
    {
        // Arrange
        var token = _fixture.Admin;
        var tokenBody = token[4..];
        var target = template
            .Replace("{body}", tokenBody, StringComparison.Ordinal)
            .Replace("{hex0}", Convert.ToHexString([(byte)tokenBody[0]]), StringComparison.Ordinal)
            .Replace("{body1}", tokenBody[1..], StringComparison.Ordinal);

        // Act
        var response = await _fixture.Host.SendAsync(new RawRequest("GET", target) { Authorization = [RawRequest.Bearer(token)] });

        // Assert
        Assert.True(response.Status == 400 && response.ProblemCode == "token_in_path", $"{disguise}: {response}");
        await AssertRefusedAsync(response, token, "acme");
    }

    [Fact]
    public async Task EveryMappedRoute_TokenInASegment_400TokenInPath()
    {
        // Arrange: every route the app maps, its first parameter (or a segment appended) carrying the token.
        var token = _fixture.Admin;
        var routes = _fixture.Host.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => (Method: m, e.RoutePattern)))
            .ToList();
        Assert.True(routes.Count > 60, $"expected every route, found {routes.Count}");
        var checkedRoutes = 0;

        foreach (var (method, pattern) in routes)
        {
            var target = Target(pattern, token);

            // Act
            var response = await _fixture.Host.SendAsync(new RawRequest(method, target)
            {
                Authorization = [RawRequest.Bearer(_fixture.Admin)],
                Body = method is "PUT" or "POST" or "PATCH" ? "{}" : null,
            });

            // Assert
            Assert.True(response.Status == 400 && response.ProblemCode == "token_in_path", $"{method} {pattern.RawText}: {response}");
            AssertNoPartOf(token, response.Body, $"{method} {pattern.RawText}: the answer");
            checkedRoutes++;
        }

        var audit = await _fixture.Audit.RefreshAsync();
        AssertNoPartOf(token, _fixture.Audit.AllText, "the audit log");
        AssertNoPartOf(token, _fixture.Host.Logs.All, "the server log");
        Assert.Equal(routes.Count, checkedRoutes);
        Assert.NotEmpty(audit);
    }

    public static TheoryData<string> OrdinaryNames => new()
    {
        "kws_integration_settings_v2",
        "kwa_backup",
        "kwd_" + new string('a', 31),
        "kww_" + new string('x', 15) + "." + new string('y', 15),
        "KWS_" + new string('Z', 31),
    };

    [Theory]
    [MemberData(nameof(OrdinaryNames))]
    public async Task SecretPath_NameWithATokenPrefixAndUnder32Characters_Accepted(string name)
    {
        // Arrange
        using var client = _fixture.Host.Client(_fixture.Admin);

        // Act
        var write = await client.PutAsJsonAsync("/v1/secrets/names/" + name, new { data = new { k = "v" } });
        var read = await client.GetAsync("/v1/secrets/names/" + name);
        var metadata = await client.GetAsync("/v1/secret-metadata/names/" + name);

        // Assert
        await Problems.JsonAsync(write);
        var value = await Problems.JsonAsync(read);
        Assert.Equal("names/" + name, value.GetProperty("path").GetString());
        await Problems.JsonAsync(metadata);
    }

    [Fact]
    public async Task SecretPath_PrefixAnd32Characters_400TokenInPath()
    {
        // Arrange: not a token anyone minted, but shaped like one (the boundary of 31 accepted above).
        var name = "kwd_" + new string('a', 32);
        using var client = _fixture.Host.Client(_fixture.Admin);

        // Act
        var response = await client.PutAsJsonAsync("/v1/secrets/names/" + name, new { data = new { k = "v" } });

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "token_in_path");
    }

    private async Task AssertRefusedAsync(RawResponse response, string token, string? tenant)
    {
        Assert.True(response.Status == 400 && response.ProblemCode == "token_in_path", response.ToString());
        AssertNoPartOf(token, response.Body, "the answer");
        var record = await _fixture.Audit.SingleAsync(response.RequestId);
        AuditLog.AssertRecord(record, response, "request.rejected", tenant);
        Assert.Equal(JsonValueKind.Null, record.GetProperty("path").ValueKind);
        AssertNoPartOf(token, record.GetRawText(), "the audit record");
        AssertNoPartOf(token, _fixture.Host.Logs.All, "the server log");
    }

    /// <summary>No 8-character run of the token's random part (nor the token) in <paramref name="text"/>.</summary>
    private static void AssertNoPartOf(string token, string text, string where)
    {
        var secret = token[4..];
        for (var i = 0; i + 8 <= secret.Length; i++)
        {
            var part = secret.Substring(i, 8);
            Assert.False(
                text.Contains(part, StringComparison.OrdinalIgnoreCase),
                $"{where} holds part of the token ({i}..{i + 8})");
        }
    }

    private static string Target(Microsoft.AspNetCore.Routing.Patterns.RoutePattern pattern, string token)
    {
        var segments = new List<string>();
        var placed = false;
        foreach (var segment in pattern.PathSegments)
        {
            var text = string.Concat(segment.Parts.Select(part => part switch
            {
                Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart literal => literal.Content,
                Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart parameter when !placed => Place(parameter),
                Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart parameter => parameter.IsCatchAll ? "app/x" : "x",
                _ => "x",
            }));
            segments.Add(text);
        }

        if (!placed)
        {
            segments.Add(token);
        }

        return "/" + string.Join('/', segments);

        string Place(Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart parameter)
        {
            placed = true;
            return parameter.IsCatchAll ? "app/" + token : token;
        }
    }
}
