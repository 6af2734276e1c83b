using System.Text.Json;
using Keyward.Core.Errors;

namespace Keyward.Server.Http;

/// <summary>RFC 7807 problem details with Keyward's stable <c>code</c>: the only error shape the API answers with.</summary>
public sealed class ProblemResult : IResult, IStatusCodeHttpResult, IContentTypeHttpResult
{
    public const string MediaType = "application/problem+json";

    public ProblemResult(KeywardException error)
    {
        Error = error;
    }

    public KeywardException Error { get; }

    public int? StatusCode => Error.Status;

    public string ContentType => MediaType;

    public static string TypeUri(string code) => "urn:keyward:problem:" + code;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        return WriteAsync(httpContext.Response, Error);
    }

    public static async Task WriteAsync(HttpResponse response, KeywardException error)
    {
        response.StatusCode = error.Status;
        response.ContentType = MediaType;
        response.Headers.CacheControl = "no-store";
        if (error.Status == 503)
        {
            response.Headers.RetryAfter = "1";
        }

        await using var writer = new Utf8JsonWriter(response.Body);
        writer.WriteStartObject();
        writer.WriteString("type", TypeUri(error.Code));
        writer.WriteString("title", error.Title);
        writer.WriteNumber("status", error.Status);
        writer.WriteString("detail", error.Message);
        writer.WriteString("code", error.Code);
        writer.WriteEndObject();
    }
}

/// <summary>The problem document as the OpenAPI description shows it.</summary>
public sealed record ProblemDocument(string Type, string Title, int Status, string Detail, string Code);
