using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Keyward.Client.Internal;

/// <summary>
/// The SDK's JSON settings: snake_case names, optional request fields left out when null, and durations as integer
/// seconds. Answers may carry fields this version does not know; they are ignored. The SDK sends and reads values, so
/// these options opt in (<see cref="SecretSerialization.AllowValues(JsonTypeInfo)"/>); they are never handed out.
/// </summary>
internal static class KeywardJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new SecondsConverter() },
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { SecretSerialization.AllowValues } },
    };

    /// <summary>Durations travel as integer seconds (the server also reads <c>90s</c>, <c>10m</c>, <c>1h</c>, <c>7d</c>).</summary>
    private sealed class SecondsConverter : JsonConverter<TimeSpan>
    {
        public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var seconds))
            {
                return TimeSpan.FromSeconds(seconds);
            }

            if (reader.TokenType == JsonTokenType.String && Durations.TryParse(reader.GetString(), out var parsed))
            {
                return parsed;
            }

            throw new JsonException("A duration must be integer seconds or a string such as 90s, 10m, 1h, 7d.");
        }

        public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options) =>
            writer.WriteNumberValue((long)Math.Ceiling(value.TotalSeconds));
    }
}
