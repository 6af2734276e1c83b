using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Keyward.Core;
using Keyward.Core.Validation;

namespace Keyward.Server.Http;

/// <summary>
/// The one JSON configuration of the API: snake_case, unknown and duplicate fields refused, instants as RFC 3339
/// UTC with a Z, durations as <c>90s</c>/<c>10m</c>/<c>1h</c>/<c>7d</c> or integer seconds.
/// </summary>
public static class KeywardJson
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions());

    /// <summary>The duration converter's refusal; <see cref="JsonBody"/> answers it with <c>invalid_duration</c>.</summary>
    internal const string DurationRefusal = "must be a positive duration such as 90s, 10m, 1h, 7d or integer seconds";

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.AllowDuplicateProperties = false;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        options.NumberHandling = JsonNumberHandling.Strict;
        options.Converters.Add(new UtcInstantConverter());
        options.Converters.Add(new DurationConverter());
        return options;
    }

    /// <summary>Writes instants as <c>yyyy-MM-ddTHH:mm:ss.fffffffZ</c>.</summary>
    public sealed class UtcInstantConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.String && DateTimeOffset.TryParse(reader.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value)
                ? value
                : throw new JsonException("must be an RFC 3339 instant");

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
            writer.WriteStringValue(Instants.Format(value));
    }

    /// <summary>Reads a duration given as a string (<c>90s</c>) or integer seconds; writes integer seconds.</summary>
    public sealed class DurationConverter : JsonConverter<Duration>
    {
        public override Duration Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var seconds) && Durations.TryFromSeconds(seconds, out var fromNumber))
            {
                return new Duration(fromNumber);
            }

            if (reader.TokenType == JsonTokenType.String && Durations.TryParse(reader.GetString(), out var fromText))
            {
                return new Duration(fromText);
            }

            throw new JsonException(DurationRefusal);
        }

        public override void Write(Utf8JsonWriter writer, Duration value, JsonSerializerOptions options) =>
            writer.WriteNumberValue((long)value.Value.TotalSeconds);
    }
}

/// <summary>A duration field of a request body.</summary>
public readonly record struct Duration(TimeSpan Value);
