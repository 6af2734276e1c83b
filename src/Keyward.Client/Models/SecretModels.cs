using System.Text.Json;

namespace Keyward.Client.Models;

/// <summary>The version a write created.</summary>
public sealed record SecretWriteResult(long Version, DateTimeOffset CreatedAt);

/// <summary>
/// One version of a secret. <see cref="Data"/> is the JSON object that was written; <see cref="object.ToString"/>
/// never shows it.
/// </summary>
public sealed record KeywardSecret(string Path, long Version, JsonElement Data, DateTimeOffset CreatedAt)
{
    /// <summary>The field's value when the data has it.</summary>
    public bool TryGetField(string name, out JsonElement value)
    {
        value = default;
        return Data.ValueKind == JsonValueKind.Object && Data.TryGetProperty(name, out value);
    }

    /// <summary>Describes the version without its data.</summary>
    public override string ToString() =>
        FormattableString.Invariant($"KeywardSecret {{ Path = {Path}, Version = {Version}, Data = (redacted), CreatedAt = {CreatedAt:O} }}");
}

/// <summary>The state of one version: <c>active</c>, <c>deleted</c> or <c>destroyed</c>.</summary>
public sealed record SecretVersionInfo(long Version, DateTimeOffset CreatedAt, string State);

/// <summary>A path's versions, settings and plaintext custom metadata (never values).</summary>
public sealed record SecretMetadata(
    string Path,
    long CurrentVersion,
    int MaxVersions,
    IReadOnlyDictionary<string, string> CustomMetadata,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    IReadOnlyList<SecretVersionInfo> Versions);
