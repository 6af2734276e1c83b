using Keyward.Client.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Keyward.Client.Tests;

public sealed class SecretScrubberTests
{
    [Fact]
    public void Scrub_RegisteredValue_IsRedacted_TextWithoutSecrets_IsTheSameInstance()
    {
        var scrubber = new SecretScrubber();
        scrubber.Register("hunter2-pass");
        var clean = "nothing to see here";

        Assert.Equal("user=svc password=[REDACTED] done", scrubber.Scrub("user=svc password=hunter2-pass done"));
        Assert.Equal("[REDACTED][REDACTED]", scrubber.Scrub("hunter2-passXhunter2-pass").Replace("X", "", StringComparison.Ordinal));
        Assert.Same(clean, scrubber.Scrub(clean));
    }

    [Fact]
    public void Scrub_OverlappingAndNestedValues_MergeIntoOneRedaction()
    {
        var scrubber = new SecretScrubber();
        scrubber.Register("abcdef");
        scrubber.Register("defghi");
        scrubber.Register("cdef");

        Assert.Equal("x[REDACTED]y", scrubber.Scrub("xabcdefghiy"));
        Assert.Equal("x[REDACTED]y", scrubber.Scrub("xcdefy"));
        Assert.Equal("[REDACTED] and [REDACTED]", scrubber.Scrub("abcdef and defghi"));
    }

    [Fact]
    public void Scrub_JsonEscapedForms_AreRedacted()
    {
        var scrubber = new SecretScrubber();
        var value = "pa\"ss\\wo<rd>";
        scrubber.Register(value);

        var relaxed = System.Text.Json.JsonSerializer.Serialize(new { v = value }, new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        var strict = System.Text.Json.JsonSerializer.Serialize(new { v = value });

        Assert.Equal("{\"v\":\"[REDACTED]\"}", scrubber.Scrub(relaxed));
        Assert.Equal("{\"v\":\"[REDACTED]\"}", scrubber.Scrub(strict));
        Assert.Equal("raw [REDACTED]", scrubber.Scrub("raw " + value));
    }

    [Theory]
    [InlineData("kwr_quickstart-0123456789abcdefghijklmnopqrstu")]
    [InlineData("kws_abcDEF012_-xyz.0123456789abcdef0123456789abcdef.Zm9vYmFy")]
    [InlineData("kwa_x")]
    [InlineData("kwo_abc~def")]
    [InlineData("kwb_abc")]
    [InlineData("kwd_AQIDBA")]
    [InlineData("kww_abc")]
    public void Scrub_TokenShapes_AreRedacted(string token)
    {
        var scrubber = new SecretScrubber();

        Assert.Equal("Bearer [REDACTED] end", scrubber.Scrub("Bearer " + token + " end"));
    }

    [Fact]
    public void Scrub_ShortValues_AreNotRegistered_EvictedValuesStay_UpToTheBound()
    {
        var scrubber = new SecretScrubber(maxValues: 3);
        scrubber.Register("yes");
        Assert.Equal(0, scrubber.Count);

        scrubber.Register("first-value");
        scrubber.Register("second-value");
        scrubber.Register("third-value");
        scrubber.Register("fourth-value");

        Assert.Equal(3, scrubber.Count);
        Assert.Equal("first-value", scrubber.Scrub("first-value"));
        Assert.Equal("[REDACTED]", scrubber.Scrub("fourth-value"));
    }

    [Fact]
    public void ScrubbingLogger_ValuesAndTokens_NeverReachTheInnerLogger()
    {
        var scrubber = new SecretScrubber();
        scrubber.Register("s3cr3t-pa\"ss");
        var inner = new CapturingLogger();
        var logger = new ScrubbingLogger(inner, scrubber);
        const string token = "kws_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG.0123456789abcdef0123456789abcdef.abc";

        using (logger.BeginScope("scope with {Password}", "s3cr3t-pa\"ss"))
        {
#pragma warning disable CA1848, CA2254 // A test of what reaches the sink.
            logger.LogInformation("Connecting with {Password} and {Token} as {User}", "s3cr3t-pa\"ss", token, "svc");
            logger.LogError(
                new InvalidOperationException("failed for s3cr3t-pa\"ss", new ArgumentException("inner " + token)),
                "Request failed with token {Token}", token);
#pragma warning restore CA1848, CA2254
        }

        var everything = string.Join('\n', inner.Lines);
        Assert.DoesNotContain("s3cr3t", everything, StringComparison.Ordinal);
        Assert.DoesNotContain("abcdefghijklmnop", everything, StringComparison.Ordinal);
        Assert.Contains("Connecting with [REDACTED] and [REDACTED] as svc", everything, StringComparison.Ordinal);
        Assert.Contains("User=svc", everything, StringComparison.Ordinal);
        Assert.Contains("System.InvalidOperationException: failed for [REDACTED]", everything, StringComparison.Ordinal);
        Assert.Contains("inner [REDACTED]", everything, StringComparison.Ordinal);
    }

    [Fact]
    public void AddKeywardScrubbing_WrapsRegisteredProviders()
    {
        var scrubber = new SecretScrubber();
        scrubber.Register("value-from-the-cache");
        var sink = new CapturingLogger();
        using var services = new ServiceCollection()
            .AddLogging(logging => logging.AddProvider(new CapturingProvider(sink)).AddKeywardScrubbing(scrubber))
            .BuildServiceProvider();

        var logger = services.GetRequiredService<ILogger<SecretScrubberTests>>();
#pragma warning disable CA1848 // A test of what reaches the sink.
        logger.LogWarning("read {Value}", "value-from-the-cache");
#pragma warning restore CA1848

        Assert.Contains("read [REDACTED]", sink.Lines);
        Assert.DoesNotContain(sink.Lines, l => l.Contains("value-from", StringComparison.Ordinal));
    }

    private sealed class CapturingProvider(CapturingLogger logger) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => logger;

        public void Dispose()
        {
        }
    }

    /// <summary>Records the message, every state value, every scope and the exception's text.</summary>
    private sealed class CapturingLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
        {
            Lines.Add("scope: " + state);
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                Lines.AddRange(pairs.Select(p => $"{p.Key}={p.Value}"));
            }

            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            Lines.Add(formatter(state, exception));
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                Lines.AddRange(pairs.Select(p => $"{p.Key}={p.Value}"));
            }

            if (exception is not null)
            {
                Lines.Add(exception.Message);
                Lines.Add(exception.ToString());
            }
        }
    }
}
