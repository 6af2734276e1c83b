using System.Security.Cryptography;
using System.Text.Json;
using Keyward.Core.Errors;

namespace Keyward.Server.Http;

/// <summary>
/// Reads a request body strictly: size-bounded by the server limit (413), valid JSON (malformed_json), an object,
/// no duplicate or unknown fields (unknown_field: a misspelt <c>cas</c> must never become a blind write), and the
/// right types (invalid_field, naming the field). Errors never quote the body.
/// </summary>
public static class JsonBody
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { AllowDuplicateProperties = false, MaxDepth = 32 };

    public static async Task<T> ReadAsync<T>(HttpRequest request, bool allowEmpty = false)
        where T : class, new()
    {
        byte[] body;
        try
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer, request.HttpContext.RequestAborted);
            body = buffer.ToArray();
        }
        catch (BadHttpRequestException tooLarge) when (tooLarge.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw KeywardErrors.BodyTooLarge(KeywardServerLimits.MaxRequestBodyBytes);
        }

        if (body.AsSpan().Trim(" \t\r\n"u8).IsEmpty)
        {
            return allowEmpty ? new T() : throw KeywardErrors.MalformedJson("The body is empty; this route needs a JSON object.");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, DocumentOptions);
        }
        catch (JsonException error)
        {
            CryptographicOperations.ZeroMemory(body);
            var duplicate = error.Message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase);
            throw KeywardErrors.MalformedJson(duplicate
                ? "The body names a field more than once."
                : $"The body is not valid JSON (line {error.LineNumber + 1}, byte {error.BytePositionInLine + 1}).");
        }

        try
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw KeywardErrors.MalformedJson("The body must be a JSON object.");
            }

            return document.RootElement.Deserialize<T>(KeywardJson.Options) ?? throw KeywardErrors.MalformedJson("The body must be a JSON object.");
        }
        catch (JsonException error)
        {
            throw Classify(error);
        }
        finally
        {
            document.Dispose();
            CryptographicOperations.ZeroMemory(body);
        }
    }

    private static KeywardException Classify(JsonException error)
    {
        var field = FieldName(error.Path);
        if (error.Message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            return KeywardErrors.UnknownField(field);
        }

        if (error.Message.StartsWith(KeywardJson.DurationRefusal, StringComparison.Ordinal))
        {
            return KeywardErrors.InvalidDuration(field);
        }

        // Our converters explain themselves; the serializer's own messages name .NET types, so they are not echoed.
        var detail = error.Message.StartsWith("must be", StringComparison.Ordinal) ? error.Message : "has the wrong type or value";
        return KeywardErrors.InvalidField(field, detail);
    }

    private static string FieldName(string? path) =>
        string.IsNullOrEmpty(path) || path == "$" ? "(body)" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;
}

/// <summary>Request limits that are safety invariants, not knobs.</summary>
public static class KeywardServerLimits
{
    /// <summary>A secret's data is at most 64 KiB; the body around it gets 4 KiB of room for the envelope fields.</summary>
    public const int MaxRequestBodyBytes = (64 * 1024) + 4096;

    /// <summary>Request header block (Kestrel answers 431 beyond it).</summary>
    public const int MaxRequestHeadersBytes = 16 * 1024;

    /// <summary>Request line and target (Kestrel answers 414 beyond it).</summary>
    public const int MaxRequestLineBytes = 4 * 1024;
}
