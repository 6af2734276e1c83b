using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Keyward.Tests.Common;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.TestHost;

namespace Keyward.Server.FunctionalTests.Infrastructure;

/// <summary>A request exactly as an attacker would put it on the wire: the raw request target is sent verbatim.</summary>
public sealed record RawRequest(string Method, string Target)
{
    /// <summary>Each value becomes one <c>Authorization</c> header (none when empty).</summary>
    public IReadOnlyList<string> Authorization { get; init; } = [];

    public string? Body { get; init; }

    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    public static string Bearer(string token) => "Bearer " + token;
}

/// <summary>What came back: status, content type, body text and the request id the server assigned.</summary>
public sealed record RawResponse(int Status, string? ContentType, string Body, string? RequestId)
{
    public bool IsProblem => ContentType is not null && ContentType.StartsWith("application/problem+json", StringComparison.OrdinalIgnoreCase);

    public JsonElement Json()
    {
        using var document = JsonDocument.Parse(Body);
        return document.RootElement.Clone();
    }

    public string? ProblemCode => IsProblem && Json().TryGetProperty("code", out var code) ? code.GetString() : null;

    public override string ToString() => $"{Status} {ContentType} {Body}";
}

/// <summary>
/// Sends requests through the in-memory test server without <see cref="HttpClient"/>, whose <see cref="Uri"/> would
/// normalize the target first (it removes dot segments, turns backslashes into slashes and unescapes %2E). The raw
/// target is handed to the server as Kestrel would (<see cref="IHttpRequestFeature.RawTarget"/>), and the routed path
/// is what Kestrel would derive from it: percent-decoded except <c>%2F</c>, dot segments removed.
/// </summary>
public static partial class RawHttp
{
    public static async Task<RawResponse> SendAsync(this KeywardTestHost host, RawRequest request)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(request);
        var server = host.Host.App.GetTestServer();
        var context = await server.SendAsync(http =>
        {
            var query = request.Target.IndexOf('?', StringComparison.Ordinal);
            var rawPath = query < 0 ? request.Target : request.Target[..query];
            http.Request.Method = request.Method;
            http.Request.Scheme = "http";
            http.Request.Host = new HostString("localhost");
            http.Request.Path = new PathString(KestrelPath(rawPath));
            http.Request.QueryString = query < 0 ? QueryString.Empty : new QueryString(request.Target[query..]);
            http.Features.Get<IHttpRequestFeature>()!.RawTarget = request.Target;
            foreach (var authorization in request.Authorization)
            {
                http.Request.Headers.Append("Authorization", authorization);
            }

            foreach (var (name, value) in request.Headers)
            {
                if (string.Equals(name, "Host", StringComparison.OrdinalIgnoreCase))
                {
                    http.Request.Host = new HostString(value);
                }
                else
                {
                    http.Request.Headers.Append(name, value);
                }
            }

            if (request.Body is not null)
            {
                var bytes = Encoding.UTF8.GetBytes(request.Body);
                http.Request.Body = new MemoryStream(bytes);
                http.Request.ContentLength = bytes.Length;
                http.Request.ContentType = "application/json";
            }
        });

        using var reader = new StreamReader(context.Response.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var requestId = context.Response.Headers.TryGetValue("X-Request-Id", out var id) ? id.ToString() : null;
        return new RawResponse(context.Response.StatusCode, context.Response.ContentType, body, requestId);
    }

    /// <summary>Kestrel's view of a raw path: percent-decoded except for %2F, then dot segments removed.</summary>
    public static string KestrelPath(string rawPath)
    {
        ArgumentNullException.ThrowIfNull(rawPath);
        var pieces = EncodedSlash().Split(rawPath).Select(Uri.UnescapeDataString);
        return RemoveDotSegments(string.Join("%2F", pieces));
    }

    private static string RemoveDotSegments(string path)
    {
        var parts = path.Split('/');
        var output = new List<string>();
        for (var i = 1; i < parts.Length; i++)
        {
            var last = i == parts.Length - 1;
            switch (parts[i])
            {
                case ".":
                    break;
                case "..":
                    if (output.Count > 0)
                    {
                        output.RemoveAt(output.Count - 1);
                    }

                    break;
                default:
                    output.Add(parts[i]);
                    continue;
            }

            if (last)
            {
                output.Add("");
            }
        }

        return "/" + string.Join('/', output);
    }

    [GeneratedRegex("%2[fF]")]
    private static partial Regex EncodedSlash();
}
