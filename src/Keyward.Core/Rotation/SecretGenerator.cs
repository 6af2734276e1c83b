using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using Keyward.Core.Errors;

namespace Keyward.Core.Rotation;

/// <summary>
/// Makes a secret's next value: for each of <see cref="Fields"/> (default: every field of the current version) a
/// string of <see cref="Length"/> characters drawn uniformly from <see cref="Alphabet"/> by
/// <see cref="RandomNumberGenerator.GetItems{T}(ReadOnlySpan{T}, Span{T})"/>. Fields of the current version that are not generated are carried
/// over unchanged (a username next to a password stays the same).
/// </summary>
public sealed record SecretGenerator
{
    public const string RandomKind = "random";
    public const string DefaultAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    public const int MinLength = 16;
    public const int MaxLength = 4096;
    public const int MaxFields = 64;

    public SecretGenerator(int length, string? alphabet = null, IReadOnlyList<string>? fields = null)
    {
        if (length is < MinLength or > MaxLength)
        {
            throw KeywardErrors.InvalidField("rotation.generator.length", $"an integer from {MinLength} to {MaxLength}");
        }

        alphabet ??= DefaultAlphabet;
        if (alphabet.Length < 2 || alphabet.Length > 256 || alphabet.Distinct().Count() != alphabet.Length || alphabet.Any(c => c < 0x21 || c > 0x7E))
        {
            throw KeywardErrors.InvalidField("rotation.generator.alphabet", "2 to 256 distinct printable ASCII characters");
        }

        if (fields is { } list && (list.Count is 0 or > MaxFields || list.Any(f => string.IsNullOrEmpty(f) || f.Length > 128) || list.Distinct().Count() != list.Count))
        {
            throw KeywardErrors.InvalidField("rotation.generator.fields", $"1 to {MaxFields} distinct non-empty field names");
        }

        Length = length;
        Alphabet = alphabet;
        Fields = fields;
    }

    public string Kind => RandomKind;

    public int Length { get; }

    public string Alphabet { get; }

    public IReadOnlyList<string>? Fields { get; }

    /// <summary>
    /// The next value's JSON object, from the current one (<paramref name="current"/> may be empty when the secret has
    /// no readable current version; then <see cref="Fields"/> must name the fields). The caller zeroes the result.
    /// </summary>
    public byte[] Generate(ReadOnlySpan<byte> current)
    {
        var names = new List<string>();
        var output = new ArrayBufferWriter<byte>(Math.Max(1024, current.Length * 2));
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            if (current.Length > 0)
            {
                var reader = new Utf8JsonReader(current);
                using var document = JsonDocument.ParseValue(ref reader);
                foreach (var property in document.RootElement.EnumerateObject())
                {
                    if (Fields is null || Fields.Contains(property.Name))
                    {
                        names.Add(property.Name);
                        continue;
                    }

                    property.WriteTo(writer);
                }
            }

            foreach (var field in Fields ?? [])
            {
                if (!names.Contains(field))
                {
                    names.Add(field);
                }
            }

            if (names.Count == 0)
            {
                throw KeywardErrors.NoGenerator("the generator has no field to fill: the current version has none and rotation.generator.fields names none");
            }

            var value = new char[Length];
            try
            {
                foreach (var name in names)
                {
                    RandomNumberGenerator.GetItems<char>(Alphabet, value);
                    writer.WriteString(name, value);
                }
            }
            finally
            {
                CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(value.AsSpan()));
            }

            writer.WriteEndObject();
        }

        var result = output.WrittenSpan.ToArray();
        output.Clear();
        return result;
    }
}
