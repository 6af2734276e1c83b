using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests;

/// <summary>One server with one tenant for the bad-input suite; every test works on paths of its own.</summary>
public sealed class BadInputFixture : IAsyncLifetime
{
    public KeywardTestHost Host { get; private set; } = null!;

    public string Admin { get; private set; } = null!;

    /// <summary>The tenant's audit records as root reads them, fetched incrementally.</summary>
    public AuditLog TenantAudit { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Host = await KeywardTestHost.StartAsync();
        TenantAudit = new AuditLog(Host, KeywardTestHost.RootToken, "/v1/sys/audit?tenant=acme");
        Admin = await Host.CreateTenantAsync("acme");
        await Host.PutSecretAsync(Admin, "a/b", new { k = "v" });
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>
/// Malformed, ill-typed, unknown, duplicate, missing and out-of-range input on every route that takes some: each is
/// refused with its documented 4xx and stable code as problem+json, and nothing stored changes (read back through
/// the API: metadata, every version, listings, roles, tenants).
/// </summary>
public sealed class BadInputTests : IClassFixture<BadInputFixture>
{
    private readonly BadInputFixture _fixture;

    public BadInputTests(BadInputFixture fixture)
    {
        _fixture = fixture;
    }

    private KeywardTestHost Host => _fixture.Host;

    private string Admin => _fixture.Admin;

    private static string NewPath(string label) => $"bad/{label}-{Guid.NewGuid():N}";

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string target, string? body = null, string? token = null)
    {
        using var client = Host.Client(token ?? Admin);
        using var request = new HttpRequestMessage(method, target);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        return await client.SendAsync(request);
    }

    /// <summary>A path with two versions, the first soft-deleted.</summary>
    private async Task<string> SeedAsync(string label)
    {
        var path = NewPath(label);
        await Operator.PutAsync(Host, Admin, path, new { k = "v1" });
        await Operator.PutAsync(Host, Admin, path, new { k = "v2" });
        await Operator.SendOkAsync(Host, Admin, HttpMethod.Delete, $"/v1/secrets/{path}?versions=1");
        return path;
    }

    private Task<string> StateAsync(string path) => Operator.SecretStateAsync(Host, Admin, path);

    public static TheoryData<string, string, string> MalformedSecretBodies => new()
    {
        { "truncated", """{"data":{"k":"v"}""", "malformed_json" },
        { "trailing-garbage", """{"data":{"k":"v"}} x""", "malformed_json" },
        { "two-documents", """{"data":{"k":"v"}}{"data":{"k":"w"}}""", "malformed_json" },
        { "single-quotes", "{'data':{'k':'v'}}", "malformed_json" },
        { "trailing-comma", """{"data":{"k":"v"},}""", "malformed_json" },
        { "comment", """{"data":{"k":"v"} /* c */}""", "malformed_json" },
        { "nan", """{"data":{"k":NaN}}""", "malformed_json" },
        { "unquoted-key", """{data:{"k":"v"}}""", "malformed_json" },
        { "invalid-utf8-escape", """{"data":{"k":"\uZZZZ"}}""", "malformed_json" },
        { "too-deep", """{"data":""" + string.Concat(Enumerable.Repeat("""{"a":""", 40)) + "1" + new string('}', 41), "malformed_json" },
        { "empty", "", "malformed_json" },
        { "whitespace", " \r\n\t ", "malformed_json" },
        { "array", """[{"data":{"k":"v"}}]""", "malformed_json" },
        { "string", "\"data\"", "malformed_json" },
        { "number", "1", "malformed_json" },
        { "null", "null", "malformed_json" },
        { "true", "true", "malformed_json" },
        { "duplicate-data", """{"data":{"k":"1"},"data":{"k":"2"}}""", "malformed_json" },
        { "duplicate-cas", """{"data":{"k":"v"},"cas":2,"cas":0}""", "malformed_json" },
        { "duplicate-inside-data", """{"data":{"k":"1","k":"2"}}""", "malformed_json" },
        { "misspelt-cas", """{"data":{"k":"v"},"caz":0}""", "unknown_field" },
        { "capitalized-cas", """{"data":{"k":"v"},"Cas":0}""", "unknown_field" },
        { "capitalized-data", """{"Data":{"k":"v"}}""", "unknown_field" },
        { "extra-field", """{"data":{"k":"v"},"version":3}""", "unknown_field" },
        { "unwrapped-data", """{"k":"v"}""", "unknown_field" },
        { "missing-data", "{}", "missing_field" },
        { "missing-data-with-cas", """{"cas":2}""", "missing_field" },
        { "data-string", """{"data":"v"}""", "invalid_field" },
        { "data-array", """{"data":[{"k":"v"}]}""", "invalid_field" },
        { "data-number", """{"data":1}""", "invalid_field" },
        { "cas-string", """{"data":{"k":"v"},"cas":"2"}""", "invalid_field" },
        { "cas-fraction", """{"data":{"k":"v"},"cas":2.5}""", "invalid_field" },
        { "cas-exponent", """{"data":{"k":"v"},"cas":2e0}""", "invalid_field" },
        { "cas-negative", """{"data":{"k":"v"},"cas":-1}""", "invalid_field" },
        { "cas-bool", """{"data":{"k":"v"},"cas":true}""", "invalid_field" },
        { "cas-overflow", """{"data":{"k":"v"},"cas":99999999999999999999}""", "invalid_field" },
        { "cas-object", """{"data":{"k":"v"},"cas":{}}""", "invalid_field" },
    };

    [Theory]
    [MemberData(nameof(MalformedSecretBodies))]
    public async Task PutSecret_MalformedOrIllTypedBody_400WithCodeNothingWritten(string label, string body, string code)
    {
        // Arrange
        var path = await SeedAsync(label);
        var before = await StateAsync(path);

        // Act
        var response = await SendAsync(HttpMethod.Put, "/v1/secrets/" + path, body);

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        Assert.Equal(before, await StateAsync(path));
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"data":{"k":"v"},"caz":0}""")]
    [InlineData("""{"k":"v"}""")]
    public async Task PutSecret_BadBodyOnNewPath_400NothingCreated(string body)
    {
        // Arrange
        var path = NewPath("new");

        // Act
        var response = await SendAsync(HttpMethod.Put, "/v1/secrets/" + path, body);

        // Assert
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Get, "/v1/secret-metadata/" + path), HttpStatusCode.NotFound, "secret_not_found");
        var list = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, "/v1/secrets?prefix=bad"));
        Assert.DoesNotContain(list.GetProperty("keys").EnumerateArray(), k => k.GetString()!.Contains(path["bad/".Length..], StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/v1/secrets/bad/long-name", "unknown_field", "{\"data\":{\"k\":\"v\"},\"NAME\":1}")]
    [InlineData("/v1/secret-metadata/bad/long-name", "invalid_field", "{\"custom_metadata\":{\"NAME\":1}}")]
    public async Task PutSecretOrMetadata_TenThousandCharacterFieldName_400DetailBounded(string target, string code, string template)
    {
        // Arrange
        var name = new string('z', 10_000);

        // Act
        var response = await SendAsync(HttpMethod.Put, target, template.Replace("NAME", name, StringComparison.Ordinal));

        // Assert: the error names the field, but never carries a large fragment of the request back
        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        Assert.True(problem.GetProperty("detail").GetString()!.Length <= 200, "detail length " + problem.GetProperty("detail").GetString()!.Length);
    }

    [Fact]
    public async Task PutSecret_CasZeroOnNewPath_WritesVersionOne()
    {
        // Arrange
        var path = NewPath("cas-new");

        // Act
        var write = await Problems.JsonAsync(await SendAsync(HttpMethod.Put, "/v1/secrets/" + path, """{"data":{"k":"v"},"cas":0}"""));

        // Assert
        Assert.Equal(1, write.GetProperty("version").GetInt64());
        var read = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, "/v1/secrets/" + path));
        Assert.Equal("v", read.GetProperty("data").GetProperty("k").GetString());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(1000)]
    public async Task PutSecret_CasNotCurrentVersion_409CasMismatchNothingWritten(long cas)
    {
        // Arrange: current version 2
        var path = await SeedAsync("cas-mismatch");
        var before = await StateAsync(path);

        // Act
        var response = await SendAsync(HttpMethod.Put, "/v1/secrets/" + path, $$"""{"data":{"k":"new"},"cas":{{cas}}}""");

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.Conflict, "cas_mismatch");
        Assert.Equal(before, await StateAsync(path));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task PutSecret_NonZeroCasOnNewPath_409NothingCreated(long cas)
    {
        // Arrange
        var path = NewPath("cas-on-new");

        // Act
        var response = await SendAsync(HttpMethod.Put, "/v1/secrets/" + path, $$"""{"data":{"k":"v"},"cas":{{cas}}}""");

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.Conflict, "cas_mismatch");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Get, "/v1/secret-metadata/" + path), HttpStatusCode.NotFound, "secret_not_found");
    }

    [Fact]
    public async Task PutSecret_CasEqualsCurrentVersion_WritesNextVersion()
    {
        // Arrange: current version 2 (version 1 soft-deleted: it still counts)
        var path = await SeedAsync("cas-match");

        // Act
        var write = await Problems.JsonAsync(await SendAsync(HttpMethod.Put, "/v1/secrets/" + path, """{"data":{"k":"v3"},"cas":2}"""));

        // Assert
        Assert.Equal(3, write.GetProperty("version").GetInt64());
        await Problems.AssertProblemAsync(
            await SendAsync(HttpMethod.Put, "/v1/secrets/" + path, """{"data":{"k":"v4"},"cas":2}"""), HttpStatusCode.Conflict, "cas_mismatch");
    }

    [Fact]
    public async Task PutSecret_DataOf64KiB_AcceptedAndOneByteMore_413ValueTooLarge()
    {
        // Arrange: {"v":"..."} is 8 bytes of JSON around the string
        var path = await SeedAsync("size");
        var limit = 64 * 1024;
        var exact = $$$"""{"data":{"v":"{{{new string('x', limit - 8)}}}"}}""";
        var over = $$$"""{"data":{"v":"{{{new string('y', limit - 7)}}}"}}""";
        var before = await StateAsync(path);

        // Act
        var tooLarge = await SendAsync(HttpMethod.Put, "/v1/secrets/" + path, over);
        var afterRefusal = await StateAsync(path);
        var accepted = await SendAsync(HttpMethod.Put, "/v1/secrets/" + path, exact);

        // Assert
        await Problems.AssertProblemAsync(tooLarge, HttpStatusCode.RequestEntityTooLarge, "value_too_large");
        Assert.Equal(before, afterRefusal);
        Assert.Equal(3, (await Problems.JsonAsync(accepted)).GetProperty("version").GetInt64());
    }

    [Theory]
    [InlineData("?version=0")]
    [InlineData("?version=-1")]
    [InlineData("?version=+1")]
    [InlineData("?version=abc")]
    [InlineData("?version=1.0")]
    [InlineData("?version=0x1")]
    [InlineData("?version=")]
    [InlineData("?version=%201")]
    [InlineData("?version=1&version=2")]
    [InlineData("?version=99999999999999999999")]
    public async Task GetSecret_BadVersionQuery_400InvalidField(string query)
    {
        // Arrange
        var path = await SeedAsync("version-query");

        // Act
        var response = await SendAsync(HttpMethod.Get, $"/v1/secrets/{path}{query}");

        // Assert
        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_field");
        Assert.Contains("version", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("\"v2\"", problem.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetSecret_VersionBeyondCurrent_404VersionNotFound()
    {
        // Arrange
        var path = await SeedAsync("version-beyond");

        // Act
        var response = await SendAsync(HttpMethod.Get, $"/v1/secrets/{path}?version=3");

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.NotFound, "version_not_found");
    }

    [Theory]
    [InlineData("?versions=0")]
    [InlineData("?versions=-1")]
    [InlineData("?versions=a")]
    [InlineData("?versions=1,a")]
    [InlineData("?versions=2,0")]
    [InlineData("?versions=1.5")]
    [InlineData("?versions=1;2")]
    [InlineData("?versions=2&versions=1")]
    [InlineData("?versions=99999999999999999999")]
    public async Task DeleteSecret_BadVersionsQuery_400InvalidFieldNothingDeleted(string query)
    {
        // Arrange
        var path = await SeedAsync("versions-query");
        var before = await StateAsync(path);

        // Act
        var response = await SendAsync(HttpMethod.Delete, $"/v1/secrets/{path}{query}");

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_field");
        Assert.Equal(before, await StateAsync(path));
    }

    [Theory]
    [InlineData("?versions=")]
    [InlineData("?versions=,")]
    [InlineData("?versions=%20")]
    public async Task DeleteSecret_EmptyVersionsQuery_400InvalidFieldNothingDeleted(string query)
    {
        // Arrange
        var path = await SeedAsync("versions-empty");
        var before = await StateAsync(path);

        // Act
        var response = await SendAsync(HttpMethod.Delete, $"/v1/secrets/{path}{query}");

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_field");
        Assert.Equal(before, await StateAsync(path));
    }

    public static TheoryData<string, string, string> BadVersionBodies => new()
    {
        { "empty", "", "malformed_json" },
        { "missing", "{}", "missing_field" },
        { "empty-list", """{"versions":[]}""", "missing_field" },
        { "zero", """{"versions":[0]}""", "invalid_field" },
        { "negative", """{"versions":[-1]}""", "invalid_field" },
        { "string", """{"versions":["1"]}""", "invalid_field" },
        { "not-a-list", """{"versions":1}""", "invalid_field" },
        { "null-entry", """{"versions":[null]}""", "invalid_field" },
        { "fraction", """{"versions":[1.5]}""", "invalid_field" },
        { "too-many", """{"versions":[""" + string.Join(',', Enumerable.Range(1, 1001)) + "]}", "invalid_field" },
        { "misspelt", """{"version":[1]}""", "unknown_field" },
        { "duplicate", """{"versions":[1],"versions":[2]}""", "malformed_json" },
        { "array-body", "[1]", "malformed_json" },
    };

    [Theory]
    [MemberData(nameof(BadVersionBodies))]
    public async Task UndeleteAndDestroy_BadVersionsBody_400WithCodeNothingChanged(string label, string body, string code)
    {
        // Arrange
        var path = await SeedAsync("versions-" + label);
        var before = await StateAsync(path);

        foreach (var action in new[] { "undelete", "destroy" })
        {
            // Act
            var response = await SendAsync(HttpMethod.Post, $"/v1/secrets/{path}/{action}", body);

            // Assert
            await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
            Assert.Equal(before, await StateAsync(path));
        }
    }

    public static TheoryData<string, string, string> BadMetadataBodies => new()
    {
        { "empty", "", "malformed_json" },
        { "max-versions-zero", """{"max_versions":0}""", "invalid_field" },
        { "max-versions-over", """{"max_versions":1001}""", "invalid_field" },
        { "max-versions-negative", """{"max_versions":-3}""", "invalid_field" },
        { "max-versions-string", """{"max_versions":"5"}""", "invalid_field" },
        { "max-versions-overflow", """{"max_versions":4294967297}""", "invalid_field" },
        { "misspelt", """{"max_version":3}""", "unknown_field" },
        { "metadata-number-value", """{"custom_metadata":{"a":1}}""", "invalid_field" },
        { "metadata-null-value", """{"custom_metadata":{"a":null}}""", "invalid_field" },
        { "metadata-list", """{"custom_metadata":["a"]}""", "invalid_field" },
        { "metadata-empty-key", """{"custom_metadata":{"":"x"}}""", "invalid_field" },
        { "metadata-long-value", $$$"""{"custom_metadata":{"a":"{{{new string('x', 513)}}}"}}""", "invalid_field" },
        { "metadata-long-key", $$$"""{"custom_metadata":{"{{{new string('k', 129)}}}":"x"}}""", "invalid_field" },
        { "metadata-too-many", "{\"custom_metadata\":{" + string.Join(',', Enumerable.Range(0, 65).Select(i => $"\"k{i}\":\"v\"")) + "}}", "invalid_field" },
        { "metadata-duplicate-key", """{"custom_metadata":{"a":"1","a":"2"}}""", "malformed_json" },
    };

    [Theory]
    [MemberData(nameof(BadMetadataBodies))]
    public async Task PutMetadata_BadBody_400WithCodeNothingChanged(string label, string body, string code)
    {
        // Arrange
        var path = await SeedAsync("metadata-" + label);
        var before = await StateAsync(path);

        // Act
        var response = await SendAsync(HttpMethod.Put, "/v1/secret-metadata/" + path, body);

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        Assert.Equal(before, await StateAsync(path));
    }

    [Theory]
    [InlineData("/v1/secrets?prefix=a//b", "invalid_path")]
    [InlineData("/v1/secrets?prefix=/a", "invalid_path")]
    [InlineData("/v1/secrets?prefix=a/../b", "invalid_path")]
    [InlineData("/v1/secrets?prefix=a%00", "invalid_path")]
    [InlineData("/v1/secrets?prefix=a*", "invalid_path")]
    [InlineData("/v1/secrets?prefix=a&prefix=b", "invalid_field")]
    [InlineData("/v1/audit?limit=abc", "invalid_field")]
    [InlineData("/v1/audit?limit=-1", "invalid_field")]
    [InlineData("/v1/audit?limit=1.5", "invalid_field")]
    [InlineData("/v1/audit?limit=", "invalid_field")]
    [InlineData("/v1/audit?limit=1&limit=2", "invalid_field")]
    [InlineData("/v1/audit?limit=99999999999999999999", "invalid_field")]
    [InlineData("/v1/audit?after=-1", "invalid_field")]
    [InlineData("/v1/audit?after=x", "invalid_field")]
    [InlineData("/v1/audit?after=1&after=2", "invalid_field")]
    public async Task ListAndAudit_BadQuery_400WithCode(string target, string code)
    {
        // Act
        var response = await SendAsync(HttpMethod.Get, target);

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
    }

    [Theory]
    [InlineData("0", 1)]
    [InlineData("1", 1)]
    [InlineData("3", 3)]
    [InlineData("5000", 1000)]
    public async Task Audit_LimitOutsideRange_ClampedToOneThroughThousand(string limit, int atMost)
    {
        // Arrange: enough records for the largest page
        var records = (await new AuditLog(Host, Admin, "/v1/audit").RefreshAsync()).Count;
        for (var i = records; i < 1010; i += 50)
        {
            await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => SendAsync(HttpMethod.Get, "/v1/roles")));
        }

        // Act
        var page = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, "/v1/audit?limit=" + limit));

        // Assert
        Assert.Equal(atMost, page.GetProperty("records").GetArrayLength());
        Assert.NotEqual(JsonValueKind.Null, page.GetProperty("next").ValueKind);
    }

    [Theory]
    [InlineData("2147483648")]
    [InlineData("4294967296")]
    public async Task Audit_LimitAboveIntRange_ClampedToThousand(string limit)
    {
        // Arrange
        var records = (await new AuditLog(Host, Admin, "/v1/audit").RefreshAsync()).Count;
        for (var i = records; i < 1010; i += 50)
        {
            await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => SendAsync(HttpMethod.Get, "/v1/roles")));
        }

        // Act
        var response = await SendAsync(HttpMethod.Get, "/v1/audit?limit=" + limit);

        // Assert: clamped like any other large value, or refused — never a different page size
        if (response.StatusCode == HttpStatusCode.BadRequest)
        {
            await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_field");
        }
        else
        {
            Assert.Equal(1000, (await Problems.JsonAsync(response)).GetProperty("records").GetArrayLength());
        }
    }

    [Theory]
    [InlineData("GET", "/v1/nope")]
    [InlineData("GET", "/v2/secrets/a")]
    [InlineData("GET", "/")]
    [InlineData("GET", "/v1")]
    [InlineData("POST", "/v1/tenant")]
    [InlineData("GET", "/v1/secret/a")]
    [InlineData("GET", "/v1/sys/nope")]
    [InlineData("GET", "/v1/tenants/acme/nope")]
    [InlineData("PUT", "/v1/secretsx/a")]
    [InlineData("GET", "/v1/roles/a/b")]
    [InlineData("DELETE", "/v1/tenants/acme/tokens/x")]
    public async Task AnyMethod_UnknownRoute_404RouteNotFound(string method, string target)
    {
        // Act
        var response = await SendAsync(new HttpMethod(method), target, method is "GET" or "DELETE" ? null : "{}");

        // Assert
        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.NotFound, "route_not_found");
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        Assert.Contains(method, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("PATCH", "/v1/secrets/a/b")]
    [InlineData("POST", "/v1/secrets/a/b")]
    [InlineData("PUT", "/v1/sys/health")]
    [InlineData("DELETE", "/v1/sys/health")]
    [InlineData("GET", "/v1/sys/seal")]
    [InlineData("GET", "/v1/sys/init")]
    [InlineData("GET", "/v1/sys/root-token/revoke")]
    [InlineData("POST", "/v1/roles")]
    [InlineData("PATCH", "/v1/roles/reader")]
    [InlineData("PUT", "/v1/tenants")]
    [InlineData("DELETE", "/v1/tenants")]
    [InlineData("PUT", "/v1/tenants/acme/tokens")]
    [InlineData("GET", "/v1/tenants/acme/rotate-key")]
    [InlineData("POST", "/v1/audit")]
    [InlineData("DELETE", "/v1/sys/audit")]
    public async Task WrongMethod_KnownRoute_405MethodNotAllowed(string method, string target)
    {
        // Arrange
        var before = await StateAsync("a/b") + await Operator.RolesStateAsync(Host, Admin);

        // Act
        var response = await SendAsync(new HttpMethod(method), target, method is "GET" or "DELETE" ? null : """{"data":{"k":"v"}}""");

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.MethodNotAllowed, "method_not_allowed");
        Assert.Equal(before, await StateAsync("a/b") + await Operator.RolesStateAsync(Host, Admin));
    }

    public static TheoryData<string, string> BadDurations => new()
    {
        { "zero-seconds", "\"0s\"" },
        { "zero", "0" },
        { "negative-number", "-5" },
        { "negative-text", "\"-1h\"" },
        { "weeks", "\"1w\"" },
        { "fraction", "\"1.5h\"" },
        { "empty", "\"\"" },
        { "unit-only", "\"h\"" },
        { "inner-space", "\"10 m\"" },
        { "capital-unit", "\"1H\"" },
        { "overflow", "\"99999999999999d\"" },
        { "over-ten-years", "\"3651d\"" },
        { "fraction-number", "1.5" },
        { "bool", "true" },
        { "list", "[\"1h\"]" },
        { "iso8601", "\"PT1H\"" },
    };

    [Theory]
    [MemberData(nameof(BadDurations))]
    public async Task MintToken_BadTtl_400NamingTtlNothingMinted(string label, string ttl)
    {
        // Arrange
        Assert.NotEmpty(label);
        var audit = _fixture.TenantAudit;
        var minted = (await audit.RefreshAsync()).Count(IsMint);

        // Act
        var response = await SendAsync(HttpMethod.Post, "/v1/tenants/acme/tokens", $$"""{"kind":"admin","ttl":{{ttl}}}""", KeywardTestHost.RootToken);

        // Assert
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(text);
        Assert.Contains("ttl", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("kwa_", text, StringComparison.Ordinal);
        Assert.Equal(minted, (await audit.RefreshAsync()).Count(IsMint));
    }

    [Theory]
    [MemberData(nameof(BadDurations))]
    public async Task MintToken_BadTtl_400InvalidDuration(string label, string ttl)
    {
        // Arrange
        Assert.NotEmpty(label);

        // Act
        var response = await SendAsync(HttpMethod.Post, "/v1/tenants/acme/tokens", $$"""{"kind":"admin","ttl":{{ttl}}}""", KeywardTestHost.RootToken);

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_duration");
    }

    [Theory]
    [InlineData("""{"kind":"admin","ttl":"31d"}""", "ttl_exceeds_limit")]
    [InlineData("""{"kind":"root","ttl":"1h"}""", "invalid_field")]
    [InlineData("""{"kind":"agent","ttl":"1h"}""", "invalid_field")]
    [InlineData("""{"kind":"ADMIN","ttl":"1h"}""", "invalid_field")]
    [InlineData("""{"ttl":"1h"}""", "invalid_field")]
    [InlineData("""{"kind":"admin","tll":"1h"}""", "unknown_field")]
    [InlineData("""{"kind":"admin","ttl":"1h","tenant":"globex"}""", "unknown_field")]
    [InlineData("""{"kind":"admin","ttl":"1h","kind":"orchestrator"}""", "malformed_json")]
    public async Task MintToken_BadBody_400WithCodeNothingMinted(string body, string code)
    {
        // Arrange
        var audit = _fixture.TenantAudit;
        var minted = (await audit.RefreshAsync()).Count(IsMint);

        // Act
        var response = await SendAsync(HttpMethod.Post, "/v1/tenants/acme/tokens", body, KeywardTestHost.RootToken);

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        Assert.Equal(minted, (await audit.RefreshAsync()).Count(IsMint));
    }

    private static bool IsMint(JsonElement record) =>
        record.GetProperty("operation").GetString() == "tenant.token.create" && record.GetProperty("outcome").GetString() == "ok";

    [Theory]
    [InlineData("""{"id":"Acme2"}""", "invalid_name")]
    [InlineData("""{"id":"-acme"}""", "invalid_name")]
    [InlineData("""{"id":"acme_2"}""", "invalid_name")]
    [InlineData("""{"id":"acme.2"}""", "invalid_name")]
    [InlineData("""{"id":"acme/2"}""", "invalid_name")]
    [InlineData("""{"id":"a b"}""", "invalid_name")]
    [InlineData("""{"id":" acme2"}""", "invalid_name")]
    [InlineData("""{"id":""}""", "invalid_name")]
    [InlineData("""{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}""", "invalid_name")]
    [InlineData("""{"id":"\uff41cme2"}""", "invalid_name")]
    [InlineData("""{"id":"\u0430cme2"}""", "invalid_name")]
    [InlineData("""{"id":"acme2\u0000"}""", "invalid_name")]
    [InlineData("""{"id":42}""", "invalid_field")]
    [InlineData("""{"id":null}""", "missing_field")]
    [InlineData("""{}""", "missing_field")]
    [InlineData("""{"id":"acme2","nmae":"x"}""", "unknown_field")]
    public async Task CreateTenant_InvalidId_400WithCodeNothingCreated(string body, string code)
    {
        // Arrange
        using var root = Host.Client();
        var before = await (await root.GetAsync("/v1/tenants")).Content.ReadAsStringAsync();

        // Act
        var response = await SendAsync(HttpMethod.Post, "/v1/tenants", body, KeywardTestHost.RootToken);

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        Assert.Equal(before, await (await root.GetAsync("/v1/tenants")).Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("\"evil\\n\"")]
    [InlineData("\"acme\\n\"")]
    public async Task CreateTenant_IdWithTrailingNewline_400InvalidNameNothingCreated(string id)
    {
        // Arrange
        using var root = Host.Client();
        var before = await (await root.GetAsync("/v1/tenants")).Content.ReadAsStringAsync();

        // Act
        var response = await SendAsync(HttpMethod.Post, "/v1/tenants", $$"""{"id":{{id}}}""", KeywardTestHost.RootToken);

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_name");
        Assert.Equal(before, await (await root.GetAsync("/v1/tenants")).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task CreateTenant_IdOf63Characters_Created()
    {
        // Arrange
        var id = "t" + Guid.NewGuid().ToString("N") + new string('9', 62 - 32);

        // Act
        var response = await SendAsync(HttpMethod.Post, "/v1/tenants", $$"""{"id":"{{id}}"}""", KeywardTestHost.RootToken);

        // Assert
        Assert.Equal(63, id.Length);
        Assert.Equal(id, (await Problems.JsonAsync(response, HttpStatusCode.Created)).GetProperty("id").GetString());
    }

    [Theory]
    [InlineData(".hidden")]
    [InlineData("-role")]
    [InlineData("_role")]
    [InlineData("a%20b")]
    [InlineData("a:b")]
    [InlineData("a*b")]
    [InlineData("r%C3%A9le")]
    [InlineData("%EF%BD%92ole")]
    [InlineData("%D1%80ole")]
    [InlineData("role%09")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task PutRole_InvalidName_400InvalidNameRolesUnchanged(string name)
    {
        // Arrange
        var before = await Operator.RolesStateAsync(Host, Admin);

        // Act
        var response = await Host.SendAsync(new RawRequest("PUT", "/v1/roles/" + name)
        {
            Authorization = [RawRequest.Bearer(Admin)],
            Body = """{"rules":[{"path":"app/*","capabilities":["read"]}],"max_ttl":"1h"}""",
        });

        // Assert
        Assert.True(response.Status == 400 && response.ProblemCode == "invalid_name", response.ToString());
        Assert.Equal(before, await Operator.RolesStateAsync(Host, Admin));
    }

    [Theory]
    [InlineData("reader%0A")]
    [InlineData("r%0A")]
    public async Task PutRole_NameWithTrailingNewline_400InvalidNameRolesUnchanged(string name)
    {
        // Arrange
        var before = await Operator.RolesStateAsync(Host, Admin);

        // Act
        var response = await Host.SendAsync(new RawRequest("PUT", "/v1/roles/" + name)
        {
            Authorization = [RawRequest.Bearer(Admin)],
            Body = """{"rules":[],"max_ttl":"1h"}""",
        });

        // Assert
        Assert.True(response.Status == 400 && response.ProblemCode == "invalid_name", response.ToString());
        Assert.Equal(before, await Operator.RolesStateAsync(Host, Admin));
    }

    [Theory]
    [InlineData("", "malformed_json")]
    [InlineData("""{"max_ttl":"1h"}""", "missing_field")]
    [InlineData("""{"rules":[]}""", "missing_field")]
    [InlineData("""{"rules":[],"max_ttl":"31d"}""", "ttl_exceeds_limit")]
    [InlineData("""{"rules":[{"path":"app/*","capabilities":["sudo"]}],"max_ttl":"1h"}""", "invalid_rule")]
    [InlineData("""{"rules":[{"path":"app/*","capabilities":[]}],"max_ttl":"1h"}""", "invalid_rule")]
    [InlineData("""{"rules":[{"path":"**/app","capabilities":["read"]}],"max_ttl":"1h"}""", "invalid_rule")]
    [InlineData("""{"rules":[{"path":"app//x","capabilities":["read"]}],"max_ttl":"1h"}""", "invalid_rule")]
    [InlineData("""{"rules":[null],"max_ttl":"1h"}""", "invalid_rule")]
    [InlineData("""{"rules":[{"path":"app/*","capabilities":["read"],"capz":1}],"max_ttl":"1h"}""", "unknown_field")]
    [InlineData("""{"rules":[],"max_ttl":"1h","may_spawn":["-bad"]}""", "invalid_name")]
    [InlineData("""{"rules":[],"max_ttl":"1h","may_spwan":[]}""", "unknown_field")]
    [InlineData("""{"rules":{},"max_ttl":"1h"}""", "invalid_field")]
    [InlineData("""{"rules":[],"max_ttl":"1h","max_ttl":"2h"}""", "malformed_json")]
    public async Task PutRole_BadBody_400WithCodeRolesUnchanged(string body, string code)
    {
        // Arrange
        var before = await Operator.RolesStateAsync(Host, Admin);

        // Act
        var response = await SendAsync(HttpMethod.Put, "/v1/roles/reader", body);

        // Assert
        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        Assert.Equal(before, await Operator.RolesStateAsync(Host, Admin));
    }

    [Theory]
    [InlineData("a/destroy")]
    [InlineData("a/undelete")]
    [InlineData("a/rotate")]
    [InlineData("a/promote")]
    [InlineData("a/rollback")]
    [InlineData("destroy")]
    [InlineData("creds/x")]
    [InlineData("creds/a/b")]
    [InlineData("creds")]
    [InlineData("sys/x")]
    [InlineData("sys")]
    public async Task PutSecretOrMetadata_ReservedPath_400ReservedPathNothingStored(string reserved)
    {
        // Arrange
        var prefix = reserved.StartsWith("creds", StringComparison.Ordinal) || reserved.StartsWith("sys", StringComparison.Ordinal) ? "" : NewPath("reserved") + "/";
        var path = prefix + reserved;

        // Act
        var secret = await SendAsync(HttpMethod.Put, "/v1/secrets/" + path, """{"data":{"k":"v"}}""");
        var metadata = await SendAsync(HttpMethod.Put, "/v1/secret-metadata/" + path, """{"max_versions":3}""");

        // Assert
        await Problems.AssertProblemAsync(secret, HttpStatusCode.BadRequest, "reserved_path");
        await Problems.AssertProblemAsync(metadata, HttpStatusCode.BadRequest, "reserved_path");
        await Problems.AssertProblemAsync(await SendAsync(HttpMethod.Get, "/v1/secret-metadata/" + path), HttpStatusCode.NotFound, "secret_not_found");
    }

    [Theory]
    [InlineData("Creds/x")]
    [InlineData("x/creds")]
    [InlineData("x/sys/y")]
    [InlineData("a/destroyed")]
    [InlineData("a/Destroy")]
    [InlineData("a/destroy/b")]
    public async Task PutSecret_NearReservedPath_Written(string suffix)
    {
        // Arrange
        var path = NewPath("near") + "/" + suffix;

        // Act
        var response = await SendAsync(HttpMethod.Put, "/v1/secrets/" + path, """{"data":{"k":"v"}}""");

        // Assert
        Assert.Equal(1, (await Problems.JsonAsync(response)).GetProperty("version").GetInt64());
    }

    [Theory]
    [InlineData("a//b")]
    [InlineData("a/")]
    [InlineData("a%20b")]
    [InlineData("a*b")]
    [InlineData("a:b")]
    [InlineData("a@b")]
    [InlineData("%C3%A4")]
    [InlineData("a%2Eb")]
    public async Task PutSecret_InvalidPath_400InvalidPathNothingStored(string suffix)
    {
        // Arrange
        var parent = NewPath("invalid");
        var before = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, "/v1/secrets?prefix=bad"));

        // Act
        var response = await Host.SendAsync(new RawRequest("PUT", $"/v1/secrets/{parent}/{suffix}")
        {
            Authorization = [RawRequest.Bearer(Admin)],
            Body = """{"data":{"k":"v"}}""",
        });

        // Assert
        Assert.True(response.Status == 400 && response.ProblemCode == "invalid_path", response.ToString());
        var after = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, "/v1/secrets?prefix=bad"));
        Assert.Equal(before.GetRawText(), after.GetRawText());
    }

    [Fact]
    public async Task PutSecret_PathOf512Bytes_WrittenAnd513_400InvalidPath()
    {
        // Arrange
        var parent = NewPath("long");
        var exact = parent + "/" + new string('p', 512 - parent.Length - 1);
        var over = exact + "q";

        // Act
        var accepted = await SendAsync(HttpMethod.Put, "/v1/secrets/" + exact, """{"data":{"k":"v"}}""");
        var refused = await SendAsync(HttpMethod.Put, "/v1/secrets/" + over, """{"data":{"k":"v"}}""");

        // Assert
        Assert.Equal(512, Encoding.UTF8.GetByteCount(exact));
        Assert.Equal(1, (await Problems.JsonAsync(accepted)).GetProperty("version").GetInt64());
        await Problems.AssertProblemAsync(refused, HttpStatusCode.BadRequest, "invalid_path");
        await Problems.AssertProblemAsync(
            await SendAsync(HttpMethod.Get, "/v1/secret-metadata/" + over), HttpStatusCode.BadRequest, "invalid_path");
    }

    [Theory]
    [InlineData("""{"kind":"admin","ttl":"1h","display_name":"DISPLAY"}""")]
    public async Task MintToken_DisplayNameOver128_400InvalidField(string template)
    {
        // Arrange
        var body = template.Replace("DISPLAY", new string('d', 129), StringComparison.Ordinal);

        // Act
        var response = await SendAsync(HttpMethod.Post, "/v1/tenants/acme/tokens", body, KeywardTestHost.RootToken);

        // Assert
        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_field");
        Assert.Contains("display_name", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(problem.GetProperty("detail").GetString()!.Length < 200, string.Create(CultureInfo.InvariantCulture, $"detail is {problem.GetProperty("detail").GetString()!.Length} characters"));
    }
}
