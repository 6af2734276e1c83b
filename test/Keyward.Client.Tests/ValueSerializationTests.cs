using System.Text.Json;
using Keyward.Client.Models;

namespace Keyward.Client.Tests;

/// <summary>
/// Models that carry a value refuse System.Text.Json by default (a log sink, a checkpoint or an API response that
/// serializes one fails loudly instead of writing the value), and serialize with <see cref="SecretSerialization.AllowValues(JsonSerializerOptions)"/>.
/// </summary>
public sealed class ValueSerializationTests
{
    public static TheoryData<string, object, string> Carriers() => ValueCarriers.All();

    private sealed record Holder(string Step, object Carried);

    [Theory]
    [MemberData(nameof(Carriers))]
    public void Serialize_ValueCarrier_ThrowsByDefault(string name, object carrier, string value)
    {
        var direct = Assert.Throws<InvalidOperationException>(() => JsonSerializer.Serialize(carrier, carrier.GetType()));
        var nested = Assert.Throws<InvalidOperationException>(() => JsonSerializer.Serialize(new Holder("x", carrier)));
        var boxed = Assert.Throws<InvalidOperationException>(() => JsonSerializer.Serialize(new object[] { carrier }));

        foreach (var failure in new[] { direct, nested, boxed })
        {
            Assert.Contains("SecretSerialization.AllowValues", failure.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(value, failure.ToString(), StringComparison.Ordinal);
        }

        Assert.NotNull(name);
    }

    [Theory]
    [MemberData(nameof(Carriers))]
    public void Serialize_ValueCarrier_WithTheSdkLikeSnakeCaseOptions_StillThrows(string name, object carrier, string value)
    {
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

        var failure = Assert.Throws<InvalidOperationException>(() => JsonSerializer.Serialize(carrier, carrier.GetType(), options));

        Assert.DoesNotContain(value, failure.Message, StringComparison.Ordinal);
        Assert.NotNull(name);
    }

    [Theory]
    [MemberData(nameof(Carriers))]
    public void Serialize_ValueCarrier_WithAllowValues_WritesTheValue(string name, object carrier, string value)
    {
        var options = SecretSerialization.AllowValues(new JsonSerializerOptions());

        var json = JsonSerializer.Serialize(carrier, carrier.GetType(), options);
        var nested = JsonSerializer.Serialize(new Holder("x", carrier), options);

        Assert.Contains(value, json, StringComparison.Ordinal);
        Assert.Contains(value, nested, StringComparison.Ordinal);
        Assert.NotNull(name);
    }

    [Fact]
    public void Deserialize_ValueCarrier_ThrowsByDefault_WorksWithAllowValues()
    {
        const string json = """{"Username":"v-login","Password":"pw-from-json-0001","LeaseId":"l-1","LeaseDuration":"01:00:00","Renewable":true}""";

        var refused = Assert.Throws<InvalidOperationException>(() => JsonSerializer.Deserialize<PostgresCredential>(json));
        var read = JsonSerializer.Deserialize<PostgresCredential>(json, SecretSerialization.AllowValues(new JsonSerializerOptions()))!;

        Assert.Contains("SecretSerialization.AllowValues", refused.Message, StringComparison.Ordinal);
        Assert.Equal("pw-from-json-0001", read.Password);
    }

    [Fact]
    public void AllowValues_RoundTripsASecret_AndLeavesTheGivenOptionsRefusing()
    {
        var given = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
        var allowing = SecretSerialization.AllowValues(given);

        var json = JsonSerializer.Serialize(ValueCarriers.Secret(), allowing);
        var back = JsonSerializer.Deserialize<KeywardSecret>(json, allowing)!;

        Assert.Contains("\"data\":{", json, StringComparison.Ordinal);
        Assert.Equal(ValueCarriers.SecretField, back.Data.GetProperty("password").GetString());
        Assert.Equal(4, back.Epoch);
        Assert.Throws<InvalidOperationException>(() => JsonSerializer.Serialize(ValueCarriers.Secret(), given));
    }

    [Fact]
    public void AllowValues_AsAModifier_ComposesWithACustomResolver()
    {
        var options = new JsonSerializerOptions
        {
            TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver { Modifiers = { SecretSerialization.AllowValues } },
        };

        var json = JsonSerializer.Serialize(new WrapInfo("kww_modifier-token-0001", "acc", TimeSpan.FromSeconds(30), DateTimeOffset.UnixEpoch, "app/db"), options);

        Assert.Contains("kww_modifier-token-0001", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Serialize_ModelsWithoutValues_AreUnaffected()
    {
        var metadata = JsonSerializer.Serialize(new SecretWriteResult(3, DateTimeOffset.UnixEpoch) { Epoch = 2 });
        var connection = JsonSerializer.Serialize(new PostgresConnectionSpec("postgres://db/app", "keyward", Password: null));

        Assert.Contains("\"Version\":3", metadata, StringComparison.Ordinal);
        Assert.Contains("\"Password\":null", connection, StringComparison.Ordinal);
    }
}
