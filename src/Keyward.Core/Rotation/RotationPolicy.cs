using System.Text.Json;
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
    }.Where(part => part is not null));

    /// <summary>The stored form (JSON text; engines keep it in one column).</summary>
    public string ToJson() => JsonSerializer.Serialize(new Stored(
        Period is { } p ? (long)p.TotalSeconds : null,
        MaxUses,
        Grace is { } g ? (long)g.TotalSeconds : null,
        Generator is { } gen ? new StoredGenerator(gen.Kind, gen.Length, gen.Alphabet, gen.Fields) : null,
        ManagedBy), JsonOptions);

    public static RotationPolicy? FromJson(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }

        var stored = JsonSerializer.Deserialize<Stored>(json, JsonOptions) ?? throw new JsonException("empty rotation policy");
        return new RotationPolicy(
            stored.PeriodSeconds is { } p ? TimeSpan.FromSeconds(p) : null,
            stored.MaxUses,
            stored.GraceSeconds is { } g ? TimeSpan.FromSeconds(g) : null,
            stored.Generator is { } gen ? new SecretGenerator(gen.Length, gen.Alphabet, gen.Fields) : null)
        {
            ManagedBy = stored.ManagedBy,
        };
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private sealed record Stored(long? PeriodSeconds, long? MaxUses, long? GraceSeconds, StoredGenerator? Generator,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? ManagedBy = null);

    private sealed record StoredGenerator(string Kind, int Length, string Alphabet, IReadOnlyList<string>? Fields);
}
