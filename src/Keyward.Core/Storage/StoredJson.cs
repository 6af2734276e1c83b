using System.Text.Json;
using Keyward.Core.Policies;

namespace Keyward.Core.Storage;

/// <summary>How every engine stores structured columns (rules, role lists, custom metadata) as JSON text.</summary>
public static class StoredJson
{
    /// <summary>snake_case property names: how every stored JSON document (columns, event data) is written.</summary>
    public static JsonSerializerOptions SnakeCase { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>As <see cref="SnakeCase"/>, leaving out properties that are null.</summary>
    public static JsonSerializerOptions SnakeCaseWithoutNulls { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Rules(IReadOnlyList<RuleSpec> rules) => JsonSerializer.Serialize(rules, SnakeCase);

    public static IReadOnlyList<RuleSpec> ParseRules(string json) =>
        JsonSerializer.Deserialize<List<RuleSpec>>(json, SnakeCase) ?? [];

    public static string Strings(IReadOnlyList<string> values) => JsonSerializer.Serialize(values, SnakeCase);

    public static IReadOnlyList<string> ParseStrings(string json) => JsonSerializer.Deserialize<List<string>>(json, SnakeCase) ?? [];

    public static string Map(IReadOnlyDictionary<string, string> values) => JsonSerializer.Serialize(values, SnakeCase);

    public static IReadOnlyDictionary<string, string> ParseMap(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, string>>(json, SnakeCase) ?? new Dictionary<string, string>();

    /// <summary>A tenant's anomaly settings (the <c>tenant_settings.anomaly</c> column; property names as first stored).</summary>
    public static string Anomaly(Tenants.AnomalySettings settings) =>
        JsonSerializer.Serialize(new StoredAnomaly(
            settings.LockdownOnBootstrapReplay, settings.DenyThreshold?.Count, (long?)settings.DenyThreshold?.Window.TotalSeconds, settings.RotateExposed,
            settings.DerivedDenialsLock == Tenants.DerivedDenialsLock.Session ? "session" : null));

    public static Tenants.AnomalySettings ParseAnomaly(string json)
    {
        var stored = JsonSerializer.Deserialize<StoredAnomaly>(json) ?? throw new InvalidDataException("Stored anomaly settings are empty.");
        var threshold = stored.DenyCount is { } count && stored.DenyWindowSeconds is { } window
            ? new Tenants.DenyThreshold(count, TimeSpan.FromSeconds(window))
            : null;
        return new Tenants.AnomalySettings(stored.LockdownOnBootstrapReplay, threshold, stored.RotateExposed,
            stored.DerivedDenialsLock == "session" ? Tenants.DerivedDenialsLock.Session : Tenants.DerivedDenialsLock.Token);
    }

    // RotateExposed and DerivedDenialsLock were added later: rows stored before them read as false and "token".
    private sealed record StoredAnomaly(bool LockdownOnBootstrapReplay, int? DenyCount, long? DenyWindowSeconds, bool RotateExposed = false, string? DerivedDenialsLock = null);
}
