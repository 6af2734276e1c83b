using System.Text.Json;
using Keyward.Core.Policies;

namespace Keyward.Core.Storage;

/// <summary>How every engine stores structured columns (rules, role lists, custom metadata) as JSON text.</summary>
public static class StoredJson
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public static string Rules(IReadOnlyList<RuleSpec> rules) => JsonSerializer.Serialize(rules, Options);

    public static IReadOnlyList<RuleSpec> ParseRules(string json) =>
        JsonSerializer.Deserialize<List<RuleSpec>>(json, Options) ?? [];

    public static string Strings(IReadOnlyList<string> values) => JsonSerializer.Serialize(values, Options);

    public static IReadOnlyList<string> ParseStrings(string json) => JsonSerializer.Deserialize<List<string>>(json, Options) ?? [];

    public static string Map(IReadOnlyDictionary<string, string> values) => JsonSerializer.Serialize(values, Options);

    public static IReadOnlyDictionary<string, string> ParseMap(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, string>>(json, Options) ?? new Dictionary<string, string>();
}
