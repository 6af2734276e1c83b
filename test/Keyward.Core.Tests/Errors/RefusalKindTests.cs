using System.Reflection;
using Keyward.Core.Errors;

namespace Keyward.Core.Tests.Errors;

/// <summary>
/// Whether a refusal is a denial (and whether it counts against an agent) is said by the error that was built, not read
/// from its HTTP status: every factory of <see cref="KeywardErrors"/> is built here and its kind checked.
/// </summary>
public sealed class RefusalKindTests
{
    public static TheoryData<string> Factories()
    {
        var data = new TheoryData<string>();
        foreach (var method in FactoryMethods())
        {
            data.Add(method.Name + "/" + method.GetParameters().Length);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Factories))]
    public void EveryFactory_SaysItsKind_DenialsAreNeverLeftToTheStatus(string factory)
    {
        var method = FactoryMethods().Single(m => m.Name + "/" + m.GetParameters().Length == factory);
        var error = (KeywardException)method.Invoke(null, [.. method.GetParameters().Select(p => Sample(p.ParameterType))])!;

        // Authentication and lockdown refusals are denials; a 403 is outside the caller's rights; a concealed denial
        // (answered 404) says so itself. Nothing else is a denial.
        var expected = error.Status switch
        {
            401 or 423 => RefusalKind.Denied,
            403 => RefusalKind.OutOfScope,
            _ when error.Code == "integration_not_found" && method.Name == nameof(KeywardErrors.IntegrationNotUsable) => RefusalKind.OutOfScope,
            _ => RefusalKind.Error,
        };
        Assert.Equal(expected, error.Kind);
        Assert.Equal(expected != RefusalKind.Error, error.IsDenial);
        Assert.Equal(expected == RefusalKind.OutOfScope, error.IsOutOfScope);
    }

    [Fact]
    public void AConcealedDenial_AnswersLikeAMissingThing_AndIsStillADenialOutsideTheCallersRights()
    {
        var concealed = KeywardErrors.IntegrationNotUsable("crm");
        var missing = KeywardErrors.IntegrationNotFound("crm");

        Assert.Equal((missing.Status, missing.Code, missing.Message), (concealed.Status, concealed.Code, concealed.Message));
        Assert.True(concealed.IsOutOfScope);
        Assert.False(missing.IsDenial);
    }

    [Fact]
    public async Task ARefusalKeepingChanges_CommitsItsChanges_AndTheCallerGetsTheRefusal()
    {
        await using var harness = await Storage.CommitterHarness.StartAsync();
        var draft = Storage.CommitterHarness.Draft("auth.exchange", "t");

        var refused = await Assert.ThrowsAsync<KeywardException>(() => harness.Committer.ExecuteAsync(draft, async session =>
        {
            await session.Tenants.TryInsertAsync(Storage.CommitterHarness.NewTenant("kept"));
            throw new RefusalKeepingChanges(KeywardErrors.BootstrapReplayed());
        }));

        Assert.Equal("bootstrap_replayed", refused.Code);
        Assert.NotNull(await harness.TenantAsync("kept"));
        Assert.Equal("error", System.Text.Json.JsonDocument.Parse(Assert.Single(await harness.AuditLogAsync()).Body).RootElement.GetProperty("outcome").GetString());
    }

    private static IEnumerable<MethodInfo> FactoryMethods() =>
        typeof(KeywardErrors).GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.ReturnType == typeof(KeywardException));

    private static object? Sample(Type type) => type switch
    {
        _ when type == typeof(string) => "x",
        _ when type == typeof(int) => 1,
        _ when type == typeof(long) => 1L,
        _ when type == typeof(long?) => 1L,
        _ when type == typeof(int?) => 1,
        _ when type == typeof(TimeSpan) => TimeSpan.FromSeconds(1),
        _ when type == typeof(DateTimeOffset) => DateTimeOffset.UnixEpoch,
        _ when type == typeof(bool) => false,
        _ when type.IsValueType => Activator.CreateInstance(type),
        _ => null,
    };
}
