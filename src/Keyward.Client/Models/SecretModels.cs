using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Keyward.Client.Internal;

namespace Keyward.Client.Models;

/// <summary>The version a write created. <see cref="Epoch"/> counts the path's writes, promotions and rollbacks.</summary>
public sealed record SecretWriteResult(long Version, DateTimeOffset CreatedAt)
{
    public long Epoch { get; init; }
}

/// <summary>
/// A staged version (<c>POST /v1/secrets/{path}/rotate</c>): <see cref="Stage"/> is <c>pending</c>, or <c>current</c>
/// when the rotation was promoted at once (reason <c>anomaly</c>); <see cref="Epoch"/> is then the new epoch.
/// </summary>
public sealed record SecretRotationResult(long Version, string Stage, DateTimeOffset CreatedAt)
{
    public long? Epoch { get; init; }
}

/// <summary>The path's new current version and epoch after a promote or rollback.</summary>
public sealed record SecretPromotion(long Version, long Epoch);

/// <summary>The stages a read can ask for.</summary>
public static class SecretStages
{
    public const string Current = "current";
    public const string Previous = "previous";
    public const string Pending = "pending";
}

/// <summary>
/// A secret's rotation policy: rotate every <see cref="Period"/>, after <see cref="MaxUses"/> successful reads, keep the
/// previous version readable for <see cref="Grace"/> (default 1 h), and make new values with <see cref="Generator"/>.
/// </summary>
public sealed record RotationPolicy
{
    public TimeSpan? Period { get; init; }

    public long? MaxUses { get; init; }

    public TimeSpan? Grace { get; init; }

    public SecretGenerator? Generator { get; init; }
}

/// <summary>
/// Random values for rotation: <see cref="Length"/> characters of <see cref="Alphabet"/> (default A–Z a–z 0–9) for
/// each of <see cref="Fields"/> (default: every field of the current version).
/// </summary>
public sealed record SecretGenerator(int Length)
{
    public string Kind { get; init; } = "random";

    public string? Alphabet { get; init; }

    public IReadOnlyList<string>? Fields { get; init; }
}

/// <summary>Where a secret's rotation stands: its policy and use count, and when the scheduler rotates it next.</summary>
public sealed record SecretRotationState
{
    public TimeSpan? Period { get; init; }

    public long? MaxUses { get; init; }

    public TimeSpan Grace { get; init; }

    public SecretGenerator? Generator { get; init; }

    public long Uses { get; init; }

    public DateTimeOffset? NextRotationAt { get; init; }
}

/// <summary>
/// One version of a secret. <see cref="Data"/> is the JSON object that was written; <see cref="object.ToString"/>
/// never shows it.
/// </summary>
[DebuggerDisplay("{ToString(),nq}")]
public sealed record KeywardSecret(
    string Path, long Version,
    [property: JsonConverter(typeof(SecretFieldJsonConverter<JsonElement>)), DebuggerBrowsable(DebuggerBrowsableState.Never)]
    JsonElement Data, DateTimeOffset CreatedAt) : IValueCarrier
{
    /// <summary>The version's stage (<c>current</c>, <c>previous</c>, <c>pending</c>) or null for an older version.</summary>
    public string? Stage { get; init; }

    /// <summary>The path's epoch when it was read: it grows with every write, promotion and rollback.</summary>
    public long Epoch { get; init; }

    /// <summary>The field's value when the data has it.</summary>
    public bool TryGetField(string name, out JsonElement value)
    {
        value = default;
        return Data.ValueKind == JsonValueKind.Object && Data.TryGetProperty(name, out value);
    }

    void IValueCarrier.RegisterValues(SecretScrubber scrubber) => scrubber.RegisterJson(Data);

    /// <summary>Describes the version without its data.</summary>
    public override string ToString() =>
        FormattableString.Invariant($"KeywardSecret {{ Path = {Path}, Version = {Version}, Stage = {Stage}, Epoch = {Epoch}, Data = (redacted), CreatedAt = {CreatedAt:O} }}");
}

/// <summary>The state of one version: <c>active</c>, <c>deleted</c> or <c>destroyed</c>, and its stage if it has one.</summary>
public sealed record SecretVersionInfo(long Version, DateTimeOffset CreatedAt, string State)
{
    public string? Stage { get; init; }
}

/// <summary>A path's versions, settings and plaintext custom metadata (never values).</summary>
public sealed record SecretMetadata(
    string Path,
    long CurrentVersion,
    int MaxVersions,
    IReadOnlyDictionary<string, string> CustomMetadata,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    IReadOnlyList<SecretVersionInfo> Versions)
{
    /// <summary>The highest version number given out (a pending version can be newer than the current one).</summary>
    public long LatestVersion { get; init; }

    public long? PendingVersion { get; init; }

    public long? PreviousVersion { get; init; }

    public long Epoch { get; init; }

    /// <summary>The rotation policy and its state, or null when the secret has none.</summary>
    public SecretRotationState? Rotation { get; init; }
}

/// <summary>
/// A wrapped response: <see cref="Token"/> (<c>kww_…</c>) unwraps the original body once, within <see cref="Ttl"/> of
/// <see cref="CreatedAt"/>. <see cref="CreationPath"/> is the secret path or <c>creds/postgres/NAME/ROLE</c>;
/// <see cref="Accessor"/> names the token in audit records. <see cref="ToString"/> never prints the token.
/// </summary>
[DebuggerDisplay("{ToString(),nq}")]
public sealed record WrapInfo(
    [property: JsonConverter(typeof(SecretFieldJsonConverter<string>)), DebuggerBrowsable(DebuggerBrowsableState.Never)]
    string Token, string Accessor, TimeSpan Ttl, DateTimeOffset CreatedAt, string CreationPath) : IValueCarrier
{
    void IValueCarrier.RegisterValues(SecretScrubber scrubber) => scrubber.RegisterIfAny(Token);

    public override string ToString() => $"WrapInfo {{ Token = (redacted), Accessor = {Accessor}, Ttl = {Ttl}, CreatedAt = {CreatedAt:O}, CreationPath = {CreationPath} }}";
}
