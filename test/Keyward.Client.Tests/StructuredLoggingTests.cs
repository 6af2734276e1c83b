using System.Collections;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Keyward.Client.Logging;
using Keyward.Client.Models;
using Microsoft.Extensions.Logging;

namespace Keyward.Client.Tests;

/// <summary>
/// What a structured logger behind a <see cref="ScrubbingLogger"/> can get at: it enumerates the state's pairs and
/// destructures each value (public properties, recursively, and JSON like a JSON sink), and does the same with scopes.
/// No registered value may reach it in any of those forms.
/// </summary>
public sealed class StructuredLoggingTests
{
    private const string Listed = "listed-secret-value-0042";

#pragma warning disable CA1848, CA2254 // Tests of what reaches the sink.
    [Fact]
    public void Log_ValueCarryingObjectsAsStateValues_NeverReachADestructuringLogger()
    {
        var (scrubber, values) = Registered();
        var sink = new DestructuringLogger();
        var logger = new ScrubbingLogger(sink, scrubber);

        foreach (var (name, carrier, _) in Carriers())
        {
            logger.LogInformation("Got {@Carrier} for {Name}", carrier, name);
        }

        AssertNone(sink, values);
        Assert.Contains(sink.Records, r => r.Contains("Name=WrapInfo", StringComparison.Ordinal));
        Assert.Contains(sink.Records, r => r.Contains("Carrier=KeywardSecret { Path = app/db", StringComparison.Ordinal));
    }

    [Fact]
    public void Log_ObjectsHoldingValueCarriers_AndCollectionsOfValues_NeverReachADestructuringLogger()
    {
        var (scrubber, values) = Registered();
        var sink = new DestructuringLogger();
        var logger = new ScrubbingLogger(sink, scrubber);
        var credential = new PostgresCredential("v-login-9", ValueCarriers.Password, "lease-9", TimeSpan.FromMinutes(5), true);

        logger.LogInformation("Login {@Login}", new { Database = "app", Credential = credential });
        logger.LogInformation("Fields {@Fields}", new List<string> { "harmless", Listed });
        logger.LogInformation("Map {@Map}", new Dictionary<string, object> { ["secret"] = ValueCarriers.Secret(), ["n"] = 3 });

        AssertNone(sink, values);
        Assert.Contains(sink.Records, r => r.Contains("harmless", StringComparison.Ordinal));
    }

    [Fact]
    public void BeginScope_ValueCarryingState_NeverReachesADestructuringLogger()
    {
        var (scrubber, values) = Registered();
        var sink = new DestructuringLogger();
        var logger = new ScrubbingLogger(sink, scrubber);
        var credential = new PostgresCredential("v-login-9", ValueCarriers.Password, "lease-9", TimeSpan.FromMinutes(5), true);

        using (logger.BeginScope(credential))
        using (logger.BeginScope("for {@Secret}", ValueCarriers.Secret()))
        using (logger.BeginScope(new Dictionary<string, object?> { ["Wrap"] = new WrapInfo("kww_carrier-wrap-token-74", "w", TimeSpan.FromSeconds(5), DateTimeOffset.UnixEpoch, "app/db") }))
        {
            logger.LogInformation("inside");
        }

        AssertNone(sink, values);
        Assert.Contains(sink.Records, r => r.Contains("inside", StringComparison.Ordinal));
    }

    [Fact]
    public void Log_StateThatIsAValueCarrier_NeverReachesADestructuringLogger()
    {
        var (scrubber, values) = Registered();
        var sink = new DestructuringLogger();
        var logger = new ScrubbingLogger(sink, scrubber);

        logger.Log(LogLevel.Warning, new EventId(7), ValueCarriers.Secret(), null, static (s, _) => s.ToString());
        logger.Log(LogLevel.Warning, new EventId(8), new[] { new KeyValuePair<string, object?>("Secret", ValueCarriers.Secret()) }, null, static (_, _) => "pairs");

        AssertNone(sink, values);
    }

    [Fact]
    public void Log_ScalarsWithoutSecrets_KeepTheirType()
    {
        var sink = new DestructuringLogger();
        var logger = new ScrubbingLogger(sink, new SecretScrubber());

        logger.LogInformation("{Count} {When} {Ok} {Name}", 42, DateTimeOffset.UnixEpoch, true, "svc");

        Assert.Equal([typeof(int), typeof(DateTimeOffset), typeof(bool), typeof(string), typeof(string)], sink.ValueTypes);
    }
#pragma warning restore CA1848, CA2254

    private static IEnumerable<(string Name, object Carrier, string Value)> Carriers() =>
        ValueCarriers.All().Select(row => ((string)row[0], row[1], (string)row[2]));

    private static (SecretScrubber Scrubber, string[] Values) Registered()
    {
        var scrubber = new SecretScrubber();
        var values = Carriers().Select(c => c.Value).Append(Listed).Append(ValueCarriers.Password).Distinct().ToArray();
        foreach (var value in values)
        {
            scrubber.Register(value);
        }

        return (scrubber, values);
    }

    private static void AssertNone(DestructuringLogger sink, string[] values)
    {
        Assert.NotEmpty(sink.Records);
        foreach (var record in sink.Records)
        {
            foreach (var value in values)
            {
                Assert.False(record.Contains(value, StringComparison.Ordinal), $"'{value}' reached the sink: {record}");
            }
        }
    }

    /// <summary>
    /// A structured sink in the manner of Serilog's <c>{@x}</c> and JSON formatters: state pairs and scope states are
    /// enumerated, and every value is destructured (public properties, recursively) and, separately, written as JSON.
    /// </summary>
    private sealed class DestructuringLogger : ILogger
    {
        private readonly List<object> _scopes = [];

        public List<string> Records { get; } = [];

        public List<Type> ValueTypes { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
        {
            _scopes.Add(state);
            return new Pop(_scopes);
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var record = new StringBuilder(formatter(state, exception)).Append(" | ");
            Destructure(state, record, 0);
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                foreach (var pair in pairs)
                {
                    ValueTypes.Add(pair.Value?.GetType() ?? typeof(object));
                    record.Append(' ').Append(pair.Key).Append('=');
                    Destructure(pair.Value, record, 0);
                    record.Append(" json=").Append(Json(pair.Value));
                }
            }

            foreach (var scope in _scopes)
            {
                record.Append(" scope: ");
                Destructure(scope, record, 0);
                record.Append(" json=").Append(Json(scope));
            }

            Records.Add(record.ToString());
        }

        private static string Json(object? value)
        {
            try
            {
                return JsonSerializer.Serialize(value);
            }
            catch (Exception error) when (error is InvalidOperationException or NotSupportedException or JsonException)
            {
                return "(not serializable)";
            }
        }

        private static void Destructure(object? value, StringBuilder into, int depth)
        {
            switch (value)
            {
                case null:
                    into.Append("null");
                    return;
                case string text:
                    into.Append(text);
                    return;
                case JsonElement json:
                    into.Append(json.GetRawText());
                    return;
                case IFormattable or bool or Uri or Type:
                    into.Append(value);
                    return;
                case IEnumerable items when depth < 6:
                    into.Append('[');
                    foreach (var item in items)
                    {
                        Destructure(item, into, depth + 1);
                        into.Append(", ");
                    }

                    into.Append(']');
                    return;
                default:
                    break;
            }

            into.Append(value).Append(" {");
            if (depth < 6)
            {
                foreach (var property in value.GetType().GetProperties(BindingFlags.Instance | BindingFlags.Public))
                {
                    if (property.GetIndexParameters().Length > 0 || property.PropertyType.IsByRefLike)
                    {
                        continue;
                    }

                    object? inner;
                    try
                    {
                        inner = property.GetValue(value);
                    }
                    catch (TargetInvocationException)
                    {
                        continue;
                    }

                    into.Append(property.Name).Append('=');
                    Destructure(inner, into, depth + 1);
                    into.Append("; ");
                }
            }

            into.Append('}');
        }

        private sealed class Pop(List<object> scopes) : IDisposable
        {
            public void Dispose() => scopes.RemoveAt(scopes.Count - 1);
        }
    }
}
