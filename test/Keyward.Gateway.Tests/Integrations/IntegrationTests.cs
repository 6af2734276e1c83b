using Keyward.Core.Errors;
using Keyward.Gateway.Egress;
using Keyward.Gateway.Integrations;

namespace Keyward.Gateway.Tests.Integrations;

public sealed class IntegrationTests
{
    private static readonly (IReadOnlyList<string>? Methods, string? Path)[] AllowAll = [(["GET", "POST"], "v1/**")];

    private static Integration Create(
        string upstream = "https://api.example.com/", string kind = "bearer", string? name = null, bool? loopback = null,
        UpstreamAddresses? addresses = null, (IReadOnlyList<string>? Methods, string? Path)[]? allow = null) =>
        Integration.Create("openai", upstream, "llm/openai", "api_key", kind, name, allow ?? AllowAll, loopback, null, null, addresses ?? UpstreamAddresses.PublicOnly);

    [Fact]
    public void Create_LoopbackAskedFor_OnAServerThatDoesNotAllowIt_IsRefused()
    {
        var refused = Assert.Throws<KeywardException>(() => Create("http://127.0.0.1:8080/", loopback: true));
        Assert.Equal("invalid_field", refused.Code);

        var allowed = Create("http://127.0.0.1:8080/", loopback: true, addresses: new UpstreamAddresses([], allowLoopback: true));
        Assert.True(allowed.AllowInsecureLoopback);
    }

    [Theory]
    [InlineData("http://api.example.com/")]
    [InlineData("http://localhost:8080/")]
    [InlineData("https://localhost:8080/")]
    [InlineData("https://127.0.0.1/")]
    [InlineData("https://[::1]/")]
    [InlineData("https://169.254.169.254/latest/")]
    [InlineData("https://10.1.2.3/")]
    [InlineData("https://100.64.0.1/")]
    [InlineData("https://user@api.example.com/")]
    [InlineData("https://api.example.com/?a=1")]
    [InlineData("https://api.example.com/#x")]
    [InlineData("file:///etc/passwd")]
    [InlineData("not a url")]
    public void Create_RefusesAnUnsafeUpstream(string upstream)
    {
        var refused = Assert.Throws<KeywardException>(() => Create(upstream));
        Assert.Equal("invalid_upstream", refused.Code);
    }

    [Fact]
    public void Create_AnOperatorRange_OpensItsPrivateAddresses()
    {
        var integration = Create("https://10.20.0.5/api", addresses: new UpstreamAddresses(["10.20.0.0/16"], allowLoopback: false));
        Assert.Equal("https://10.20.0.5/api/", integration.Upstream.ToString());
    }

    [Theory]
    [InlineData("header", null)]
    [InlineData("header", "Host")]
    [InlineData("header", "x-keyward-token")]
    [InlineData("header", "Content-Length")]
    [InlineData("header", "bad header")]
    [InlineData("query", null)]
    [InlineData("query", "a&b")]
    [InlineData("bearer", "x-api-key")]
    [InlineData("basic", "user:pass")]
    [InlineData("cookie", "x")]
    public void Create_RefusesABadInjection(string kind, string? name) =>
        Assert.Throws<KeywardException>(() => Create(kind: kind, name: name));

    [Fact]
    public void Create_RefusesTunnelMethodsAndBadGlobs()
    {
        Assert.Equal("invalid_field", Assert.Throws<KeywardException>(() => Create(allow: [(["CONNECT"], "**")])).Code);
        Assert.Equal("invalid_field", Assert.Throws<KeywardException>(() => Create(allow: [(["get"], "**")])).Code);
        Assert.Equal("invalid_field", Assert.Throws<KeywardException>(() => Create(allow: [(["GET"], "**/admin")])).Code);
        Assert.Equal("missing_field", Assert.Throws<KeywardException>(() => Create(allow: [])).Code);
    }

    [Fact]
    public void Allows_MatchesMethodAndRawPath()
    {
        var integration = Create(allow: [(["POST"], "v1/chat/*"), (["GET"], "v1/models")]);

        Assert.True(integration.Allows("POST", "v1/chat/completions"));
        Assert.False(integration.Allows("GET", "v1/chat/completions"));
        Assert.False(integration.Allows("POST", "v1/chat/completions/x"));
        Assert.True(integration.Allows("GET", "v1/models"));
        Assert.False(integration.Allows("GET", "v1/models/gpt"));
        Assert.False(integration.Allows("GET", "V1/models"));
    }

    [Fact]
    public void ToJson_FromJson_RoundTrips()
    {
        var integration = Integration.Create("svc", "https://api.example.com/base", "llm/svc", "password", "basic", "robot",
            [(["GET"], "v1/**")], null, 5, 100, UpstreamAddresses.PublicOnly);

        var read = Integration.FromJson(integration.ToJson());

        Assert.Equal(integration.ToJson(), read.ToJson());
        Assert.DoesNotContain("\"version\"", integration.ToJson(), StringComparison.Ordinal); // the row's column, not a setting
        Assert.Equal("robot", read.InjectName);
        Assert.Equal("Authorization", read.InjectedHeader);
        Assert.Equal(new IntegrationLimits(5, 100), read.Limits);
    }
}
