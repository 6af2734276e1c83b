using System.Diagnostics;
using System.Text.Json.Serialization;
using Keyward.Client.Internal;

namespace Keyward.Client.Models;

/// <summary>The server's initialization and seal state (<c>GET /v1/sys/health</c>).</summary>
public sealed record KeywardHealth(bool Initialized, bool Sealed, string Version, string? Storage)
{
    /// <summary>True when the server is initialized and unsealed, ready to serve requests.</summary>
    [JsonIgnore]
    public bool IsReady => Initialized && !Sealed;
}

/// <summary>
/// What initialization hands out once: the key shares and the first root token. <see cref="object.ToString"/>
/// redacts both.
/// </summary>
[DebuggerDisplay("{ToString(),nq}")]
public sealed record InitializeResult(
    [property: JsonConverter(typeof(SecretFieldJsonConverter<IReadOnlyList<string>>)), DebuggerBrowsable(DebuggerBrowsableState.Never)]
    IReadOnlyList<string> Keys,
    [property: JsonConverter(typeof(SecretFieldJsonConverter<string>)), DebuggerBrowsable(DebuggerBrowsableState.Never)]
    string RootToken) : IValueCarrier
{
    void IValueCarrier.RegisterValues(SecretScrubber scrubber)
    {
        foreach (var key in Keys ?? [])
        {
            scrubber.RegisterIfAny(key);
        }

        scrubber.RegisterIfAny(RootToken);
    }

    /// <summary>Describes the result without the shares or the token.</summary>
    public override string ToString() => $"InitializeResult {{ Keys = ({Keys.Count} redacted), RootToken = (redacted) }}";
}

/// <summary>Unseal progress: how many distinct shares of the threshold were submitted.</summary>
public sealed record SealStatus(bool Sealed, int Progress, int Threshold);

/// <summary>A root token minted from a threshold of key shares. <see cref="object.ToString"/> redacts it.</summary>
[DebuggerDisplay("{ToString(),nq}")]
public sealed record RootTokenResult(
    [property: JsonConverter(typeof(SecretFieldJsonConverter<string>)), DebuggerBrowsable(DebuggerBrowsableState.Never)]
    string RootToken) : IValueCarrier
{
    void IValueCarrier.RegisterValues(SecretScrubber scrubber) => scrubber.RegisterIfAny(RootToken);

    /// <summary>Describes the result without the token.</summary>
    public override string ToString() => "RootTokenResult { RootToken = (redacted) }";
}

/// <summary>
/// The result of walking the audit chain: <see cref="Ok"/> is false when a record was changed, removed or cut off, or
/// when the chain head's MAC is missing or does not verify; <see cref="FirstBadSeq"/> and <see cref="TruncatedAfter"/>
/// say where the chain stops being trustworthy. <see cref="HeadMac"/>: <c>ok</c>, <c>missing</c>, <c>bad</c> or
/// <c>none</c> (an empty chain); null from a server that does not report it.
/// </summary>
public sealed record AuditVerification(
    long Records, bool Ok, long? FirstBadSeq, long? TruncatedAfter, int Checkpoints, long? LastCheckpointSeq, string? Problem,
    string? HeadMac = null);
