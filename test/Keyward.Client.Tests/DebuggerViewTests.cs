using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json.Serialization;
using Keyward.Client.Models;

namespace Keyward.Client.Tests;

/// <summary>
/// What a debugger shows of a value-carrying type: the <see cref="DebuggerDisplayAttribute"/> text (which must be the
/// redacting <see cref="object.ToString"/>), and no browsable member holding the value.
/// </summary>
public sealed class DebuggerViewTests
{
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    public static TheoryData<string, object, string> Carriers() => ValueCarriers.All();

    [Theory]
    [MemberData(nameof(Carriers))]
    public void DebuggerDisplay_ValueCarrier_IsTheRedactingToString(string name, object carrier, string value)
    {
        var display = carrier.GetType().GetCustomAttribute<DebuggerDisplayAttribute>();

        Assert.True(display is not null, name + " has no [DebuggerDisplay]: a debugger would show its members");
        Assert.Equal("{ToString(),nq}", display!.Value);
        Assert.DoesNotContain(value, carrier.ToString()!, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Carriers))]
    public void DebuggerView_ValueCarrier_BrowsesNoMemberHoldingTheValue(string name, object carrier, string value)
    {
        foreach (var shown in Browsable(carrier))
        {
            Assert.False(
                Shows(shown.Value, value),
                $"{name}.{shown.Name} is browsable in a debugger and shows the value (mark it [DebuggerBrowsable(DebuggerBrowsableState.Never)])");
        }
    }

    [Fact]
    public void DebuggerView_SecretValue_ShowsNeitherTheBytesNorTheText()
    {
        var value = new SecretValue(Encoding.UTF8.GetBytes("""{"password":"debugger-bytes-0001"}"""), "app/db", 1, 1);

        var display = typeof(SecretValue).GetCustomAttribute<DebuggerDisplayAttribute>();
        var bytes = typeof(SecretValue).GetField("_bytes", Instance)!;
        var span = typeof(SecretValue).GetProperty(nameof(SecretValue.Span))!;

        Assert.Equal("{ToString(),nq}", display?.Value);
        Assert.Equal(DebuggerBrowsableState.Never, bytes.GetCustomAttribute<DebuggerBrowsableAttribute>()?.State);
        Assert.Equal(DebuggerBrowsableState.Never, span.GetCustomAttribute<DebuggerBrowsableAttribute>()?.State);
        Assert.DoesNotContain(Browsable(value), m => m.Value is byte[]);
    }

    [Fact]
    public void DebuggerView_ClientAndSessionTokenFields_AreHidden()
    {
        foreach (var (type, field) in new[] { (typeof(KeywardClient), "_token"), (typeof(AgentSession), "_token"), (typeof(KeywardToken), "_tag") })
        {
            var info = type.GetField(field, Instance);
            Assert.True(info is not null, $"{type.Name}.{field} is gone: update this test");
            Assert.True(
                info!.GetCustomAttribute<DebuggerBrowsableAttribute>()?.State == DebuggerBrowsableState.Never,
                $"{type.Name}.{field} holds a token and is browsable");
        }
    }

    /// <summary>
    /// Every public property of the SDK that holds a token, a password or a secret's data refuses serialization (the
    /// <see cref="SecretFieldJsonConverter{T}"/>) and is hidden from debuggers; a new model that forgets fails here.
    /// </summary>
    [Fact]
    public void EveryValueProperty_OfThePublicApi_IsGuardedAndHidden()
    {
        var missing = new List<string>();
        foreach (var type in typeof(KeywardClient).Assembly.GetExportedTypes())
        {
            foreach (var property in type.GetProperties(BindingFlags.Instance | BindingFlags.Public | BindingFlags.DeclaredOnly))
            {
                if (!HoldsValue(type, property))
                {
                    continue;
                }

                var converter = property.GetCustomAttribute<JsonConverterAttribute>()?.ConverterType;
                if (converter is not { IsGenericType: true } || converter.GetGenericTypeDefinition() != typeof(SecretFieldJsonConverter<>))
                {
                    missing.Add($"{type.Name}.{property.Name}: no [JsonConverter(typeof(SecretFieldJsonConverter<>))]");
                }

                if (property.GetCustomAttribute<DebuggerBrowsableAttribute>()?.State != DebuggerBrowsableState.Never)
                {
                    missing.Add($"{type.Name}.{property.Name}: not [DebuggerBrowsable(Never)]");
                }

                if (type.GetCustomAttribute<DebuggerDisplayAttribute>()?.Value != "{ToString(),nq}")
                {
                    missing.Add($"{type.Name}: no [DebuggerDisplay(\"{{ToString(),nq}}\")]");
                }
            }
        }

        Assert.True(missing.Count == 0, string.Join('\n', missing.Distinct()));
    }

    private static bool HoldsValue(Type type, PropertyInfo property) =>
        (property.PropertyType == typeof(string) && (property.Name.EndsWith("Token", StringComparison.Ordinal) || property.Name.EndsWith("Password", StringComparison.Ordinal)))
        || (type == typeof(KeywardSecret) && property.Name == nameof(KeywardSecret.Data))
        || (type == typeof(InitializeResult) && property.Name == nameof(InitializeResult.Keys))
        || (type == typeof(KeywardToken) && property.Name == nameof(KeywardToken.Value));

    /// <summary>What a debugger's default view lists: fields and properties not marked Never (evaluated), recursively one level for records and JSON.</summary>
    private static IEnumerable<(string Name, object? Value)> Browsable(object instance)
    {
        var type = instance.GetType();
        foreach (var field in type.GetFields(Instance))
        {
            if (field.GetCustomAttribute<DebuggerBrowsableAttribute>()?.State == DebuggerBrowsableState.Never)
            {
                continue;
            }

            yield return (field.Name, field.GetValue(instance));
        }

        foreach (var property in type.GetProperties(Instance))
        {
            if (property.GetIndexParameters().Length > 0 || property.PropertyType.IsByRefLike
                || property.GetCustomAttribute<DebuggerBrowsableAttribute>()?.State == DebuggerBrowsableState.Never)
            {
                continue;
            }

            object? shown;
            try
            {
                shown = property.GetValue(instance);
            }
            catch (TargetInvocationException)
            {
                continue;
            }

            yield return (property.Name, shown);
        }
    }

    private static bool Shows(object? shown, string value) => shown switch
    {
        null => false,
        string text => text.Contains(value, StringComparison.Ordinal),
        System.Text.Json.JsonElement json => json.GetRawText().Contains(value, StringComparison.Ordinal),
        byte[] bytes => Encoding.UTF8.GetString(bytes).Contains(value, StringComparison.Ordinal),
        System.Collections.IEnumerable items => items.Cast<object?>().Any(i => Shows(i, value)),
        _ => false,
    };
}
