using System.Text.Json;

namespace Keyward.Core.Auth.Jwt;

/// <summary>How every engine stores a registration's keys and bindings as JSON text.</summary>
public static class JwtIssuerJson
{
    private static JsonSerializerOptions Options => Storage.StoredJson.SnakeCaseWithoutNulls;

    public static string Keys(IReadOnlyList<JwtKey> keys) => JsonSerializer.Serialize(keys, Options);

    public static IReadOnlyList<JwtKey> ParseKeys(string json) => JsonSerializer.Deserialize<List<JwtKey>>(json, Options) ?? [];

    public static string Bindings(IReadOnlyList<JwtBinding> bindings) => JsonSerializer.Serialize(bindings, Options);

    public static IReadOnlyList<JwtBinding> ParseBindings(string json) => JsonSerializer.Deserialize<List<JwtBinding>>(json, Options) ?? [];
}
