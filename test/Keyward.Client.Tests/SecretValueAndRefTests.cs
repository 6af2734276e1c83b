using System.Text;
using System.Text.Json;

namespace Keyward.Client.Tests;

public sealed class SecretValueAndRefTests
{
    private sealed record AgentState(string Step, IReadOnlyList<SecretRef> Credentials, SecretRef? Primary);

    private sealed record LeakyState(string Step, SecretValue Credential);

    [Fact]
    public void SecretRef_CheckpointOfAgentState_RoundTripsThroughJsonSerializer()
    {
        var state = new AgentState("fetching", [SecretRef.Parse("kw://app/db"), new SecretRef("app/x/key", 3)], new SecretRef("ops/pager"));

        var json = JsonSerializer.Serialize(state);
        var back = JsonSerializer.Deserialize<AgentState>(json)!;

        Assert.Contains("\"kw://app/db\"", json, StringComparison.Ordinal);
        Assert.Contains("\"kw://app/x/key#3\"", json, StringComparison.Ordinal);
        Assert.Equal(state.Credentials, back.Credentials);
        Assert.Equal(state.Primary, back.Primary);
    }

    [Fact]
    public void SecretValue_InAnySerializedState_Throws()
    {
        var value = new SecretValue(Encoding.UTF8.GetBytes("""{"password":"s3cr3t-value"}"""), "app/db", 1, 1);

        var write = Assert.Throws<InvalidOperationException>(() => JsonSerializer.Serialize(new LeakyState("x", value)));
        var read = Assert.Throws<InvalidOperationException>(() => JsonSerializer.Deserialize<LeakyState>("""{"Step":"x","Credential":"abc"}"""));

        Assert.Contains("use SecretRef", write.Message, StringComparison.Ordinal);
        Assert.Contains("use SecretRef", read.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => JsonSerializer.Serialize(new object[] { value }));
    }

    [Fact]
    public void SecretValue_ToString_IsRedacted_Accessors_ReadTheBytes()
    {
        var value = new SecretValue(Encoding.UTF8.GetBytes("""{"password":"s3cr3t-value","port":5432}"""), "app/db", 2, 7);

        Assert.Equal("SecretValue(redacted)", value.ToString());
        Assert.Equal("SecretValue(redacted)", $"{value}");
        Assert.True(value.TryGetField("password", out var password));
        Assert.Equal("s3cr3t-value", password);
        Assert.True(value.TryGetField("port", out var port));
        Assert.Equal("5432", port);
        Assert.False(value.TryGetField("user", out _));
        Assert.Equal(new SecretRef("app/db", 2), value.ToRef());
        var copy = value.ToArray();
        copy[0] = (byte)'X';
        Assert.Equal((byte)'{', value.Span[0]);
    }

    [Fact]
    public void SecretValue_AfterRelease_ThrowsInsteadOfShowingZeros()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"password":"s3cr3t-value"}""");
        var value = new SecretValue(bytes, "app/db", 1, 1);

        value.Release();

        Assert.All(bytes, b => Assert.Equal(0, b));
        Assert.True(value.IsReleased);
        Assert.Throws<ObjectDisposedException>(() => value.Span.Length);
        Assert.Throws<ObjectDisposedException>(() => value.ToArray());
        Assert.Throws<ObjectDisposedException>(() => value.GetString());
        Assert.Throws<ObjectDisposedException>(() => value.TryGetField("password", out _));
        Assert.Throws<ObjectDisposedException>(() => value.CopyTo(new byte[64]));
        Assert.Equal("SecretValue(redacted)", value.ToString());
    }

    [Theory]
    [InlineData("kw://app/db", "app/db", null)]
    [InlineData("kw://app/db#12", "app/db", 12L)]
    [InlineData("kw://a.b/c_d/e-f", "a.b/c_d/e-f", null)]
    public void SecretRef_Parse_ValidForms(string text, string path, long? version)
    {
        var parsed = SecretRef.Parse(text);

        Assert.Equal((path, version), (parsed.Path, parsed.Version));
        Assert.Equal(text, parsed.ToString());
    }

    [Theory]
    [InlineData("app/db")]
    [InlineData("kw://")]
    [InlineData("kw://app//db")]
    [InlineData("kw://app/../db")]
    [InlineData("kw://app/db#0")]
    [InlineData("kw://app/db#-1")]
    [InlineData("kw://app/db#01")]
    [InlineData("kw://app/db#")]
    [InlineData("kw://app/d b")]
    [InlineData("kw://app/db%2F")]
    [InlineData("KW://app/db")]
    public void SecretRef_Parse_RefusesInvalidForms(string text)
    {
        Assert.False(SecretRef.TryParse(text, out _));
        Assert.Throws<FormatException>(() => SecretRef.Parse(text));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<SecretRef>(JsonSerializer.Serialize(text)));
    }

    [Fact]
    public void SecretRef_PathOver512Bytes_IsRefused()
    {
        var longest = string.Join('/', Enumerable.Repeat(new string('a', 63), 8)) + "/abcdefg";
        Assert.Equal(519, longest.Length);

        Assert.False(SecretRef.TryParse("kw://" + longest, out _));
        Assert.True(SecretRef.TryParse("kw://" + longest[..511] + "a", out _));
        Assert.Throws<ArgumentException>(() => new SecretRef(longest));
    }
}
