using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Keyward.Client.Internal;

namespace Keyward.Client;

/// <summary>
/// A reference to a secret, <c>kw://path</c> (the current version) or <c>kw://path#version</c>: what an agent stores in
/// its checkpoints, logs or tool arguments instead of the value. Serialized as that string. Resolve it through the
/// session when the value is needed (<see cref="ResolveAsync(AgentSession, CancellationToken)"/>).
/// </summary>
[JsonConverter(typeof(SecretRefJsonConverter))]
public sealed class SecretRef : IEquatable<SecretRef>
{
    /// <summary>The scheme prefix.</summary>
    public const string Scheme = "kw://";

    /// <summary>A reference to <paramref name="path"/> (segments of [A-Za-z0-9._-], at most 512 bytes), at <paramref name="version"/> or the current one.</summary>
    /// <exception cref="ArgumentException">The path is not a valid secret path.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The version is not positive.</exception>
    public SecretRef(string path, long? version = null)
    {
        ClientValidation.SecretPath(path, nameof(path));
        if (version is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(version), "Versions are positive integers.");
        }

        Path = path;
        Version = version;
    }

    /// <summary>The secret's path.</summary>
    public string Path { get; }

    /// <summary>The version, or null for whatever is current when it is resolved.</summary>
    public long? Version { get; }

    /// <summary>Reads <c>kw://path</c> or <c>kw://path#version</c>.</summary>
    /// <exception cref="FormatException">Not a valid reference.</exception>
    public static SecretRef Parse(string text) =>
        TryParse(text, out var parsed, out var reason) ? parsed : throw new FormatException($"Not a secret reference (kw://path or kw://path#version): {reason}.");

    /// <summary>Reads <c>kw://path</c> or <c>kw://path#version</c>; false when <paramref name="text"/> is not one.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out SecretRef? parsed) => TryParse(text, out parsed, out _);

    /// <summary>The value, through <paramref name="session"/>'s cache (a pinned version is fetched from the server, uncached).</summary>
    public Task<SecretValue> ResolveAsync(AgentSession session, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        return ResolveAsync(session.Secrets, cancellationToken);
    }

    /// <summary>The value, through <paramref name="cache"/> (a pinned version is fetched from the server, uncached).</summary>
    public Task<SecretValue> ResolveAsync(SecretCache cache, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return Version is { } version
            ? cache.GetVersionAsync(Path, version, cancellationToken)
            : cache.GetAsync(Path, cancellationToken).AsTask();
    }

    /// <summary><c>kw://path</c> or <c>kw://path#version</c>.</summary>
    public override string ToString() =>
        Version is { } v ? string.Create(CultureInfo.InvariantCulture, $"{Scheme}{Path}#{v}") : Scheme + Path;

    public bool Equals(SecretRef? other) => other is not null && other.Path == Path && other.Version == Version;

    public override bool Equals(object? obj) => Equals(obj as SecretRef);

    public override int GetHashCode() => HashCode.Combine(Path, Version);

    private static bool TryParse(string? text, [NotNullWhen(true)] out SecretRef? parsed, out string reason)
    {
        parsed = null;
        if (text is null || !text.StartsWith(Scheme, StringComparison.Ordinal))
        {
            reason = "it must start with kw://";
            return false;
        }

        var rest = text.AsSpan(Scheme.Length);
        long? version = null;
        var hash = rest.IndexOf('#');
        if (hash >= 0)
        {
            var number = rest[(hash + 1)..];
            if (number.Length == 0 || number.Length > 18 || !long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v <= 0 || number[0] == '0')
            {
                reason = "the version after '#' must be a positive integer";
                return false;
            }

            version = v;
            rest = rest[..hash];
        }

        var path = rest.ToString();
        if (!ClientValidation.TryValidatePath(path, out var invalid))
        {
            reason = invalid!;
            return false;
        }

        parsed = new SecretRef(path, version);
        reason = "";
        return true;
    }
}

/// <summary>Writes and reads a <see cref="SecretRef"/> as its string (<c>kw://path#version</c>).</summary>
public sealed class SecretRefJsonConverter : JsonConverter<SecretRef>
{
    public override SecretRef Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException("A secret reference is a string kw://path or kw://path#version.");
        }

        return SecretRef.TryParse(reader.GetString(), out var parsed)
            ? parsed
            : throw new JsonException("Not a secret reference (kw://path or kw://path#version).");
    }

    public override void Write(Utf8JsonWriter writer, SecretRef value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}
