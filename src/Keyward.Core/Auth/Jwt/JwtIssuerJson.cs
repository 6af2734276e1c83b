using System.Text.Json;
using Keyward.Core.Storage;

namespace Keyward.Core.Auth.Jwt;

/// <summary>How every engine stores a registration's keys and bindings as JSON text.</summary>
public static class JwtIssuerJson
{
    public static string Keys(IReadOnlyList<JwtKey> keys) => JsonSerializer.Serialize(keys, StoredJson.SnakeCaseWithoutNulls);

    public static IReadOnlyList<JwtKey> ParseKeys(string json) => JsonSerializer.Deserialize<List<JwtKey>>(json, StoredJson.SnakeCaseWithoutNulls) ?? [];

    public static string Bindings(IReadOnlyList<JwtBinding> bindings) => JsonSerializer.Serialize(bindings, StoredJson.SnakeCaseWithoutNulls);

    public static IReadOnlyList<JwtBinding> ParseBindings(string json) => JsonSerializer.Deserialize<List<JwtBinding>>(json, StoredJson.SnakeCaseWithoutNulls) ?? [];
}
