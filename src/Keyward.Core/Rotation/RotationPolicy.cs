using System.Text.Json;
using Keyward.Core.Storage;
using Keyward.Core.Errors;
using Keyward.Core.Validation;

namespace Keyward.Core.Rotation;

/// <summary>
/// A secret's rotation policy (<c>PUT /v1/secret-metadata/{path} {rotation}</c>): rotate and promote every
/// <see cref="Period"/> (the scheduler) and after <see cref="MaxUses"/> successful reads of the current version (in the
/// transaction of the last of them); keep the previous version readable with <c>?stage=previous</c> for
/// <see cref="Grace"/>; produce new values with <see cref="Generator"/>.
/// </summary>
public sealed record RotationPolicy(TimeSpan? Period, long? MaxUses, TimeSpan? Grace, SecretGenerator? Generator)
{
    /// <summary>The previous version stays readable by stage this long after a promotion unless the policy says otherwise.</summary>
    public static readonly TimeSpan DefaultGrace = TimeSpan.FromHours(1);

    /// <summary>The scheduler looks every 5 s at most, so a shorter period would not be kept.</summary>
    public static readonly TimeSpan MinPeriod = TimeSpan.FromMinutes(1);

    public const long MaxMaxUses = 1_000_000_000;

    public TimeSpan EffectiveGrace => Grace ?? DefaultGrace;

    /// <summary>
    /// The engine that owns the secret's value outside Keyward (<c>postgres/NAME/ROLE</c> for a static role), or null.
    /// A managed secret's current version changes only by a promotion that the engine's <see cref="IPromotionGuard"/>
    /// allowed first (it sets the pending value where it is used); never settable through <c>PUT /v1/secret-metadata</c>.
    /// </summary>
    public string? ManagedBy { get; init; }

    /// <summary>A call through a gateway integration that must succeed with a pending value before it is promoted (or null).</summary>
    public RotationVerify? Verify { get; init; }

    /// <summary>Checks the policy's bounds; automatic rotation (period or max_uses) needs a generator to make the values.</summary>
    public static RotationPolicy Create(TimeSpan? period, long? maxUses, TimeSpan? grace, SecretGenerator? generator)
    {
        if (period is { } p && (p < MinPeriod || p > Durations.Max))
        {
            throw KeywardErrors.InvalidField("rotation.period", $"at least {Durations.Format(MinPeriod)} and at most {Durations.Format(Durations.Max)}");
        }

        if (maxUses is < 1 or > MaxMaxUses)
        {
            throw KeywardErrors.InvalidField("rotation.max_uses", $"an integer from 1 to {MaxMaxUses}");
        }

        if (grace is { } g && (g < TimeSpan.Zero || g > Durations.Max))
        {
            throw KeywardErrors.InvalidField("rotation.grace", $"at most {Durations.Format(Durations.Max)}");
        }

        if ((period is not null || maxUses is not null) && generator is null)
        {
            throw KeywardErrors.NoGenerator("rotation.period and rotation.max_uses rotate automatically, which needs rotation.generator to make the new value");
        }

        return new RotationPolicy(period, maxUses, grace, generator);
    }

    /// <summary>A one-line summary for audit records (settings only).</summary>
    public string Describe() => string.Join(' ', new[]
    {
        Period is { } p ? "period=" + Durations.Format(p) : null,
        MaxUses is { } m ? "max_uses=" + m.ToString(System.Globalization.CultureInfo.InvariantCulture) : null,
        "grace=" + Durations.Format(EffectiveGrace),
        Generator is { } g ? "generator=" + g.Kind + "/" + g.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) : null,
        ManagedBy is { } engine ? "managed_by=" + engine : null,
        Verify is { } verify ? "verify=" + verify.Integration : null,
    }.Where(part => part is not null));

    /// <summary>The stored form (JSON text; engines keep it in one column).</summary>
    public string ToJson() => JsonSerializer.Serialize(new Stored(
        Period is { } p ? (long)p.TotalSeconds : null,
        MaxUses,
        Grace is { } g ? (long)g.TotalSeconds : null,
        Generator is { } gen ? new StoredGenerator(gen.Kind, gen.Length, gen.Alphabet, gen.Fields) : null,
        ManagedBy,
        Verify), StoredJson.SnakeCase);

    public static RotationPolicy? FromJson(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }

        var stored = JsonSerializer.Deserialize<Stored>(json, StoredJson.SnakeCase) ?? throw new JsonException("empty rotation policy");
        return new RotationPolicy(
            stored.PeriodSeconds is { } p ? TimeSpan.FromSeconds(p) : null,
            stored.MaxUses,
            stored.GraceSeconds is { } g ? TimeSpan.FromSeconds(g) : null,
            stored.Generator is { } gen ? new SecretGenerator(gen.Length, gen.Alphabet, gen.Fields) : null)
        {
            ManagedBy = stored.ManagedBy,
            Verify = stored.Verify,
        };
    }

    private sealed record Stored(long? PeriodSeconds, long? MaxUses, long? GraceSeconds, StoredGenerator? Generator,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? ManagedBy = null,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] RotationVerify? Verify = null);

    private sealed record StoredGenerator(string Kind, int Length, string Alphabet, IReadOnlyList<string>? Fields);
}

/// <summary>
/// <c>rotation.verify</c>: before a pending version becomes current, the gateway sends <see cref="Method"/>
/// <see cref="Path"/> (relative to the upstream, allowed by the integration) through <see cref="Integration"/> with the
/// pending value injected, and promotes only if the answer's status is <see cref="ExpectStatus"/>. The integration must
/// inject the secret being rotated.
/// </summary>
public sealed record RotationVerify(string Integration, string Method, string Path, int ExpectStatus)
{
    public static RotationVerify Create(string? integration, string? method, string? path, int? expectStatus)
    {
        var name = Names.RequireName("rotation.verify.integration", integration);
        if (string.IsNullOrEmpty(method) || method.Length > 16 || !method.All(c => c is >= 'A' and <= 'Z') || method is "CONNECT" or "TRACE")
        {
            throw method is null ? KeywardErrors.MissingField("rotation.verify.method") : KeywardErrors.InvalidField("rotation.verify.method", "an HTTP method in upper case, such as GET");
        }

        if (path is null || path.Length > 1024 || path.StartsWith('/') || path.Contains('?', StringComparison.Ordinal) || path.Any(c => c <= ' ' || c >= 127))
        {
            throw path is null ? KeywardErrors.MissingField("rotation.verify.path") : KeywardErrors.InvalidField("rotation.verify.path", "an upstream path without a leading '/', query or spaces, such as v1/models");
        }

        if (expectStatus is not { } status || status is < 100 or > 599)
        {
            throw expectStatus is null ? KeywardErrors.MissingField("rotation.verify.expect_status") : KeywardErrors.InvalidField("rotation.verify.expect_status", "an HTTP status from 100 to 599");
        }

        return new RotationVerify(name, method, path, status);
    }
}
