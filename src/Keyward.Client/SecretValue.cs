using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Keyward.Client;

/// <summary>
/// A secret's bytes: the JSON data of a version as UTF-8, as the <see cref="SecretCache"/> holds it. It does not
/// show itself (<see cref="ToString"/> is <c>SecretValue(redacted)</c>) and refuses to be serialized (a checkpoint or a
/// log record must hold a <see cref="SecretRef"/> instead).
/// </summary>
/// <remarks>
/// <para>
/// A value the cache hands out is a <b>lease on the cache's buffer</b>, not a copy: the cached read costs nothing, and
/// the bytes exist once in memory. When the cache evicts the entry (a new version, a deletion, a reset, a revocation,
/// the session's end) it marks the value released and zeroes the buffer; from then on every accessor throws
/// <see cref="ObjectDisposedException"/> rather than silently showing zeros. Read again through the cache for the
/// current value. Accessors that copy (<see cref="ToArray"/>, <see cref="GetString"/>, <see cref="TryGetField"/>,
/// <see cref="CopyTo"/>) check again after copying, so they never return bytes zeroed half-way; a
/// <see cref="Span"/> is a view and must not be kept across awaits.
/// </para>
/// <para>
/// The views are read-only: nothing here lets a caller change the cache's bytes (short of
/// <c>System.Runtime.InteropServices.MemoryMarshal</c>, which is out of scope).
/// </para>
/// </remarks>
[JsonConverter(typeof(SecretValueJsonConverter))]
[DebuggerDisplay("{ToString(),nq}")]
public sealed class SecretValue
{
    [DebuggerBrowsable(DebuggerBrowsableState.Never)]
    private readonly byte[] _bytes;
    private volatile bool _released;

    internal SecretValue(byte[] bytes, string path, long version, long epoch)
    {
        _bytes = bytes;
        Path = path;
        Version = version;
        Epoch = epoch;
    }

    /// <summary>The secret's path (not secret).</summary>
    public string Path { get; }

    /// <summary>The version the bytes belong to.</summary>
    public long Version { get; }

    /// <summary>The path's epoch when it was read (it grows with every write, promotion and rollback).</summary>
    public long Epoch { get; }

    /// <summary>Whether the cache has evicted (and zeroed) the bytes; every accessor then throws <see cref="ObjectDisposedException"/>.</summary>
    public bool IsReleased => _released;

    /// <summary>The number of bytes.</summary>
    public int Length
    {
        get
        {
            ThrowIfReleased();
            return _bytes.Length;
        }
    }

    /// <summary>A read-only view of the bytes (the version's JSON data as UTF-8). Valid until the value is released.</summary>
    /// <exception cref="ObjectDisposedException">The cache has evicted the value.</exception>
    [DebuggerBrowsable(DebuggerBrowsableState.Never)]
    public ReadOnlySpan<byte> Span
    {
        get
        {
            ThrowIfReleased();
            return _bytes;
        }
    }

    /// <summary>A reference to the secret (path and version) that may be stored, logged or serialized.</summary>
    public SecretRef ToRef() => new(Path, Version);

    /// <summary>Copies the bytes into <paramref name="destination"/> and returns how many were written.</summary>
    /// <exception cref="ObjectDisposedException">The cache has evicted the value (before or during the copy; the destination is then cleared).</exception>
    public int CopyTo(Span<byte> destination)
    {
        ThrowIfReleased();
        _bytes.CopyTo(destination);
        if (_released)
        {
            CryptographicOperations.ZeroMemory(destination[.._bytes.Length]);
            ThrowIfReleased();
        }

        return _bytes.Length;
    }

    /// <summary>A copy of the bytes that the caller owns (zero it with <see cref="CryptographicOperations.ZeroMemory"/> when done).</summary>
    public byte[] ToArray()
    {
        ThrowIfReleased();
        var copy = (byte[])_bytes.Clone();
        if (_released)
        {
            CryptographicOperations.ZeroMemory(copy);
            ThrowIfReleased();
        }

        return copy;
    }

    /// <summary>The bytes as a string (the version's JSON data). Strings cannot be zeroed: prefer <see cref="Span"/> where you can.</summary>
    public string GetString()
    {
        ThrowIfReleased();
        var text = Encoding.UTF8.GetString(_bytes);
        ThrowIfReleased();
        return text;
    }

    /// <summary>
    /// A field of the version's data: a string field's value, or the raw JSON of any other kind of field. False when the
    /// data has no such field.
    /// </summary>
    public bool TryGetField(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfReleased();
        value = null;
        try
        {
            var reader = new Utf8JsonReader(_bytes);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var match = reader.ValueTextEquals(name);
                reader.Read();
                if (match)
                {
                    value = reader.TokenType == JsonTokenType.String ? reader.GetString()! : RawValue(ref reader);
                    break;
                }

                reader.Skip();
            }
        }
        catch (JsonException) when (_released)
        {
            // Zeroed under our feet: reported below.
        }

        ThrowIfReleased();
        return value is not null;
    }

    /// <summary>Never shows the bytes.</summary>
    public override string ToString() => "SecretValue(redacted)";

    /// <summary>The cache's eviction: from now on accessors throw, and the buffer is zeroed.</summary>
    internal void Release()
    {
        _released = true;
        CryptographicOperations.ZeroMemory(_bytes);
    }

    private static string RawValue(ref Utf8JsonReader reader)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return document.RootElement.GetRawText();
    }

    private void ThrowIfReleased()
    {
        if (_released)
        {
            throw new ObjectDisposedException(
                nameof(SecretValue), $"The cached value of '{Path}' version {Version} was evicted (a newer version, a deletion or the session's end). Read it again through the cache.");
        }
    }
}

/// <summary>Refuses to write or read a <see cref="SecretValue"/>: state that is saved must hold a <see cref="SecretRef"/>.</summary>
public sealed class SecretValueJsonConverter : JsonConverter<SecretValue>
{
    private const string Message =
        "A SecretValue cannot be serialized or deserialized: store a SecretRef (kw://path#version) and resolve it through the session's cache when needed (use SecretRef).";

    public override SecretValue Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new InvalidOperationException(Message);

    public override void Write(Utf8JsonWriter writer, SecretValue value, JsonSerializerOptions options) =>
        throw new InvalidOperationException(Message);
}
