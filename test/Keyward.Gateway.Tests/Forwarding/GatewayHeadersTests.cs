using System.Net;
using Keyward.Core.Errors;
using Keyward.Gateway.Forwarding;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Keyward.Gateway.Tests.Forwarding;

public sealed class GatewayHeadersTests
{
    private const string AgentToken = "kws_0123456789abcdefghijKLMNOPQRSTUV";

    private static HttpRequestMessage Copy(HeaderDictionary from, string? injected = "Authorization", HttpContent? content = null)
    {
        var upstream = new HttpRequestMessage(HttpMethod.Post, "https://api.example/v1/x") { Content = content };
        GatewayHeaders.CopyRequestHeaders(from, upstream, injected);
        return upstream;
    }

    private static string[] Values(HttpRequestMessage request, string name) =>
        request.Headers.NonValidated.TryGetValues(name, out var values) ? [.. values]
        : request.Content is not null && request.Content.Headers.NonValidated.TryGetValues(name, out var content) ? [.. content]
        : [];

    [Theory]
    [InlineData("Connection", "close")]
    [InlineData("Keep-Alive", "timeout=5")]
    [InlineData("Proxy-Connection", "keep-alive")]
    [InlineData("TE", "trailers")]
    [InlineData("Trailer", "X-Checksum")]
    [InlineData("Transfer-Encoding", "chunked")]
    [InlineData("Host", "evil.example")]
    [InlineData("Authorization", "Bearer " + AgentToken)]  // the agent's own Keyward token: dropped, not refused
    [InlineData("authorization", "Basic dXNlcjpwYXNz")]
    [InlineData("Proxy-Authorization", "Basic dXNlcjpwYXNz")]
    [InlineData("Forwarded", "for=10.0.0.1")]
    [InlineData("X-Forwarded-For", "10.0.0.1")]
    [InlineData("X-Forwarded-Host", "internal.example")]
    [InlineData("x-forwarded-proto", "http")]
    [InlineData("X-Real-IP", "10.0.0.1")]
    [InlineData("Via", "1.1 proxy")]
    [InlineData("X-Keyward-Wrap-Ttl", "5m")]
    [InlineData("x-keyward-wrap-ttl", "5m")]
    [InlineData("X-Keyward-Run", "run-1")]
    [InlineData("Cookie", "session=abc")]
    [InlineData("Expect", "100-continue")]
    [InlineData(":authority", "evil.example")]
    [InlineData("Range", "bytes=0-3")]                         // a piece of an echo is not an echo the scrubber can see
    [InlineData("range", "bytes=4-7, 8-11")]
    [InlineData("If-Range", "\"etag\"")]
    [InlineData("X-HTTP-Method-Override", "DELETE")]            // the method the allow-list saw is the method sent
    [InlineData("x-http-method-override", "DELETE")]
    [InlineData("X-HTTP-Method", "DELETE")]
    [InlineData("X-Method-Override", "PUT")]
    [InlineData("X-Original-URL", "/admin")]                   // so is the path
    [InlineData("X-Rewrite-URL", "/admin")]
    [InlineData("X-Original-Host", "internal.example")]
    [InlineData("True-Client-IP", "10.0.0.1")]                 // and nobody vouches for a client address
    public void RequestHeader_IsDropped(string name, string value)
    {
        using var upstream = Copy(new HeaderDictionary { [name] = value, ["X-Kept"] = "yes" });

        Assert.Empty(Values(upstream, name));
        Assert.Equal(["yes"], Values(upstream, "X-Kept"));
    }

    [Fact]
    public void HeaderNamedInConnection_IsDropped()
    {
        using var upstream = Copy(new HeaderDictionary
        {
            ["Connection"] = new StringValues(["keep-alive, X-Foo", "x-bar"]),
            ["X-Foo"] = "1",
            ["X-Bar"] = "2",
            ["X-Baz"] = "3",
        });

        Assert.Empty(Values(upstream, "X-Foo"));
        Assert.Empty(Values(upstream, "X-Bar"));
        Assert.Equal(["3"], Values(upstream, "X-Baz"));
        Assert.Empty(Values(upstream, "Connection"));
    }

    [Fact]
    public void HeaderNamedLikeTheInjectedOne_IsDropped_InAnyCase()
    {
        using var upstream = Copy(new HeaderDictionary { ["X-Api-Key"] = "agent-supplied", ["X-Other"] = "o" }, injected: "x-api-key");

        Assert.Empty(Values(upstream, "X-Api-Key"));
        Assert.Equal(["o"], Values(upstream, "X-Other"));
    }

    [Fact]
    public void QueryInjection_DropsNoExtraHeader()
    {
        using var upstream = Copy(new HeaderDictionary { ["X-Api-Key"] = "mine" }, injected: null);

        Assert.Equal(["mine"], Values(upstream, "X-Api-Key"));
    }

    [Fact]
    public void AcceptEncoding_IsReplacedByIdentity()
    {
        using var upstream = Copy(new HeaderDictionary { ["Accept-Encoding"] = "gzip, br" });

        Assert.Equal(["identity"], Values(upstream, "Accept-Encoding"));

        using var none = Copy([]);
        Assert.Equal(["identity"], Values(none, "Accept-Encoding"));
    }

    [Fact]
    public void MultiValueHeaders_KeepEveryValue()
    {
        using var upstream = Copy(new HeaderDictionary
        {
            ["Accept"] = new StringValues(["application/json", "text/event-stream"]),
            ["X-Trace"] = new StringValues(["a", "b", "c"]),
        });

        Assert.Equal(["application/json", "text/event-stream"], Values(upstream, "Accept"));
        Assert.Equal(["a", "b", "c"], Values(upstream, "X-Trace"));
    }

    [Fact]
    public void ContentHeaders_GoOnTheContent_WhenThereIsOne()
    {
        var content = new ByteArrayContent([1, 2, 3]);
        using var upstream = Copy(new HeaderDictionary
        {
            ["Content-Type"] = "application/json; charset=utf-8",
            ["Content-Length"] = "3",
            ["Content-Language"] = "en",
            ["User-Agent"] = "agent/1.0",
        }, content: content);

        Assert.Equal(["application/json; charset=utf-8"], [.. content.Headers.NonValidated["Content-Type"]]);
        Assert.Equal(["en"], [.. content.Headers.NonValidated["Content-Language"]]);
        Assert.Equal(3, content.Headers.ContentLength);
        Assert.False(upstream.Headers.NonValidated.Contains("Content-Type"));
        Assert.Equal(["agent/1.0"], Values(upstream, "User-Agent"));
    }

    [Fact]
    public void ContentHeaders_AreDropped_WhenThereIsNoContent()
    {
        using var upstream = Copy(new HeaderDictionary { ["Content-Type"] = "application/json", ["Content-Length"] = "0" });

        Assert.Null(upstream.Content);
        Assert.Empty(Values(upstream, "Content-Type"));
    }

    [Theory]
    [InlineData("websocket")]
    [InlineData("h2c")]
    public void UpgradeRequest_IsRefused(string protocol)
    {
        var refused = Assert.Throws<KeywardException>(() =>
            Copy(new HeaderDictionary { ["Connection"] = "Upgrade", ["Upgrade"] = protocol }));

        Assert.Equal("gateway_header_refused", refused.Code);
        Assert.Equal(400, refused.Status);
    }

    [Theory]
    [InlineData("X-Custom", AgentToken)]
    [InlineData("X-Custom", "Bearer " + AgentToken)]
    [InlineData("X-Custom", "prefix KWS_0123456789abcdefghij suffix")]
    [InlineData("X-Session", "kwd_0123456789abcdefXYZ")]
    [InlineData("Referer", "https://x.example/?t=kwa_0123456789abcdefXYZ")]
    [InlineData("X-" + AgentToken, "1")]
    public void TokenShapedHeader_IsRefused(string name, string value)
    {
        var refused = Assert.Throws<KeywardException>(() => Copy(new HeaderDictionary { [name] = value }));

        Assert.Equal("gateway_header_refused", refused.Code);
        Assert.DoesNotContain("0123456789abcdef", refused.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void TokenShapedValue_InOneOfSeveralValues_IsRefused() =>
        Assert.Throws<KeywardException>(() => Copy(new HeaderDictionary { ["X-Multi"] = new StringValues(["fine", AgentToken]) }));

    [Fact]
    public void NameLikeAToken_ButTooShort_IsKept()
    {
        using var upstream = Copy(new HeaderDictionary { ["X-Backup"] = "kwa_backup" });
        Assert.Equal(["kwa_backup"], Values(upstream, "X-Backup"));
    }

    [Theory]
    [InlineData("", "api_key", "")]
    [InlineData("?", "api_key", "")]
    [InlineData("?a=1&b=2", "api_key", "?a=1&b=2")]
    [InlineData("a=1&b=2", "api_key", "?a=1&b=2")]
    [InlineData("?api_key=mine&API_KEY=mine2&x=1", "api_key", "?x=1")]
    [InlineData("?x=1&api_key=mine&API_KEY=mine2", "api_key", "?x=1")]
    [InlineData("?Api_Key=mine", "api_key", "")]
    [InlineData("?api%5Fkey=mine&x=1", "api_key", "?x=1")]       // compared after decoding
    [InlineData("?api%5fKEY=mine&x=1", "api_key", "?x=1")]
    [InlineData("?api_key&x=1", "api_key", "?x=1")]               // no value
    [InlineData("?api_key=&x=1", "api_key", "?x=1")]
    [InlineData("?api.key=m&api+key=m&api%20key=m&api_key[]=m&api_key%5B0%5D=m&x=1", "api_key", "?x=1")]
    [InlineData("?x=1;api_key=mine;y=2", "api_key", "?x=1;y=2")]  // ';' separates too
    [InlineData("?x=1&api_key=mine;y=2", "api_key", "?x=1;y=2")]
    [InlineData("?api_keys=1&my_api_key=2", "api_key", "?api_keys=1&my_api_key=2")]
    [InlineData("?q=a%2Bb+c&empty=&&flag&x=%E2%82%AC", "api_key", "?q=a%2Bb+c&empty=&&flag&x=%E2%82%AC")] // byte for byte
    [InlineData("?q=api_key%3Dmine", "api_key", "?q=api_key%3Dmine")]  // a value is not a name
    [InlineData("?api_key=mine", null, "?api_key=mine")]          // header injection: nothing removed
    [InlineData("?key=abc&x=%zz", "key", "?x=%zz")]               // a bad escape stays as written
    public void FilterQuery_RemovesTheInjectedParameter_AndKeepsTheRestByteForByte(string raw, string? injected, string expected) =>
        Assert.Equal(expected, GatewayHeaders.FilterQuery(raw, injected));

    [Theory]
    [InlineData("?t=" + AgentToken)]
    [InlineData("?x=1&t=Bearer%20" + AgentToken)]
    [InlineData("?t=kws%5F0123456789abcdefghijKLMN")]             // encoded, found after decoding
    [InlineData("?" + AgentToken + "=1")]
    [InlineData("?a=1;t=" + AgentToken)]
    public void FilterQuery_RefusesATokenShapedParameter(string raw)
    {
        var refused = Assert.Throws<KeywardException>(() => GatewayHeaders.FilterQuery(raw, "api_key"));
        Assert.Equal("gateway_query_refused", refused.Code);
        Assert.DoesNotContain("0123456789abcdef", refused.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("?_method=DELETE")]
    [InlineData("?x=1&_method=delete")]
    [InlineData("?_METHOD=DELETE")]
    [InlineData("?_Method=PUT&x=1")]
    [InlineData("?%5Fmethod=DELETE")]                            // compared after decoding
    [InlineData("?_method[]=DELETE")]                            // and as lenient servers read names
    [InlineData("?.method=DELETE")]
    [InlineData("?x=1;_method=DELETE")]
    [InlineData("?_method")]
    public void FilterQuery_RefusesAMethodOverride(string raw)
    {
        var refused = Assert.Throws<KeywardException>(() => GatewayHeaders.FilterQuery(raw, "api_key"));

        Assert.Equal("gateway_query_refused", refused.Code);
        Assert.Equal(400, refused.Status);
    }

    [Theory]
    [InlineData("?my_method=1&_methods=2&method=3&x=_method")]
    public void FilterQuery_KeepsParametersThatOnlyLookLikeAMethodOverride(string raw) =>
        Assert.Equal(raw, GatewayHeaders.FilterQuery(raw, "api_key"));

    [Fact]
    public void FilterQuery_RemovedParameter_IsNotJudged() =>
        Assert.Equal("?x=1", GatewayHeaders.FilterQuery("?api_key=" + AgentToken + "&x=1", "api_key"));

    private static HeaderDictionary CopyResponse(HttpResponseMessage from, Func<string, string>? scrub = null)
    {
        var to = new HeaderDictionary();
        GatewayHeaders.CopyResponseHeaders(from, to, scrub ?? (v => v.Replace("sk-secret", "[REDACTED:keyward]", StringComparison.Ordinal)));
        return to;
    }

    [Fact]
    public void ResponseHopByHopHeaders_AreDropped()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("x") };
        response.Headers.TryAddWithoutValidation("Connection", "keep-alive, X-Hop");
        response.Headers.TryAddWithoutValidation("Keep-Alive", "timeout=5");
        response.Headers.TryAddWithoutValidation("Transfer-Encoding", "chunked");
        response.Headers.TryAddWithoutValidation("Upgrade", "h2c");
        response.Headers.TryAddWithoutValidation("Trailer", "X-Sum");
        response.Headers.TryAddWithoutValidation("Proxy-Authenticate", "Basic");
        response.Headers.TryAddWithoutValidation("Alt-Svc", "h3=\":443\"");
        response.Headers.TryAddWithoutValidation("X-Hop", "1");
        response.Headers.TryAddWithoutValidation("X-Keyward-Token", "spoofed");
        response.Headers.TryAddWithoutValidation("X-Request-Id", "req-1");
        response.Content.Headers.TryAddWithoutValidation("Content-MD5", "abc=");

        var to = CopyResponse(response);

        foreach (var name in (string[])["Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Trailer", "Proxy-Authenticate", "Alt-Svc", "X-Hop", "X-Keyward-Token", "Content-Length", "Content-MD5"])
        {
            Assert.False(to.ContainsKey(name), name);
        }

        Assert.Equal("req-1", to["X-Request-Id"]);
        Assert.Equal("text/plain; charset=utf-8", to["Content-Type"]);
    }

    [Fact]
    public void ResponseValues_AreScrubbed_SetCookieAndLocationIncluded()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.Found) { Content = new StringContent("") };
        response.Headers.TryAddWithoutValidation("Location", "https://api.example/next?key=sk-secret");
        response.Headers.TryAddWithoutValidation("Set-Cookie", ["a=sk-secret; Path=/", "b=2"]);
        response.Headers.TryAddWithoutValidation("X-Echo", "your key sk-secret is invalid");
        response.Content.Headers.TryAddWithoutValidation("Content-Disposition", "attachment; filename=sk-secret.txt");

        var to = CopyResponse(response);

        Assert.Equal("https://api.example/next?key=[REDACTED:keyward]", to["Location"]);
        Assert.Equal<string>(["a=[REDACTED:keyward]; Path=/", "b=2"], [.. to["Set-Cookie"].Select(v => v ?? "")]);
        Assert.Equal("your key [REDACTED:keyward] is invalid", to["X-Echo"]);
        Assert.Equal("attachment; filename=[REDACTED:keyward].txt", to["Content-Disposition"]);
    }

    [Fact]
    public void ResponseHeaderWhoseNameEchoes_IsDropped()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.OK);
        response.Headers.TryAddWithoutValidation("X-Debug-sk-secret", "1");
        response.Headers.TryAddWithoutValidation("X-Fine", "1");

        var to = CopyResponse(response);

        Assert.Single(to);
        Assert.Equal("1", to["X-Fine"]);
    }

    [Fact]
    public void ResponseMultiValueHeaders_KeepEveryValue()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.OK);
        response.Headers.TryAddWithoutValidation("Vary", ["Accept", "Origin"]);
        response.Headers.TryAddWithoutValidation("X-Rate", ["1", "2", "3"]);

        var to = CopyResponse(response);

        Assert.Equal<string>(["Accept", "Origin"], [.. to["Vary"].Select(v => v ?? "")]);
        Assert.Equal<string>(["1", "2", "3"], [.. to["X-Rate"].Select(v => v ?? "")]);
    }

    private static HttpResponseMessage Answer(HttpStatusCode status = HttpStatusCode.OK, string? transfer = null, params string[] contentEncoding)
    {
        var response = new HttpResponseMessage(status) { Content = new ByteArrayContent([1]) };
        if (transfer is not null)
        {
            response.Headers.TryAddWithoutValidation("Transfer-Encoding", transfer);
        }

        foreach (var coding in contentEncoding)
        {
            response.Content.Headers.TryAddWithoutValidation("Content-Encoding", coding);
        }

        return response;
    }

    [Theory]
    [InlineData(null, new string[0], null)]
    [InlineData("chunked", new string[0], null)]
    [InlineData("Chunked", new[] { "identity" }, null)]
    [InlineData(null, new[] { "gzip" }, "gzip")]
    [InlineData(null, new[] { "GZIP" }, "gzip")]
    [InlineData(null, new[] { "x-gzip" }, "x-gzip")]
    [InlineData(null, new[] { "br" }, "br")]
    [InlineData("chunked", new[] { "identity, deflate" }, "deflate")]
    [InlineData(null, new[] { "identity", "gzip" }, "gzip")]
    public void CheckResponse_ReturnsTheOneCodingToUndo(string? transfer, string[] contentEncoding, string? expected)
    {
        using var response = Answer(HttpStatusCode.OK, transfer, contentEncoding);

        Assert.Equal(expected, GatewayHeaders.CheckResponse(response, "api"));
    }

    [Theory]
    [InlineData(null, new[] { "gzip;q=1" })]
    [InlineData(null, new[] { "zstd" })]
    [InlineData(null, new[] { "compress" })]
    [InlineData(null, new[] { "gzip, gzip" })]
    [InlineData(null, new[] { "gzip", "br" })]
    [InlineData(null, new[] { "sk-echoed-secret" })]
    [InlineData("gzip, chunked", new string[0])]
    [InlineData("gzip", new string[0])]
    [InlineData("identity", new string[0])]
    [InlineData("chunked, chunked", new string[0])]
    [InlineData("chunked;ext=1", new string[0])]
    [InlineData("", new string[0])]
    public void CheckResponse_RefusesACodingTheGatewayCannotUndo(string? transfer, string[] contentEncoding)
    {
        using var response = Answer(HttpStatusCode.OK, transfer, contentEncoding);

        var refused = Assert.Throws<KeywardException>(() => GatewayHeaders.CheckResponse(response, "api"));

        Assert.Equal((502, "upstream_encoding_refused"), (refused.Status, refused.Code));
        Assert.DoesNotContain("sk-echoed", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckResponse_RefusesAPartialAnswer()
    {
        using var response = Answer(HttpStatusCode.PartialContent);

        var refused = Assert.Throws<KeywardException>(() => GatewayHeaders.CheckResponse(response, "api"));

        Assert.Equal((502, "upstream_partial_refused"), (refused.Status, refused.Code));
    }
}
