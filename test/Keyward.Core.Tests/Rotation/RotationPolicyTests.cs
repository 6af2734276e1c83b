using Keyward.Core.Rotation;

namespace Keyward.Core.Tests.Rotation;

public sealed class RotationPolicyTests
{
    [Fact]
    public void ToJson_ManagedPolicy_RoundTripsTheManagedByMark()
    {
        // Arrange
        var policy = RotationPolicy.Create(TimeSpan.FromHours(1), null, TimeSpan.FromMinutes(30), new SecretGenerator(40, null, ["password"]))
            with { ManagedBy = "postgres/main/app" };

        // Act
        var json = policy.ToJson();
        var read = RotationPolicy.FromJson(json)!;

        // Assert
        Assert.Contains("\"managed_by\":\"postgres/main/app\"", json, StringComparison.Ordinal);
        Assert.Equal("postgres/main/app", read.ManagedBy);
        Assert.Equal((TimeSpan.FromHours(1), TimeSpan.FromMinutes(30), 40), (read.Period, read.Grace, read.Generator!.Length));
        Assert.Equal(["password"], read.Generator.Fields!);
    }

    [Fact]
    public void ToJson_UnmanagedPolicy_WritesNoMark_AndOlderJsonReadsAsUnmanaged()
    {
        var json = RotationPolicy.Create(null, 5, null, new SecretGenerator(16)).ToJson();

        Assert.DoesNotContain("managed_by", json, StringComparison.Ordinal);
        Assert.Null(RotationPolicy.FromJson(json)!.ManagedBy);
        Assert.Null(RotationPolicy.FromJson("{\"period_seconds\":60,\"generator\":{\"kind\":\"random\",\"length\":16,\"alphabet\":\"ab\"}}")!.ManagedBy);
    }
}
