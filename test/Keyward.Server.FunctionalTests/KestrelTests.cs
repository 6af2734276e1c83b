using System.Net;
using System.Net.Http.Json;
using System.Text;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests;

/// <summary>A real Kestrel server with tenants acme and globex, each holding a canary at <c>{tenant}-only/key</c>.</summary>
public sealed class KestrelFixture : IAsyncLifetime
{
    public KestrelHost Server { get; private set; } = null!;

    public string AcmeAdmin { get; private set; } = null!;

    public string GlobexAdmin { get; private set; } = null!;

    public string AcmeCanary { get; } = Operator.Canary("acme-kestrel");

    public string GlobexCanary { get; } = Operator.Canary("globex-kestrel");

    public async Task InitializeAsync()
    {
        Server = await KestrelHost.StartAsync();
        AcmeAdmin = await OnboardAsync("acme", AcmeCanary);
        GlobexAdmin = await OnboardAsync("globex", GlobexCanary);
    }

    private async Task<string> OnboardAsync(string tenant, string canary)
    {
        using var root = Server.Client();
        await Problems.JsonAsync(await root.PostAsJsonAsync("/v1/tenants", new { id = tenant }), HttpStatusCode.Created);
        var minted = await Problems.JsonAsync(await root.PostAsJsonAsync($"/v1/tenants/{tenant}/tokens", new { kind = "admin", ttl = "1h" }));
        var token = minted.GetProperty("token").GetString()!;
        using var admin = Server.Client(token);
        await Problems.JsonAsync(await admin.PutAsJsonAsync($"/v1/secrets/{tenant}-only/key", new { data = new { token = canary } }));
        return token;
    }

    public AuditLog Audit() => new(() => Server.Client());

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// What only a real Kestrel shows: request targets as raw bytes on a socket, and the request limits (body 413 as
/// problem+json <c>body_too_large</c>; request line 414 and header block 431, which Kestrel answers itself and
/// API.md exempts from problem+json). None of them may disclose data, store anything or log a token or value.
/// </summary>
public sealed class KestrelTests : IClassFixture<KestrelFixture>
{
    private readonly KestrelFixture _fixture;

    public KestrelTests(KestrelFixture fixture)
    {
        _fixture = fixture;
    }

    public static TheoryData<string, string> TrickTargets => new()
    {
        { "/v1/secrets/x/../acme-only/key", "invalid_path" },
        { "/v1/secrets/./acme-only/key", "invalid_path" },
        { "/v1/secrets/acme-only/key/..", "invalid_path" },
        { "/v1/secrets/%2e%2e/v1/secrets/acme-only/key", "invalid_path" },
        { "/v1/secrets/%2E%2E/acme-only/key", "invalid_path" },
        { "/v1/secrets/acme-only%2Fkey", "invalid_path" },
        { "/v1/secrets/acme-only%2fkey", "invalid_path" },
        { "/v1/secrets/acme-only%5Ckey", "invalid_path" },
        { "/v1/secrets/acme-only/key%00", "invalid_path" },
        { "/v1/secrets/acme-only\\key", "invalid_path" },
        { "/v1/secrets/x\\..\\acme-only/key", "invalid_path" },
        { "/v1/secrets//acme-only/key", "invalid_path" },
        { "/v1/secrets/acme-only//key", "invalid_path" },
        { "/v1/secrets/\uFF41cme-only/key", "invalid_path" },
        { "/v1/secrets/\u0430cme-only/key", "invalid_path" },
        { "/v1/secrets/%EF%BD%81cme-only/key", "invalid_path" },
        { "/v1/audit/../sys/audit?tenant=acme", "invalid_path" },
        { "http://{authority}/v1/secrets/x/../acme-only/key", "invalid_path" },
        { "http://{authority}/v1/secrets/acme-only%2Fkey", "invalid_path" },
        { "http://{authority}/v1/secrets/acme-only/key?token=kwa_abcdefghijklmnopqrstuvwxyz", "token_in_query" },
    };

    [Theory]
    [MemberData(nameof(TrickTargets))]
    public async Task RawTarget_TrickPathOnTheWire_400NeverDataAuditedIfAnswered(string target, string code)
    {
        // Arrange: absolute-form targets (as sent to a proxy) name this server, or Kestrel refuses the Host mismatch
        target = target.Replace("{authority}", _fixture.Server.Address.Authority, StringComparison.Ordinal);

        // Act
        var response = await _fixture.Server.SendRawAsync("GET", target, ["Authorization: Bearer " + _fixture.GlobexAdmin]);

        // Assert
        Assert.False(response.Body.Contains(_fixture.AcmeCanary, StringComparison.Ordinal), response.ToString());
        Assert.False(response.Body.Contains(_fixture.GlobexCanary, StringComparison.Ordinal), response.ToString());
        Assert.True(response.Status == 400, $"{target}: {response}");
        if (response.RequestId is null)
        {
            // Refused by Kestrel itself before the application (exempt from problem+json): an empty answer.
            Assert.True(string.IsNullOrEmpty(response.Body), response.ToString());
            return;
        }

        Assert.True(response.ProblemCode == code, $"{target}: {response}");
        var record = await _fixture.Audit().SingleAsync(response.RequestId);
        Assert.Equal("globex", record.GetProperty("tenant").GetString());
        Assert.Equal(400, record.GetProperty("status").GetInt32());
        Assert.Equal(code, record.GetProperty("code").GetString());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PutSecret_BodyOverLimit_413BodyTooLargeNothingStoredNothingLogged(bool chunked)
    {
        // Arrange: a 100 KB body (the limit is 64 KiB + 4 KiB) with a canary at both ends
        var canary = Operator.Canary("over-limit");
        var path = "big/" + Guid.NewGuid().ToString("N");
        var body = Encoding.UTF8.GetBytes($$$"""{"data":{"v":"{{{canary}}}{{{new string('x', 100_000)}}}{{{canary}}}"}}""");

        // Act
        var response = await _fixture.Server.SendRawAsync("PUT", "/v1/secrets/" + path, ["Authorization: Bearer " + _fixture.AcmeAdmin, "Content-Type: application/json"], body, chunked);

        // Assert
        Assert.True(response.Status == 413 && response.ProblemCode == "body_too_large", response.ToString());
        Assert.DoesNotContain(canary, response.Body, StringComparison.Ordinal);
        using var admin = _fixture.Server.Client(_fixture.AcmeAdmin);
        await Problems.AssertProblemAsync(await admin.GetAsync("/v1/secret-metadata/" + path), HttpStatusCode.NotFound, "secret_not_found");
        var record = await _fixture.Audit().SingleAsync(response.RequestId);
        Assert.Equal("body_too_large", record.GetProperty("code").GetString());
        Assert.DoesNotContain(canary, record.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain(canary, _fixture.Server.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PutSecret_DataOver64KiBInBodyUnderLimit_413ValueTooLarge()
    {
        // Arrange: 66,000 bytes of data in a body under the 68 KiB limit
        var path = "big/" + Guid.NewGuid().ToString("N");
        var body = Encoding.UTF8.GetBytes($$$"""{"data":{"v":"{{{new string('x', 66_000)}}}"}}""");

        // Act
        var response = await _fixture.Server.SendRawAsync("PUT", "/v1/secrets/" + path, ["Authorization: Bearer " + _fixture.AcmeAdmin], body);

        // Assert
        Assert.True(response.Status == 413 && response.ProblemCode == "value_too_large", response.ToString());
        using var admin = _fixture.Server.Client(_fixture.AcmeAdmin);
        await Problems.AssertProblemAsync(await admin.GetAsync("/v1/secret-metadata/" + path), HttpStatusCode.NotFound, "secret_not_found");
    }

    [Fact]
    public async Task RequestLine_Over4KiBWithQueryToken_414TokenNeverLogged()
    {
        // Arrange
        var target = "/v1/secrets/" + new string('a', 5000) + "?token=" + _fixture.AcmeAdmin;

        // Act
        var response = await _fixture.Server.SendRawAsync("GET", target, []);

        // Assert: Kestrel's own answer (exempt from problem+json), and the token went nowhere
        Assert.Equal(414, response.Status);
        Assert.DoesNotContain(_fixture.AcmeAdmin[4..], response.Body, StringComparison.Ordinal);
        Assert.DoesNotContain(_fixture.AcmeAdmin[4..], _fixture.Server.Logs.All, StringComparison.Ordinal);
        var audit = await _fixture.Audit().RefreshAsync();
        Assert.DoesNotContain(audit, r => r.GetRawText().Contains(_fixture.AcmeAdmin[4..], StringComparison.Ordinal));
    }

    [Fact]
    public async Task QueryToken_OnTheWire_400TokenInQueryAttributedNeverLogged()
    {
        // Act
        var response = await _fixture.Server.SendRawAsync(
            "GET", "/v1/secrets/acme-only/key?token=" + _fixture.AcmeAdmin, ["Authorization: Bearer " + _fixture.GlobexAdmin]);

        // Assert
        Assert.True(response.Status == 400 && response.ProblemCode == "token_in_query", response.ToString());
        var record = await _fixture.Audit().SingleAsync(response.RequestId);
        Assert.Equal("request.rejected", record.GetProperty("operation").GetString());
        Assert.Equal("globex", record.GetProperty("tenant").GetString());
        Assert.DoesNotContain(_fixture.AcmeAdmin[4..], record.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain(_fixture.AcmeAdmin[4..], _fixture.Server.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain(_fixture.AcmeCanary, response.Body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/v1/secrets/leaked/{token}")]
    [InlineData("/v1/secrets/leaked/kwa%5F{body}")]
    [InlineData("/v1/gateway/openai/v1/files/{token}")]
    [InlineData("/v1/tenants/{token}")]
    public async Task PathToken_OnTheWire_400TokenInPathAttributedNeverEchoedLoggedOrStored(string template)
    {
        // Arrange
        var target = template.Replace("{token}", _fixture.AcmeAdmin, StringComparison.Ordinal)
            .Replace("{body}", _fixture.AcmeAdmin[4..], StringComparison.Ordinal);

        // Act
        var response = await _fixture.Server.SendRawAsync("GET", target, ["Authorization: Bearer " + _fixture.GlobexAdmin]);

        // Assert
        Assert.True(response.Status == 400 && response.ProblemCode == "token_in_path", response.ToString());
        Assert.DoesNotContain(_fixture.AcmeAdmin[4..], response.Body, StringComparison.Ordinal);
        var record = await _fixture.Audit().SingleAsync(response.RequestId);
        Assert.Equal("request.rejected", record.GetProperty("operation").GetString());
        Assert.Equal("globex", record.GetProperty("tenant").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, record.GetProperty("path").ValueKind);
        Assert.DoesNotContain(_fixture.AcmeAdmin[4..], record.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain(_fixture.AcmeAdmin[4..], _fixture.Server.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Headers_Over16KiB_431NeverData()
    {
        // Arrange
        string[] headers = ["Authorization: Bearer " + _fixture.GlobexAdmin, "X-Keyward-Tenant: acme", "X-Pad: " + new string('p', 17 * 1024)];

        // Act
        var response = await _fixture.Server.SendRawAsync("GET", "/v1/secrets/acme-only/key", headers);

        // Assert
        Assert.Equal(431, response.Status);
        Assert.DoesNotContain(_fixture.AcmeCanary, response.Body, StringComparison.Ordinal);
        Assert.DoesNotContain(_fixture.GlobexAdmin[4..], _fixture.Server.Logs.All, StringComparison.Ordinal);
    }
}
