using System.Collections;
using Microsoft.Extensions.Logging;

namespace Keyward.Client.Logging;

/// <summary>
/// An <see cref="ILogger"/> decorator that runs everything it passes on through a <see cref="SecretScrubber"/>: the
/// formatted message, the structured state's values, scope states, and the exception.
/// </summary>
/// <remarks>
/// <para>
/// The inner logger receives a scrubbed state: a list of the original properties, whose
/// <see cref="object.ToString"/> is the scrubbed message (the formatter passed on returns that message). A structured
/// logger enumerates those properties and destructures their values (<c>{@Value}</c>, JSON formatters), reaching fields
/// that no <see cref="object.ToString"/> shows — <see cref="Models.KeywardSecret.Data"/>,
/// <see cref="Models.PostgresCredential.Password"/>, a token inside a caller's own object — so no object reaches it:
/// a scalar (number, <see cref="bool"/>, <see cref="char"/>, enum, <see cref="DateTime"/>, <see cref="DateTimeOffset"/>,
/// <see cref="TimeSpan"/>, <see cref="Guid"/>, …) keeps its type when its text holds nothing to redact and becomes its
/// scrubbed text otherwise; a string is scrubbed; a collection becomes an array of its elements treated the same way;
/// any other object becomes its <see cref="object.ToString"/>, scrubbed (a value-carrying model's is redacted). Scope
/// states get the same treatment. To log an object's fields with a structured logger, log the fields.
/// </para>
/// <para>
/// Exceptions are not passed as they are (their message, data and stack text are out of reach once handed over):
/// the inner logger receives a <see cref="ScrubbedException"/> whose <see cref="Exception.Message"/> is the original
/// message scrubbed and whose <see cref="Exception.ToString"/> is the original <see cref="Exception.ToString"/> (type,
/// message, inner exceptions, stack) scrubbed. Its <see cref="ScrubbedException.OriginalType"/> names the original type.
/// </para>
/// </remarks>
public sealed class ScrubbingLogger : ILogger
{
    private readonly ILogger _inner;
    private readonly SecretScrubber _scrubber;

    public ScrubbingLogger(ILogger inner, SecretScrubber scrubber)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(scrubber);
        _inner = inner;
        _scrubber = scrubber;
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull =>
        _inner.BeginScope(ScrubbedState.FromScope(state, _scrubber));

    public bool IsEnabled(LogLevel logLevel) => _inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        if (!_inner.IsEnabled(logLevel))
        {
            return;
        }

        var message = _scrubber.Scrub(formatter(state, exception) ?? "");
        var scrubbed = ScrubbedState.Create(message, state, _scrubber);
        var scrubbedException = exception is null ? null : new ScrubbedException(exception, _scrubber);
        _inner.Log(logLevel, eventId, scrubbed, scrubbedException, static (s, _) => s.Message);
    }
}

/// <summary>An exception as a <see cref="ScrubbingLogger"/> passes it on: the original's message and text, scrubbed.</summary>
public sealed class ScrubbedException : Exception
{
    private readonly string _text;

    public ScrubbedException(Exception original, SecretScrubber scrubber)
        : base(scrubber?.Scrub((original ?? throw new ArgumentNullException(nameof(original))).Message) ?? throw new ArgumentNullException(nameof(scrubber)))
    {
        OriginalType = original.GetType().FullName ?? original.GetType().Name;
        _text = scrubber.Scrub(original.ToString());
        HResult = original.HResult;
    }

    public ScrubbedException()
        : this("A scrubbed exception.")
    {
    }

    public ScrubbedException(string message)
        : base(message)
    {
        OriginalType = typeof(ScrubbedException).FullName!;
        _text = message;
    }

    public ScrubbedException(string message, Exception innerException)
        : base(message, innerException)
    {
        OriginalType = typeof(ScrubbedException).FullName!;
        _text = message;
    }

    /// <summary>The original exception's type name.</summary>
    public string OriginalType { get; }

    /// <summary>The original's stack is part of <see cref="ToString"/> (scrubbed).</summary>
    public override string? StackTrace => null;

    /// <summary>The original exception's <see cref="Exception.ToString"/>, scrubbed.</summary>
    public override string ToString() => _text;
}

/// <summary>A log state with its values scrubbed; <see cref="ToString"/> is the scrubbed message.</summary>
internal sealed class ScrubbedState : IReadOnlyList<KeyValuePair<string, object?>>
{
    private readonly KeyValuePair<string, object?>[] _values;

    private ScrubbedState(string message, KeyValuePair<string, object?>[] values)
    {
        Message = message;
        _values = values;
    }

    public string Message { get; }

    public int Count => _values.Length;

    public KeyValuePair<string, object?> this[int index] => _values[index];

    public static ScrubbedState Create<TState>(string message, TState state, SecretScrubber scrubber)
    {
        if (state is not IEnumerable<KeyValuePair<string, object?>> pairs)
        {
            return new ScrubbedState(message, []);
        }

        var values = new List<KeyValuePair<string, object?>>();
        foreach (var pair in pairs)
        {
            values.Add(new KeyValuePair<string, object?>(pair.Key, Scrub(pair.Value, scrubber)));
        }

        return new ScrubbedState(message, [.. values]);
    }

    public static object FromScope(object state, SecretScrubber scrubber) =>
        state is IEnumerable<KeyValuePair<string, object?>>
            ? Create(scrubber.Scrub(state.ToString() ?? ""), state, scrubber)
            : Scrub(state, scrubber) ?? "";

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)_values).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => Message;

    // Collections inside collections are flattened into text below this depth.
    private const int MaxDepth = 3;

    /// <summary>What a structured logger may get for a value: a clean scalar, scrubbed text, or an array of those (see <see cref="ScrubbingLogger"/>).</summary>
    private static object? Scrub(object? value, SecretScrubber scrubber, int depth = 0)
    {
        switch (value)
        {
            case null:
                return null;
            case string text:
                return scrubber.Scrub(text);
            case IEnumerable items when depth < MaxDepth && !IsScalar(value.GetType()):
                var scrubbed = new List<object?>();
                foreach (var item in items)
                {
                    scrubbed.Add(Scrub(item, scrubber, depth + 1));
                }

                return scrubbed.ToArray();
            default:
                var shown = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
                var clean = scrubber.Scrub(shown);
                return IsScalar(value.GetType()) && ReferenceEquals(clean, shown) ? value : clean;
        }
    }

    /// <summary>Types whose structure is their text: a structured logger shows nothing of them that the text does not.</summary>
    private static bool IsScalar(Type type) =>
        type.IsPrimitive || type.IsEnum
        || type == typeof(decimal) || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(TimeSpan)
        || type == typeof(DateOnly) || type == typeof(TimeOnly) || type == typeof(Guid);
}
