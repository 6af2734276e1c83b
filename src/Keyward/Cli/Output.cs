using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Keyward.Client;

namespace Keyward.Cli.Cli;

/// <summary>
/// Writes a verb's result to stdout: aligned key/value lines and simple tables for people, or one JSON document
/// (snake_case, instants as RFC 3339 UTC, durations as seconds) for scripts.
/// </summary>
/// <remarks>
/// A verb prints the value it was asked for (<c>secrets get --format json</c> prints the data, <c>auth jwt login</c> the
/// session token), so the JSON options opt in to the SDK's value-carrying models
/// (<see cref="SecretSerialization.AllowValues(JsonTypeInfo)"/>); without it they refuse to serialize.
/// </remarks>
internal sealed class Output
{
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new UtcInstantConverter(), new SecondsConverter() },
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { SecretSerialization.AllowValues } },
    };

    public Output(bool json)
    {
        IsJson = json;
    }

    public bool IsJson { get; }

    public static TextWriter Out => Console.Out;

    public static TextWriter Error => Console.Error;

    public static void Line(string text = "") => Out.WriteLine(text);

    public static void Json(object value) => Out.WriteLine(JsonSerializer.Serialize(value, value.GetType(), JsonOptions));

    /// <summary>One compact JSON document per line (JSON Lines), for streams.</summary>
    public static void JsonLine(object value) =>
        Out.WriteLine(JsonSerializer.Serialize(value, value.GetType(), new JsonSerializerOptions(JsonOptions) { WriteIndented = false }));

    /// <summary><c>Key:   value</c> lines with the values aligned.</summary>
    public static void Fields(params (string Key, string? Value)[] fields)
    {
        var width = fields.Length == 0 ? 0 : fields.Max(f => f.Key.Length) + 1;
        foreach (var (key, value) in fields)
        {
            Out.WriteLine((key + ":").PadRight(width + 1) + (value ?? "-"));
        }
    }

    /// <summary>A table with a header row; columns two spaces apart.</summary>
    public static void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string?>> rows)
    {
        var all = rows.Select(r => r.Select(c => c ?? "-").ToArray()).ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => i < r.Length ? r[i].Length : 0))).ToArray();
        Out.WriteLine(Row(headers, widths));
        foreach (var row in all)
        {
            Out.WriteLine(Row(row, widths));
        }
    }

    public static string Instant(DateTimeOffset? value) =>
        value?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "-";

    public static string Number(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "-";

    /// <summary>A JSON value as a person reads it: strings bare, anything else as compact JSON.</summary>
    public static string Value(JsonElement value) =>
        value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();

    private static string Row(IReadOnlyList<string> cells, int[] widths)
    {
        var line = new StringBuilder();
        for (var i = 0; i < cells.Count; i++)
        {
            if (i > 0)
            {
                line.Append("  ");
            }

            line.Append(i == cells.Count - 1 ? cells[i] : cells[i].PadRight(widths[i]));
        }

        return line.ToString().TrimEnd();
    }

    private sealed class UtcInstantConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture);

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
            writer.WriteStringValue(value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));
    }

    private sealed class SecondsConverter : JsonConverter<TimeSpan>
    {
        public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            TimeSpan.FromSeconds(reader.GetInt64());

        public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options) =>
            writer.WriteNumberValue((long)value.TotalSeconds);
    }
}
