using System.Net;
using System.Text;
using System.Text.Json;
using Keyward.Client.Models;

namespace Keyward.Client.Tests;

public sealed class KeywardClientConstructionTests
{
    private const string Token = "kwa_secret-token-value-0123456789abcdefghij";

    [Theory]
    [InlineData("http://example.com:8210")]
    [InlineData("http://10.0.0.5:8210")]
    [InlineData("http://keyward.internal/")]
    [InlineData("http://[2001:db8::1]:8210")]
    public void Constructor_HttpToNonLoopbackHost_ThrowsArgumentException(string address)
    {
        var error = Assert.Throws<ArgumentException>(() => new KeywardClient(new Uri(address), Token));

        Assert.Contains("https", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8210")]
    [InlineData("http://localhost:8210")]
    [InlineData("http://[::1]:8210")]
    [InlineData("https://keyward.example.com")]
    [InlineData("https://10.0.0.5:8210/prefix")]
    public void Constructor_HttpsOrLoopback_Succeeds(string address)
    {
        using var client = new KeywardClient(new Uri(address), Token);

        Assert.True(client.HasToken);
        Assert.EndsWith("/", client.Address.AbsolutePath, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://user:pass@keyward.example.com")]
    [InlineData("https://keyward.example.com/?token=x")]
    [InlineData("https://keyward.example.com/#frag")]
    [InlineData("ftp://keyward.example.com")]
    public void Constructor_AddressWithCredentialsQueryFragmentOrOtherScheme_ThrowsArgumentException(string address)
    {
        Assert.Throws<ArgumentException>(() => new KeywardClient(new Uri(address), Token));
    }

    [Fact]
    public void Constructor_NoAddress_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => new KeywardClient(new KeywardClientOptions { Token = Token }));
    }

    [Theory]
    [InlineData("kwa_abc\r\nX-Evil: 1")]
    [InlineData("kwa_abc def")]
    [InlineData("")]
    public void Constructor_MalformedToken_ThrowsWithoutEchoingIt(string token)
    {
        var error = Assert.Throws<ArgumentException>(() => new KeywardClient(new Uri("https://keyward.example.com"), token));

        if (token.Length > 0)
        {
            Assert.DoesNotContain(token, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Constructor_NonPositiveTimeout_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new KeywardClient(new KeywardClientOptions { Address = new Uri("https://k.example"), Timeout = TimeSpan.Zero }));
    }

    [Fact]
    public void OptionsToString_WithToken_RedactsIt()
    {
        var options = new KeywardClientOptions { Address = new Uri("https://k.example"), Token = Token };

        var text = options.ToString();

        Assert.DoesNotContain(Token, text, StringComparison.Ordinal);
        Assert.Contains("redacted", text, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelToString_TokensKeysAndSecretData_AreRedacted()
    {
        using var data = JsonDocument.Parse("""{"password":"hunter2-secret"}""");
        var texts = new[]
        {
            new IssuedToken(Token, "acc", "admin", "acme", DateTimeOffset.UnixEpoch).ToString(),
            new InitializeResult(["share-one-secret"], Token).ToString(),
            new RootTokenResult(Token).ToString(),
            new KeywardSecret("app/db", 1, data.RootElement.Clone(), DateTimeOffset.UnixEpoch).ToString(),
        };

        Assert.All(texts, t => Assert.DoesNotContain(Token, t, StringComparison.Ordinal));
        Assert.DoesNotContain("share-one-secret", texts[1], StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-secret", texts[3], StringComparison.Ordinal);
        Assert.Contains("app/db", texts[3], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a//b")]
    [InlineData("/a")]
    [InlineData("a/")]
    [InlineData("a/../b")]
    [InlineData("a/./b")]
    [InlineData("..")]
    [InlineData("a%2Fb")]
    [InlineData("a b")]
    [InlineData("a?version=1")]
    [InlineData("a#b")]
    [InlineData("a\\b")]
    [InlineData("caf\u00e9")]
    public async Task SecretMethods_InvalidPath_ThrowArgumentExceptionAndSendNothing(string path)
    {
        var handler = new RecordingHandler();
        using var client = new KeywardClient(new KeywardClientOptions { Address = new Uri("http://127.0.0.1:9"), Token = Token, Handler = handler });

        await Assert.ThrowsAsync<ArgumentException>(() => client.GetSecretAsync(path));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PutSecretAsync(path, new Dictionary<string, string> { ["k"] = "v" }));
        await Assert.ThrowsAsync<ArgumentException>(() => client.DeleteSecretAsync(path));
        await Assert.ThrowsAsync<ArgumentException>(() => client.UndeleteSecretAsync(path, [1]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.DestroySecretAsync(path, [1]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetSecretMetadataAsync(path));
        await Assert.ThrowsAsync<ArgumentException>(() => client.UpdateSecretMetadataAsync(path, maxVersions: 3));
        await Assert.ThrowsAsync<ArgumentException>(() => client.DeleteSecretMetadataAsync(path));

        Assert.Empty(handler.Requests);
    }

    [Fact]
    public async Task SecretMethods_PathLongerThan512Bytes_ThrowArgumentException()
    {
        using var client = new KeywardClient(new KeywardClientOptions { Address = new Uri("http://127.0.0.1:9"), Handler = new RecordingHandler() });

        await Assert.ThrowsAsync<ArgumentException>(() => client.GetSecretAsync(new string('a', 513)));
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("../x")]
    [InlineData("%2e%2e")]
    [InlineData("")]
    public async Task NameMethods_InvalidSegment_ThrowArgumentException(string name)
    {
        var handler = new RecordingHandler();
        using var client = new KeywardClient(new KeywardClientOptions { Address = new Uri("http://127.0.0.1:9"), Token = Token, Handler = handler });

        await Assert.ThrowsAnyAsync<ArgumentException>(() => client.GetTenantAsync(name));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => client.GetRoleAsync(name));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => client.GetRewrapJobAsync("acme", name));

        Assert.Empty(handler.Requests);
    }

    [Fact]
    public async Task Versions_EmptyOrNonPositive_ThrowArgumentException()
    {
        using var client = new KeywardClient(new KeywardClientOptions { Address = new Uri("http://127.0.0.1:9"), Handler = new RecordingHandler() });

        await Assert.ThrowsAsync<ArgumentException>(() => client.UndeleteSecretAsync("a", []));
        await Assert.ThrowsAsync<ArgumentException>(() => client.DestroySecretAsync("a", [0]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.DeleteSecretAsync("a", [-1]));
    }

    [Fact]
    public async Task Requests_WithToken_SendItOnlyAsBearerHeader()
    {
        var handler = new RecordingHandler(_ => Json(HttpStatusCode.OK, """{"keys":["a/b"]}"""));
        using var client = new KeywardClient(new KeywardClientOptions { Address = new Uri("http://127.0.0.1:9/base"), Token = Token, Handler = handler });

        var keys = await client.ListSecretsAsync("app/");

        Assert.Equal(["a/b"], keys);
        var request = Assert.Single(handler.Requests);
        Assert.Equal("http://127.0.0.1:9/base/v1/secrets?prefix=app%2F", request.Uri);
        Assert.DoesNotContain(Token, request.Uri, StringComparison.Ordinal);
        Assert.Equal("Bearer " + Token, request.Authorization);
    }

    [Fact]
    public async Task Unauthenticated_Routes_DoNotSendTheToken()
    {
        var handler = new RecordingHandler(_ => Json(HttpStatusCode.OK, """{"sealed":true,"progress":0,"threshold":3}"""));
        using var client = new KeywardClient(new KeywardClientOptions { Address = new Uri("http://127.0.0.1:9"), Token = Token, Handler = handler });

        await client.ResetUnsealAsync();

        Assert.Null(Assert.Single(handler.Requests).Authorization);
    }

    [Fact]
    public async Task Send_ServerUnreachable_ThrowsStatusZeroConnectionFailed()
    {
        using var client = new KeywardClient(new Uri("http://127.0.0.1:1"), Token);

        var error = await Clients.FailsAsync(() => client.ListTenantsAsync(), 0, KeywardRequestFailedException.ConnectionFailedCode);

        Assert.DoesNotContain(Token, error.Message, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_SlowerThanTimeout_ThrowsStatusZeroTimeout()
    {
        var handler = new RecordingHandler(async (_, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), ct);
            return Json(HttpStatusCode.OK, "{}");
        });
        using var client = new KeywardClient(new KeywardClientOptions
        {
            Address = new Uri("http://127.0.0.1:9"), Token = Token, Handler = handler, Timeout = TimeSpan.FromMilliseconds(200),
        });

        await Clients.FailsAsync(() => client.ListTenantsAsync(), 0, KeywardRequestFailedException.TimeoutCode);
    }

    [Fact]
    public async Task Send_CallerCancels_ThrowsOperationCanceled()
    {
        var handler = new RecordingHandler(async (_, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), ct);
            return Json(HttpStatusCode.OK, "{}");
        });
        using var client = new KeywardClient(new KeywardClientOptions { Address = new Uri("http://127.0.0.1:9"), Handler = handler });
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.ListTenantsAsync(cancel.Token));
    }

    [Fact]
    public async Task Send_NonJsonErrorBody_ThrowsWithHttpStatusCode()
    {
        var handler = new RecordingHandler(_ => new HttpResponseMessage(HttpStatusCode.BadGateway) { Content = new StringContent("<html>bad gateway</html>", Encoding.UTF8, "text/html") });
        using var client = new KeywardClient(new KeywardClientOptions { Address = new Uri("http://127.0.0.1:9"), Handler = handler });

        var error = await Clients.FailsAsync(() => client.ListTenantsAsync(), 502, "http_502");

        Assert.DoesNotContain("<html>", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_ProblemDetailQuotingAToken_IsRedacted()
    {
        var handler = new RecordingHandler(_ => Json(
            HttpStatusCode.Forbidden,
            $$"""{"type":"urn:keyward:problem:x","title":"X","status":403,"detail":"token {{Token}} and kwo_AAAAAAAAAAAAAAAAAAAAAAAAAAAA refused","code":"permission_denied"}""",
            "application/problem+json"));
        using var client = new KeywardClient(new KeywardClientOptions { Address = new Uri("http://127.0.0.1:9"), Token = Token, Handler = handler });

        var error = await Clients.FailsAsync(() => client.ListTenantsAsync(), 403, "permission_denied");

        Assert.DoesNotContain(Token, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("kwo_AAAA", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_SuccessWithMalformedJson_ThrowsInvalidResponse()
    {
        var handler = new RecordingHandler(_ => Json(HttpStatusCode.OK, "not json"));
        using var client = new KeywardClient(new KeywardClientOptions { Address = new Uri("http://127.0.0.1:9"), Handler = handler });

        await Clients.FailsAsync(() => client.GetTenantAsync("acme"), 200, "invalid_response");
    }

    [Fact]
    public async Task ProtectedConstructor_AllowsMocking()
    {
        using KeywardClient client = new FakeClient();

        var secret = await client.GetSecretAsync("app/db");

        Assert.Equal(7, secret.Version);
    }

    private static HttpResponseMessage Json(HttpStatusCode status, string body, string mediaType = "application/json") =>
        new(status) { Content = new StringContent(body, Encoding.UTF8, mediaType) };

    private sealed class FakeClient : KeywardClient
    {
        public override Task<KeywardSecret> GetSecretAsync(string path, long? version = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new KeywardSecret(path, 7, JsonDocument.Parse("{}").RootElement.Clone(), DateTimeOffset.UnixEpoch));
    }

    private sealed record Recorded(string Method, string Uri, string? Authorization);

    private sealed class RecordingHandler : HttpMessageHandler
    {
        private readonly Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> _answer;

        public RecordingHandler(Func<HttpRequestMessage, HttpResponseMessage>? answer = null)
        {
            answer ??= _ => throw new InvalidOperationException("No request was expected.");
            _answer = (request, _) => Task.FromResult(answer(request));
        }

        public RecordingHandler(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> answer) => _answer = answer;

        public List<Recorded> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add(new Recorded(request.Method.Method, request.RequestUri!.AbsoluteUri, request.Headers.Authorization?.ToString()));
            return _answer(request, cancellationToken);
        }
    }
}
