using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keyward.Gateway.Forwarding;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Gateway;

/// <summary>
/// The gateway end to end against a real upstream on loopback: the credential is injected and never reaches the agent,
/// echoes are scrubbed, streams arrive event by event, refusals happen before a byte goes upstream, and every call is
/// audited before and after.
/// </summary>
public sealed class GatewayTests : IAsyncLifetime
{
    private const string Value = "sk-live+Very\"Secret<Value>0123456789";

    private KeywardTestHost _host = null!;
    private LoopbackUpstream _upstream = null!;
    private AgentWorld _world = null!;

    public async Task InitializeAsync()
    {
        _upstream = await LoopbackUpstream.StartAsync();
        _upstream.Secret = Value;
        _host = await KeywardTestHost.StartAsync();
        _world = await AgentWorld.CreateAsync(_host, "acme");
        await _host.PutSecretAsync(_world.Admin, "llm/openai", new { api_key = Value, other = "x" });
        await _world.PutRoleAsync("caller", [AgentWorld.Rule("llm/*", "use")], "1h", "caller");
        await _world.PutRoleAsync("reader", [AgentWorld.Rule("llm/*", "read")], "1h");
        await PutIntegrationAsync("openai");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private Dictionary<string, object?> Integration(string kind = "bearer", string? name = null, object? limits = null, object[]? allow = null)
    {
        var body = new Dictionary<string, object?>
        {
            ["upstream"] = _upstream.Address.ToString(),
            ["secret_path"] = "llm/openai",
            ["secret_field"] = "api_key",
            ["inject"] = name is null ? new { kind } : new { kind, name },
            ["allow"] = allow ?? [new { methods = new[] { "GET", "POST" }, path = "**" }],
            ["allow_insecure_loopback"] = true,
        };
        if (limits is not null)
        {
            body["limits"] = limits;
        }

        return body;
    }

    private async Task<JsonElement> PutIntegrationAsync(string name, Dictionary<string, object?>? body = null) =>
        await Problems.JsonAsync(await SendAsync(HttpMethod.Put, _world.Admin, "/v1/integrations/" + name, body ?? Integration()));

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string? token, string route, object? body = null, IDictionary<string, string>? headers = null)
    {
        using var client = _host.Client(token);
        using var request = new HttpRequestMessage(method, route) { Content = body is null ? null : JsonContent.Create(body) };
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    private async Task<AgentSessionInfo> AgentAsync(string id = "a1", string run = "r1", string role = "caller") => await _world.StartAgentAsync(id, run, role);

    /// <summary>Every byte the agent got: status line facts, headers, body.</summary>
    private static async Task<string> EverythingAsync(HttpResponseMessage response) =>
        string.Join("\n", response.Headers.Concat(response.Content.Headers).Select(h => h.Key + ": " + string.Join(",", h.Value)))
        + "\n" + await response.Content.ReadAsStringAsync();

    /// <summary>The audit log once it holds a gateway.complete record (queued after the response, committed with the next group).</summary>
    private async Task<IReadOnlyList<JsonElement>> AuditWithCompleteAsync()
    {
        for (var attempt = 0; ; attempt++)
        {
            var audit = await _world.AuditAsync();
            if (audit.Any(r => r.GetProperty("operation").GetString() == "gateway.complete") || attempt == 50)
            {
                return audit;
            }

            await Task.Delay(100);
        }
    }

    private void AssertNeverLeaked(string text)
    {
        Assert.DoesNotContain(Value, text, StringComparison.Ordinal);
        Assert.DoesNotContain(JsonSerializer.Serialize(Value).Trim('"'), text, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-live", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bearer", null, "Authorization", "Bearer " + Value)]
    [InlineData("header", "x-api-key", "x-api-key", Value)]
    [InlineData("basic", "svc", "Authorization", null)]
    [InlineData("query", "key", null, null)]
    public async Task EachInjectionStyle_ReachesTheUpstream_AndTheAgentNeverSeesTheValue(string kind, string? name, string? header, string? expected)
    {
        await PutIntegrationAsync("api", Integration(kind, name));
        var agent = await AgentAsync();

        using var response = await SendAsync(HttpMethod.Post, agent.Token, "/v1/gateway/api/ok/v1/chat?x=1", new { prompt = "hi" },
            new Dictionary<string, string> { ["x-api-key"] = "agent-supplied", ["X-Forwarded-For"] = "10.0.0.1", ["X-Keyward-Anything"] = "1" });
        var everything = await EverythingAsync(response);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"ok\":true", everything, StringComparison.Ordinal);
        AssertNeverLeaked(everything);
        var seen = Assert.Single(_upstream.Requests);
        Assert.StartsWith("/ok/v1/chat?x=1", seen.RawTarget, StringComparison.Ordinal);
        Assert.Equal("{\"prompt\":\"hi\"}", Encoding.UTF8.GetString(seen.Body));
        switch (kind)
        {
            case "basic":
                Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("svc:" + Value)), seen.Header("Authorization"));
                break;
            case "query":
                Assert.EndsWith("&key=" + Uri.EscapeDataString(Value), seen.RawTarget, StringComparison.Ordinal);
                Assert.Null(seen.Header("Authorization"));
                break;
            default:
                Assert.Equal(expected, seen.Header(header!));
                break;
        }

        // The agent's own token, forwarding headers and Keyward's headers never go upstream; an agent-set header named
        // like the injected one is dropped rather than sent beside it.
        Assert.DoesNotContain(agent.Token, seen.Everything(), StringComparison.Ordinal);
        Assert.Null(seen.Header("X-Forwarded-For"));
        Assert.Null(seen.Header("X-Keyward-Anything"));
        Assert.Equal("identity", seen.Header("Accept-Encoding"));
        if (kind == "header")
        {
            Assert.DoesNotContain("agent-supplied", seen.Everything(), StringComparison.Ordinal);
        }

        // Audited before and after; never the value.
        var audit = await AuditWithCompleteAsync();
        var request = Assert.Single(audit, r => r.GetProperty("operation").GetString() == "gateway.request");
        var complete = Assert.Single(audit, r => r.GetProperty("operation").GetString() == "gateway.complete");
        Assert.True(request.GetProperty("seq").GetInt64() < complete.GetProperty("seq").GetInt64());
        Assert.Equal("llm/openai", request.GetProperty("path").GetString());
        Assert.Equal(1, request.GetProperty("version").GetInt64());
        Assert.Equal("api", request.GetProperty("details").GetProperty("integration").GetString());
        Assert.Equal("ok/v1/chat", request.GetProperty("details").GetProperty("upstream_path").GetString());
        Assert.Equal(200, complete.GetProperty("status").GetInt32());
        Assert.Equal("11", complete.GetProperty("details").GetProperty("bytes_down").GetString());
        AssertNeverLeaked(string.Join("\n", audit.Select(r => r.GetRawText())) + string.Join("\n", _host.Logs.Lines));
    }

    [Fact]
    public async Task AnEchoedCredential_SplitAcrossChunks_RawAndJsonEscaped_IsScrubbed_AndRecordedAsAnAnomaly()
    {
        var agent = await AgentAsync();

        using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/echo-credential");
        var everything = await EverythingAsync(response);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AssertNeverLeaked(everything);
        Assert.Contains("\"tail\":\"end\"}", everything, StringComparison.Ordinal);
        Assert.Contains("[REDACTED", everything, StringComparison.Ordinal);
        var audit = await AuditWithCompleteAsync();
        var complete = Assert.Single(audit, r => r.GetProperty("operation").GetString() == "gateway.complete");
        Assert.Equal("credential_echo", complete.GetProperty("anomaly").GetString());
        AssertNeverLeaked(string.Join("\n", audit.Select(r => r.GetRawText())));
    }

    [Fact]
    public async Task ServerSentEvents_ArriveOneByOne_NotAfterTheWholeBody()
    {
        var agent = await AgentAsync();
        using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/sse");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);

        // The upstream holds the rest of its body until released: the first event must already be here.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Assert.Equal("data: first", await reader.ReadLineAsync(timeout.Token));
        _upstream.ReleaseEvents();
        var rest = await reader.ReadToEndAsync(timeout.Token);
        Assert.Contains("data: second", rest, StringComparison.Ordinal);
        Assert.Contains("data: [DONE]", rest, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RangeRequests_CannotRebuildAnEchoPieceByPiece_TheUpstreamNeverSeesRange()
    {
        var agent = await AgentAsync();
        using (var whole = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/echo-range"))
        {
            var body = await whole.Content.ReadAsStringAsync();
            Assert.Contains("[REDACTED", body, StringComparison.Ordinal);
            AssertNeverLeaked(body);
        }

        // Four bytes at a time: no piece is an echo the scrubber could see, together they would be the key.
        var rebuilt = new StringBuilder();
        var statuses = new List<HttpStatusCode>();
        var length = Encoding.UTF8.GetByteCount("{\"key\":\"" + Value + "\"}");
        for (var from = 0; from < length; from += 4)
        {
            using var piece = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/echo-range",
                headers: new Dictionary<string, string> { ["Range"] = $"bytes={from}-{from + 3}", ["If-Range"] = "\"any\"" });
            statuses.Add(piece.StatusCode);
            rebuilt.Append(await piece.Content.ReadAsStringAsync());
        }

        AssertNeverLeaked(rebuilt.ToString());
        Assert.DoesNotContain(HttpStatusCode.PartialContent, statuses);
        Assert.All(_upstream.Requests, r => Assert.Equal((null, null), (r.Header("Range"), r.Header("If-Range"))));
    }

    [Fact]
    public async Task APartialAnswer_IsRefused_Whatever_TheUpstreamWasAskedFor()
    {
        var agent = await AgentAsync();
        _upstream.RawResponse = _ => Encoding.ASCII.GetBytes(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 8-11/60\r\nContent-Type: application/json\r\nContent-Length: 4\r\nConnection: close\r\n\r\n" + Value[..4]);

        using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/anything");

        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.BadGateway, "upstream_partial_refused");
        Assert.DoesNotContain(Value[..4], problem.GetRawText(), StringComparison.Ordinal);
        var complete = Assert.Single(await AuditWithCompleteAsync(), r => r.GetProperty("operation").GetString() == "gateway.complete");
        Assert.Equal("upstream_partial_refused", complete.GetProperty("code").GetString());
    }

    [Fact]
    public async Task MethodAndUrlOverrideHeaders_NeverReachTheUpstream()
    {
        var agent = await AgentAsync();
        string[] names = ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "X-Original-URL", "X-Rewrite-URL", "X-Original-Host", "True-Client-IP"];

        using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/ok",
            headers: names.ToDictionary(n => n, n => n.EndsWith("IP", StringComparison.Ordinal) ? "10.0.0.1" : n.Contains("Method", StringComparison.Ordinal) ? "DELETE" : "/admin"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = Assert.Single(_upstream.Requests);
        Assert.All(names, n => Assert.Null(seen.Header(n)));
    }

    [Theory]
    [InlineData("?_method=DELETE")]
    [InlineData("?x=1&_METHOD=delete")]
    [InlineData("?%5Fmethod=PUT")]
    public async Task AMethodOverrideQueryParameter_IsRefused_BeforeAnythingGoesUpstream(string query)
    {
        var agent = await AgentAsync();

        using var response = await SendAsync(HttpMethod.Post, agent.Token, "/v1/gateway/openai/ok" + query, new { });

        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, "gateway_query_refused");
        Assert.Empty(_upstream.Requests);
    }

    public static TheoryData<string> EchoForms() => [.. LoopbackUpstream.EchoForms.Keys];

    [Theory]
    [MemberData(nameof(EchoForms))]
    public async Task AnEchoInAnotherEncoding_IsScrubbed(string form)
    {
        // A value with '/' and '+' (so quote-style and lower-case percent-encoding differ from the plain form) and
        // enough bytes that its base64 has a long stable middle at every alignment.
        const string Slashy = "sk/live+Very=Secret~0123456789/abcdefXYZ";
        await _host.PutSecretAsync(_world.Admin, "llm/slashy", new { api_key = Slashy });
        var body = Integration("header", "x-api-key");
        body["secret_path"] = "llm/slashy";
        await PutIntegrationAsync("slashy", body);
        _upstream.Secret = Slashy;
        var agent = await AgentAsync();

        using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/slashy/echo-as/" + form);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = await response.Content.ReadAsByteArrayAsync();
        var echoed = LoopbackUpstream.EchoForms[form](Slashy);
        Assert.NotEqual(echoed, received);
        var text = form.StartsWith("utf16", StringComparison.Ordinal)
            ? (form == "utf16le" ? Encoding.Unicode : Encoding.BigEndianUnicode).GetString(received)
            : Encoding.UTF8.GetString(received);
        foreach (var window in Windows(Secrets(form, Slashy), 10))
        {
            Assert.DoesNotContain(window, text, StringComparison.Ordinal);
        }

        var complete = Assert.Single(await AuditWithCompleteAsync(), r => r.GetProperty("operation").GetString() == "gateway.complete");
        Assert.Equal("credential_echo", complete.GetProperty("anomaly").GetString());
    }

    /// <summary>The text that carries the value in each echo form (a base64 blob without its edge characters, which mix in other bytes).</summary>
    private static string[] Secrets(string form, string value)
    {
        if (form.StartsWith("utf16", StringComparison.Ordinal))
        {
            return [value];
        }

        var text = Encoding.UTF8.GetString(LoopbackUpstream.EchoForms[form](value));
        var quoted = text[(text.IndexOf(":\"", StringComparison.Ordinal) + 2)..text.LastIndexOf('"')];
        return form.StartsWith("base64", StringComparison.Ordinal) ? [quoted[4..^4]] : [quoted, value];
    }

    private static IEnumerable<string> Windows(IEnumerable<string> texts, int length) =>
        texts.SelectMany(t => Enumerable.Range(0, Math.Max(1, t.Length - length + 1)).Select(i => t.Substring(i, Math.Min(length, t.Length))));

    public static TheoryData<string> RefusedCodings() =>
    [
        "Content-Encoding: gzip;q=1",          // unparseable: copied through undecoded before
        "Content-Encoding: x-zstd",            // unknown
        "Content-Encoding: gzip, gzip",        // stacked
        "Content-Encoding: gzip\r\nContent-Encoding: br",
        "Content-Encoding: compress",
        "Transfer-Encoding: gzip, chunked",    // reached the agent as raw gzip before
        "Transfer-Encoding: gzip",
        "Transfer-Encoding: identity",
    ];

    [Theory]
    [MemberData(nameof(RefusedCodings))]
    public async Task ABodyCodingTheGatewayCannotScrub_IsRefused(string header)
    {
        var agent = await AgentAsync();
        var payload = Gzip(Encoding.UTF8.GetBytes("{\"key\":\"" + Value + "\"}"));
        _upstream.RawResponse = _ => RawAnswer(header, payload);

        using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/anything");

        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.BadGateway, "upstream_encoding_refused");
        AssertNeverLeaked(problem.GetRawText());
        var complete = Assert.Single(await AuditWithCompleteAsync(), r => r.GetProperty("operation").GetString() == "gateway.complete");
        Assert.Equal("upstream_encoding_refused", complete.GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("Content-Encoding: gzip")]
    [InlineData("Content-Encoding: GZIP")]
    [InlineData("Content-Encoding: identity, gzip")]
    [InlineData("Transfer-Encoding: chunked\r\nContent-Encoding: gzip")]
    public async Task AGzipBody_IsDecompressedAndScrubbed(string header)
    {
        var agent = await AgentAsync();
        var payload = Gzip(Encoding.UTF8.GetBytes("{\"key\":\"" + Value + "\"}"));
        _upstream.RawResponse = _ => RawAnswer(header, payload);

        using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/anything");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(response.Content.Headers.ContentEncoding);
        Assert.Equal("{\"key\":\"" + EchoReplacement + "\"}", await response.Content.ReadAsStringAsync());
    }

    private const string EchoReplacement = "[REDACTED:keyward]";

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    /// <summary>A raw 200 with <paramref name="header"/>; chunked framing when it names chunked, else close-delimited.</summary>
    private static byte[] RawAnswer(string header, byte[] payload)
    {
        var chunked = header.Contains("chunked", StringComparison.OrdinalIgnoreCase);
        var head = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + header + "\r\nConnection: close\r\n\r\n");
        if (!chunked)
        {
            return [.. head, .. payload];
        }

        return [.. head, .. Encoding.ASCII.GetBytes(payload.Length.ToString("x", System.Globalization.CultureInfo.InvariantCulture) + "\r\n"), .. payload, .. "\r\n0\r\n\r\n"u8];
    }

    [Fact]
    public async Task MethodsAndPathsOutsideTheAllowList_AreRefused_BeforeAnythingGoesUpstream()
    {
        await PutIntegrationAsync("narrow", Integration(allow: [new { methods = new[] { "POST" }, path = "ok/v1/**" }]));
        var agent = await AgentAsync();

        using var wrongMethod = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/narrow/ok/v1/chat");
        using var wrongPath = await SendAsync(HttpMethod.Post, agent.Token, "/v1/gateway/narrow/ok/v2/chat", new { });
        using var prefixOnly = await SendAsync(HttpMethod.Post, agent.Token, "/v1/gateway/narrow/ok/v1", new { });
        using var allowed = await SendAsync(HttpMethod.Post, agent.Token, "/v1/gateway/narrow/ok/v1/chat", new { });

        await Problems.AssertProblemAsync(wrongMethod, HttpStatusCode.Forbidden, "gateway_not_allowed");
        await Problems.AssertProblemAsync(wrongPath, HttpStatusCode.Forbidden, "gateway_not_allowed");
        await Problems.AssertProblemAsync(prefixOnly, HttpStatusCode.Forbidden, "gateway_not_allowed");
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal("/ok/v1/chat", Assert.Single(_upstream.Requests).RawTarget);
    }

    [Fact]
    public async Task ReadIsNotUse_AndUseIsNotRead()
    {
        var reader = await AgentAsync("reader-agent", role: "reader");
        var user = await AgentAsync("user-agent");

        using var readerCall = await SendAsync(HttpMethod.Get, reader.Token, "/v1/gateway/openai/ok");
        await Problems.AssertProblemAsync(readerCall, HttpStatusCode.NotFound, "integration_not_found");
        Assert.Empty(_upstream.Requests);
        Assert.Equal(HttpStatusCode.Forbidden, await _world.ReadStatusAsync(user.Token, "llm/openai"));
    }

    [Fact]
    public async Task WithoutUse_AnExistingIntegration_AnswersExactlyLikeAMissingOne_ButIsAuditedAsADenial()
    {
        var reader = await AgentAsync("reader-agent", role: "reader");

        using var existing = await SendAsync(HttpMethod.Get, reader.Token, "/v1/gateway/openai/ok");
        using var missing = await SendAsync(HttpMethod.Get, reader.Token, "/v1/gateway/nopenai/ok");

        var existingProblem = await Problems.AssertProblemAsync(existing, HttpStatusCode.NotFound, "integration_not_found");
        var missingProblem = await Problems.AssertProblemAsync(missing, HttpStatusCode.NotFound, "integration_not_found");
        Assert.Equal(
            missingProblem.GetProperty("detail").GetString()!.Replace("nopenai", "openai", StringComparison.Ordinal),
            existingProblem.GetProperty("detail").GetString());
        Assert.Equal(missingProblem.GetProperty("title").GetString(), existingProblem.GetProperty("title").GetString());
        Assert.DoesNotContain("llm/", existingProblem.GetRawText(), StringComparison.Ordinal);
        Assert.Empty(_upstream.Requests);

        // The admin's log tells them apart: the existing one is a denial outside the agent's rules, counted as such.
        var records = (await _world.AuditAsync()).Where(r => r.GetProperty("operation").GetString() == "gateway.request").ToList();
        var denied = Assert.Single(records, r => r.GetProperty("path").GetString() == "llm/openai");
        Assert.Equal(("denied", "out_of_scope", 404), (denied.GetProperty("outcome").GetString(), denied.GetProperty("anomaly").GetString(), denied.GetProperty("status").GetInt32()));
        var unknown = Assert.Single(records, r => r.GetProperty("path").ValueKind == JsonValueKind.Null);
        Assert.Equal("error", unknown.GetProperty("outcome").GetString());
    }

    [Fact]
    public async Task ASpawnSlice_OnAnIntegrationTheAgentCannotUse_AnswersExactlyLikeOneThatDoesNotExist()
    {
        await _world.PutRoleAsync("reader-spawner", [AgentWorld.Rule("llm/*", "read")], "1h", "reader-spawner");
        var reader = await AgentAsync("reader-agent", role: "reader-spawner");

        using var existing = await _world.PostAsync(reader.Token, "/v1/agents/spawn", new { agent_id = "kid", ttl = "5m", budgets = new Dictionary<string, long> { ["openai"] = 1 } });
        using var missing = await _world.PostAsync(reader.Token, "/v1/agents/spawn", new { agent_id = "kid", ttl = "5m", budgets = new Dictionary<string, long> { ["nopenai"] = 1 } });

        var existingProblem = await Problems.AssertProblemAsync(existing, HttpStatusCode.NotFound, "integration_not_found");
        var missingProblem = await Problems.AssertProblemAsync(missing, HttpStatusCode.NotFound, "integration_not_found");
        Assert.Equal(
            missingProblem.GetProperty("detail").GetString()!.Replace("nopenai", "openai", StringComparison.Ordinal),
            existingProblem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AnotherTenantsAgent_CannotUseThisTenantsIntegration()
    {
        var other = await AgentWorld.CreateAsync(_host, "globex");
        await other.PutRoleAsync("caller", [AgentWorld.Rule("llm/*", "use")], "1h");
        var intruder = await other.StartAgentAsync("x", "r", "caller");

        using var response = await SendAsync(HttpMethod.Get, intruder.Token, "/v1/gateway/openai/ok");

        await Problems.AssertProblemAsync(response, HttpStatusCode.NotFound, "integration_not_found");
        Assert.Empty(_upstream.Requests);
    }

    [Fact]
    public async Task TokensInHeadersOrQuery_AndUpgrades_AreRefused()
    {
        var agent = await AgentAsync();
        var sibling = await AgentAsync("a2");

        using var inHeader = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/ok", headers: new Dictionary<string, string> { ["X-Context"] = "for " + sibling.Token });
        using var upgrade = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/ok", headers: new Dictionary<string, string> { ["Upgrade"] = "websocket" });

        await Problems.AssertProblemAsync(inHeader, HttpStatusCode.BadRequest, "gateway_header_refused");
        Assert.Equal(HttpStatusCode.BadRequest, upgrade.StatusCode);
        Assert.Empty(_upstream.Requests);
    }

    [Fact]
    public async Task ARedirect_GoesBackToTheAgent_NotFollowed_WithItsLocationScrubbed()
    {
        var agent = await AgentAsync();
        using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/redirect");

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        AssertNeverLeaked(await EverythingAsync(response));
        Assert.Single(_upstream.Requests);
    }

    [Fact]
    public async Task UpstreamStatuses_PassThrough_AndADeadUpstreamIs502()
    {
        var agent = await AgentAsync();
        using var notFound = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/status/404");
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);

        var dead = Integration();
        dead["upstream"] = "http://127.0.0.1:1/";
        await PutIntegrationAsync("dead", dead);
        using var unavailable = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/dead/anything");
        await Problems.AssertProblemAsync(unavailable, HttpStatusCode.BadGateway, "upstream_unavailable");
    }

    [Fact]
    public async Task ARunBudget_HoldsUnderConcurrentRequests()
    {
        await PutIntegrationAsync("budgeted", Integration(limits: new { run_budget = 5 }));
        var agent = await AgentAsync();

        var calls = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/budgeted/ok");
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        Assert.Equal(5, calls.Count(c => c.StatusCode == HttpStatusCode.OK));
        Assert.Equal(15, calls.Count(c => c.StatusCode == HttpStatusCode.TooManyRequests && c.Body.Contains("run_budget_exhausted", StringComparison.Ordinal)));
        Assert.Equal(5, _upstream.Requests.Count);

        // Another run has its own budget.
        var other = await AgentAsync("b1", "r2");
        using var otherRun = await SendAsync(HttpMethod.Get, other.Token, "/v1/gateway/budgeted/ok");
        Assert.Equal(HttpStatusCode.OK, otherRun.StatusCode);
    }

    [Fact]
    public async Task ABudgetSlice_CapsTheChild_AndTheChildsUseCountsAgainstTheParent()
    {
        await PutIntegrationAsync("budgeted", Integration(limits: new { run_budget = 100 }));
        var parentBootstrap = await Problems.JsonAsync(await _world.PostAsync(_world.Orchestrator, "/v1/agents/bootstrap",
            new { agent_id = "lead", run_id = "r1", role = "caller", ttl = "30m", budgets = new Dictionary<string, long> { ["budgeted"] = 4 } }));
        var parent = await _world.ExchangeAsync(parentBootstrap.GetProperty("bootstrap_token").GetString()!);

        // A slice larger than what the parent has left is refused.
        using var tooBig = await _world.PostAsync(parent.Token, "/v1/agents/spawn", new { agent_id = "kid", ttl = "10m", budgets = new Dictionary<string, long> { ["budgeted"] = 5 } });
        await Problems.AssertProblemAsync(tooBig, HttpStatusCode.BadRequest, "budget_exceeds_remaining");

        var spawned = await Problems.JsonAsync(await _world.PostAsync(parent.Token, "/v1/agents/spawn",
            new { agent_id = "kid", ttl = "10m", budgets = new Dictionary<string, long> { ["budgeted"] = 3 } }));
        var child = await _world.ExchangeAsync(spawned.GetProperty("bootstrap_token").GetString()!);
        var grandchild = await _world.SpawnAsync(child, "grandkid", ttl: "5m");

        // The grandchild (no slice of its own) spends the child's slice; the child's use is the parent's too.
        var grandchildCalls = await Task.WhenAll(Enumerable.Range(0, 6).Select(async _ =>
        {
            using var response = await SendAsync(HttpMethod.Get, grandchild.Token, "/v1/gateway/budgeted/ok");
            return response.StatusCode;
        }));
        Assert.Equal(3, grandchildCalls.Count(s => s == HttpStatusCode.OK));
        using var childCall = await SendAsync(HttpMethod.Get, child.Token, "/v1/gateway/budgeted/ok");
        await Problems.AssertProblemAsync(childCall, HttpStatusCode.TooManyRequests, "run_budget_exhausted");
        using (var parentCall = await SendAsync(HttpMethod.Get, parent.Token, "/v1/gateway/budgeted/ok"))
        {
            Assert.Equal(HttpStatusCode.OK, parentCall.StatusCode);
        }

        using var parentAgain = await SendAsync(HttpMethod.Get, parent.Token, "/v1/gateway/budgeted/ok");
        await Problems.AssertProblemAsync(parentAgain, HttpStatusCode.TooManyRequests, "run_budget_exhausted");
        Assert.Equal(4, _upstream.Requests.Count);
    }

    [Fact]
    public async Task APerAgentRateLimit_RefusesABurst()
    {
        await PutIntegrationAsync("limited", Integration(limits: new { per_agent_rps = 2 }));
        var agent = await AgentAsync();

        var statuses = await Task.WhenAll(Enumerable.Range(0, 10).Select(async _ =>
        {
            using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/limited/ok");
            return response.StatusCode;
        }));

        // A burst of ten within well under a second: the bucket holds two (plus what refills meanwhile).
        Assert.InRange(statuses.Count(s => s == HttpStatusCode.OK), 2, 5);
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
    }

    [Fact]
    public async Task ALockdown_CutsOffAStreamingCallInFlight()
    {
        var agent = await AgentAsync();
        using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/sse-forever");
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Assert.StartsWith("data: tick", await reader.ReadLineAsync(timeout.Token), StringComparison.Ordinal);
        Assert.Equal(1, _upstream.OpenStreams);

        using (var root = _host.Client())
        {
            (await root.PostAsJsonAsync("/v1/tenants/acme/lockdown", new { reason = "test" })).EnsureSuccessStatusCode();
        }

        // The stream ends (cleanly or broken) within a few re-check intervals, and the upstream call is cancelled too.
        try
        {
            while (await reader.ReadLineAsync(timeout.Token) is not null)
            {
            }
        }
        catch (IOException)
        {
        }
        catch (HttpRequestException)
        {
        }

        Assert.False(timeout.IsCancellationRequested, "the stream went on after the lockdown");
        while (_upstream.OpenStreams > 0 && !timeout.IsCancellationRequested)
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, _upstream.OpenStreams);
    }

    [Theory]
    [InlineData("delete")]
    [InlineData("replace")]
    [InlineData("narrow")]
    public async Task DeletingOrChangingTheIntegration_CutsOffItsStreamingCallInFlight(string change)
    {
        var agent = await AgentAsync();
        using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/sse-forever");
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Assert.StartsWith("data: tick", await reader.ReadLineAsync(timeout.Token), StringComparison.Ordinal);
        Assert.Equal(1, _upstream.OpenStreams);

        using (var admin = change == "delete"
            ? await SendAsync(HttpMethod.Delete, _world.Admin, "/v1/integrations/openai")
            : await SendAsync(HttpMethod.Put, _world.Admin, "/v1/integrations/openai", change == "replace" ? Integration() : Integration(allow: [new { methods = new[] { "POST" }, path = "v1/**" }])))
        {
            Assert.True(admin.IsSuccessStatusCode, admin.StatusCode.ToString());
        }

        await AssertStreamEndsAsync(reader, timeout);
        var complete = Assert.Single(await AuditWithCompleteAsync(), r => r.GetProperty("operation").GetString() == "gateway.complete");
        Assert.Equal("integration_changed", complete.GetProperty("code").GetString());
    }

    [Fact]
    public async Task ChangingAnotherIntegration_LeavesACallInFlightRunning()
    {
        await PutIntegrationAsync("other");
        var agent = await AgentAsync();
        using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/sse-forever");
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Assert.StartsWith("data: tick", await reader.ReadLineAsync(timeout.Token), StringComparison.Ordinal);

        await PutIntegrationAsync("other");
        using (var deleted = await SendAsync(HttpMethod.Delete, _world.Admin, "/v1/integrations/other"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        // Barrier: two whole re-check passes after the changes (the first may have begun before them).
        var calls = _host.Services.GetRequiredService<InFlightCalls>();
        var seen = calls.Rechecks;
        while (calls.Rechecks < seen + 2 && !timeout.IsCancellationRequested)
        {
            await Task.Delay(20);
        }

        Assert.Equal(1, calls.Count);
        Assert.Equal(1, _upstream.OpenStreams);
        string? line;
        do
        {
            line = await reader.ReadLineAsync(timeout.Token);
        }
        while (line == "");

        Assert.StartsWith("data: tick", line, StringComparison.Ordinal);
    }

    /// <summary>The agent's stream ends (cleanly or broken) and the upstream call is cancelled too, well before <paramref name="timeout"/>.</summary>
    private async Task AssertStreamEndsAsync(StreamReader reader, CancellationTokenSource timeout)
    {
        try
        {
            while (await reader.ReadLineAsync(timeout.Token) is not null)
            {
            }
        }
        catch (IOException)
        {
        }
        catch (HttpRequestException)
        {
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
        }

        Assert.False(timeout.IsCancellationRequested, "the stream went on");
        while (_upstream.OpenStreams > 0 && !timeout.IsCancellationRequested)
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, _upstream.OpenStreams);
    }

    [Fact]
    public async Task MaxUsesSecret_EachCallHasOneRecord_AndOnlyCallsTheBudgetAllowedCount()
    {
        // Arrange: the integration's secret rotates every 10 uses; a run may make 2 calls
        using (var policy = await SendAsync(HttpMethod.Put, _world.Admin, "/v1/secret-metadata/llm/openai",
            new { rotation = new { max_uses = 10, generator = new { kind = "random", length = 32, fields = new[] { "api_key" } } } }))
        {
            Assert.Equal(HttpStatusCode.NoContent, policy.StatusCode);
        }

        await PutIntegrationAsync("budgeted", Integration(limits: new { run_budget = 2 }));
        var agent = await AgentAsync();

        // Act: four calls, the last two refused by the budget
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/budgeted/ok");
            statuses.Add(response.StatusCode);
        }

        // Assert: one gateway.request record per call (never an ok next to a refusal), two uses counted
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        var requests = (await _world.AuditAsync()).Where(r => r.GetProperty("operation").GetString() == "gateway.request").ToList();
        Assert.Equal(4, requests.Count);
        Assert.Equal(4, requests.Select(r => r.GetProperty("request_id").GetString()).Distinct().Count());
        Assert.Equal([200, 200, 429, 429], requests.Select(r => r.GetProperty("status").GetInt32()));
        var metadata = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/secret-metadata/llm/openai"));
        Assert.Equal(2, metadata.GetProperty("rotation").GetProperty("uses").GetInt64());
    }

    [Fact]
    public async Task MaxUsesSecret_ACallPinnedToThePreviousVersion_DoesNotCountTheCurrentOne()
    {
        // Arrange: version 2 current, version 1 previous in its grace window; the secret counts uses
        var agent = await AgentAsync();
        using (var rotate = await SendAsync(HttpMethod.Post, _world.Admin, "/v1/secrets/llm/openai/rotate", new { data = new { api_key = "sk-live-second-value-abcdef" } }))
        {
            await Problems.JsonAsync(rotate, HttpStatusCode.Created);
        }

        using (var promoted = await SendAsync(HttpMethod.Post, _world.Admin, "/v1/secrets/llm/openai/promote", new { version = 2 }))
        {
            await Problems.JsonAsync(promoted);
        }

        using (var policy = await SendAsync(HttpMethod.Put, _world.Admin, "/v1/secret-metadata/llm/openai",
            new { rotation = new { max_uses = 3, generator = new { kind = "random", length = 32, fields = new[] { "api_key" } } } }))
        {
            Assert.Equal(HttpStatusCode.NoContent, policy.StatusCode);
        }

        // Act: five calls pinned to the previous version
        for (var i = 0; i < 5; i++)
        {
            using var stale = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/ok", headers: new Dictionary<string, string> { ["X-Keyward-Use-Version"] = "1" });
            Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        }

        // Assert: the current version was never used, so never counted (and never rotated)
        var metadata = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/secret-metadata/llm/openai"));
        Assert.Equal((2L, 0L), (metadata.GetProperty("current_version").GetInt64(), metadata.GetProperty("rotation").GetProperty("uses").GetInt64()));
        Assert.Equal(5, (await _world.AuditAsync()).Count(r => r.GetProperty("operation").GetString() == "gateway.request"));
    }

    [Fact]
    public async Task ACallPinnedToThePreviousVersion_InItsGraceWindow_IsServedAndFlaggedStale()
    {
        var agent = await AgentAsync();
        await _host.PutSecretAsync(_world.Admin, "llm/openai", new { api_key = "sk-live-second-value-abcdef" });
        using (var rotate = await SendAsync(HttpMethod.Post, _world.Admin, "/v1/secrets/llm/openai/rotate", new { data = new { api_key = "sk-live-third-value-abcdef" } }))
        {
            await Problems.JsonAsync(rotate, HttpStatusCode.Created);
        }

        using (var promoted = await SendAsync(HttpMethod.Post, _world.Admin, "/v1/secrets/llm/openai/promote", new { version = 3 }))
        {
            await Problems.JsonAsync(promoted);
        }

        using var stale = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/ok", headers: new Dictionary<string, string> { ["X-Keyward-Use-Version"] = "2" });
        using var ancient = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/ok", headers: new Dictionary<string, string> { ["X-Keyward-Use-Version"] = "1" });

        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        Assert.Equal("Bearer sk-live-second-value-abcdef", Assert.Single(_upstream.Requests).Header("Authorization"));
        await Problems.AssertProblemAsync(ancient, HttpStatusCode.Conflict, "version_not_usable");
        var request = Assert.Single(await _world.AuditAsync(), r => r.GetProperty("operation").GetString() == "gateway.request" && r.GetProperty("status").GetInt32() == 200);
        Assert.Equal("stale_version", request.GetProperty("anomaly").GetString());
        Assert.Equal(2, request.GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task APendingVersion_IsPromotedOnlyAfterTheVerifyCallSucceedsWithIt()
    {
        using (var put = await SendAsync(HttpMethod.Put, _world.Admin, "/v1/secret-metadata/llm/openai",
            new { rotation = new { verify = new { integration = "openai", method = "GET", path = "check", expect_status = 200 } } }))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        const string Next = "sk-live-next-value-0123456789";
        await Problems.JsonAsync(await SendAsync(HttpMethod.Post, _world.Admin, "/v1/secrets/llm/openai/rotate", new { data = new { api_key = Next } }), HttpStatusCode.Created);

        // The upstream still only knows the old key: the new one does not work there, so it is not promoted.
        using (var refused = await SendAsync(HttpMethod.Post, _world.Admin, "/v1/secrets/llm/openai/promote", new { version = 2 }))
        {
            var problem = await Problems.AssertProblemAsync(refused, HttpStatusCode.Conflict, "rotation_verification_failed");
            Assert.Contains("answered 401", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            AssertNeverLeaked(problem.GetRawText());
            Assert.DoesNotContain(Next, problem.GetRawText(), StringComparison.Ordinal);
        }

        var metadata = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/secret-metadata/llm/openai"));
        Assert.Equal(1, metadata.GetProperty("current_version").GetInt64());
        Assert.Equal("check", metadata.GetProperty("rotation").GetProperty("verify").GetProperty("path").GetString());
        Assert.Equal("Bearer " + Next, _upstream.Requests.Last().Header("Authorization"));

        // The verification call, like any call the gateway makes with a credential, has its records: gateway.request
        // (the pending version, purpose rotation.verify) and gateway.complete with the upstream's 401 — never the value.
        var audit = new AuditLog(_host);
        var records = (await audit.RefreshAsync()).Where(r => r.GetProperty("details") is { ValueKind: JsonValueKind.Object } d && d.TryGetProperty("purpose", out var p) && p.GetString() == "rotation.verify").ToList();
        Assert.Equal(["gateway.request", "gateway.complete"], records.Select(r => r.GetProperty("operation").GetString()));
        Assert.All(records, r => Assert.Equal((2L, "llm/openai", "rotation"), (r.GetProperty("version").GetInt64(), r.GetProperty("path").GetString(), r.GetProperty("actor").GetProperty("kind").GetString())));
        Assert.Equal(401, records[1].GetProperty("status").GetInt32());
        Assert.Equal(records[0].GetProperty("request_id").GetString(), records[1].GetProperty("request_id").GetString());
        Assert.DoesNotContain(Next, audit.AllText, StringComparison.Ordinal);

        // Once the provider accepts it, the promotion goes through.
        _upstream.Secret = Next;
        await Problems.JsonAsync(await SendAsync(HttpMethod.Post, _world.Admin, "/v1/secrets/llm/openai/promote", new { version = 2 }));
        metadata = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/secret-metadata/llm/openai"));
        Assert.Equal(2, metadata.GetProperty("current_version").GetInt64());
    }

    [Fact]
    public async Task Integrations_Crud_AdminOnly()
    {
        var agent = await AgentAsync();
        using var forbidden = await SendAsync(HttpMethod.Put, agent.Token, "/v1/integrations/x", Integration());
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);

        var read = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/integrations/openai"));
        Assert.Equal("llm/openai", read.GetProperty("secret_path").GetString());
        Assert.Equal("bearer", read.GetProperty("inject").GetProperty("kind").GetString());
        Assert.Equal(1, read.GetProperty("version").GetInt64());
        var list = await Problems.JsonAsync(await SendAsync(HttpMethod.Get, _world.Admin, "/v1/integrations"));
        Assert.Equal("openai", Assert.Single(list.GetProperty("integrations").EnumerateArray()).GetProperty("name").GetString());
        AssertNeverLeaked(read.GetRawText() + list.GetRawText());

        using var deleted = await SendAsync(HttpMethod.Delete, _world.Admin, "/v1/integrations/openai");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        using var gone = await SendAsync(HttpMethod.Get, agent.Token, "/v1/gateway/openai/ok");
        await Problems.AssertProblemAsync(gone, HttpStatusCode.NotFound, "integration_not_found");
        using var goneAgain = await SendAsync(HttpMethod.Delete, _world.Admin, "/v1/integrations/openai");
        await Problems.AssertProblemAsync(goneAgain, HttpStatusCode.NotFound, "integration_not_found");
    }

    [Theory]
    [InlineData("upstream", "http://api.example.com/", "invalid_upstream")]
    [InlineData("upstream", "https://user:pw@api.example.com/", "invalid_upstream")]
    [InlineData("upstream", "https://api.example.com/?key=1", "invalid_upstream")]
    [InlineData("upstream", "https://169.254.169.254/", "invalid_upstream")]
    [InlineData("upstream", "https://10.0.0.5/", "invalid_upstream")]
    [InlineData("upstream", "ftp://api.example.com/", "invalid_upstream")]
    [InlineData("secret_path", "../x", "invalid_path")]
    [InlineData("allow", "bad", "invalid_field")]
    [InlineData("method", "CONNECT", "invalid_field")]
    [InlineData("inject", "cookie", "invalid_field")]
    [InlineData("unknown", "x", "unknown_field")]
    public async Task BadIntegrations_AreRefused(string field, string value, string code)
    {
        var body = Integration();
        body["allow_insecure_loopback"] = false;
        switch (field)
        {
            case "allow":
                body["allow"] = new[] { new { methods = new[] { "GET" }, path = "**/x" } };
                body["upstream"] = "https://api.example.com/";
                break;
            case "method":
                body["allow"] = new[] { new { methods = new[] { value }, path = "**" } };
                body["upstream"] = "https://api.example.com/";
                break;
            case "inject":
                body["inject"] = new { kind = "header", name = value };
                body["upstream"] = "https://api.example.com/";
                break;
            case "unknown":
                body["upstream"] = "https://api.example.com/";
                body["alow"] = value;
                break;
            default:
                body["upstream"] = "https://api.example.com/";
                body[field] = value;
                break;
        }

        using var response = await SendAsync(HttpMethod.Put, _world.Admin, "/v1/integrations/bad", body);

        await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
    }
}
