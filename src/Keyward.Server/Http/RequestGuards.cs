using Keyward.Core;
using Keyward.Core.Diagnostics;
using Keyward.Core.Errors;
using Keyward.Core.Seal;
using Keyward.Core.Tokens;
using Microsoft.AspNetCore.Http.Features;

namespace Keyward.Server.Http;

/// <summary>
/// What every request passes before routing: a request id; a catch-all that turns any escaped error into a
/// problem document without its message; the raw-target guard (tokens in a path segment, encoded separators, dot
/// segments, tokens in the query string); and the seal gate (503 to everything but health, init and unseal while sealed).
/// </summary>
public static class RequestGuards
{
    private static readonly string[] SealExempt = ["/v1/sys/health", "/v1/sys/init", "/v1/sys/unseal"];

    /// <summary>Query parameter names that would carry a credential, refused whatever their value.</summary>
    private static readonly string[] CredentialParameterNames =
        ["token", "access_token", "auth", "authorization", "x-keyward-token", "bearer", "api_key", "apikey"];

    public static IApplicationBuilder UseKeywardRequestGuards(this IApplicationBuilder app)
    {
        app.Use(RequestIdAndErrorsAsync);
        app.Use(RawTargetAsync);
        app.Use(SealGateAsync);
        app.UseStatusCodePages(async context =>
        {
            var http = context.HttpContext;
            var error = http.Response.StatusCode switch
            {
                StatusCodes.Status405MethodNotAllowed => KeywardErrors.MethodNotAllowed(http.Request.Method, http.Request.Path.Value ?? "/"),
                StatusCodes.Status404NotFound => KeywardErrors.RouteNotFound(http.Request.Method, http.Request.Path.Value ?? "/"),
                _ => new KeywardException(http.Response.StatusCode, "http_" + http.Response.StatusCode, "Request refused", "The request was refused."),
            };

            // An API request that matched no route or method is an attempt like any other: audited, attributed if possible.
            var result = http.Request.Path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase)
                ? await http.RequestServices.GetRequiredService<Audited>().RejectAsync(http, error)
                : new ProblemResult(error);
            await result.ExecuteAsync(http);
        });
        return app;
    }

    internal static async Task RequestIdAndErrorsAsync(HttpContext http, RequestDelegate next)
    {
        var requestId = Ids.NewRequestId();
        http.Items[Audited.RequestIdItem] = requestId;
        http.Response.Headers["X-Request-Id"] = requestId;
        http.Response.Headers.CacheControl = "no-store";
        try
        {
            await next(http);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away: there is no one to answer and nothing went wrong.
        }
        catch (Exception error) when (!http.Response.HasStarted)
        {
            KeywardException problem;
            if (error is KeywardException keyward)
            {
                problem = keyward;
            }
            else if (error is BadHttpRequestException bad)
            {
                problem = bad.StatusCode == StatusCodes.Status413PayloadTooLarge
                    ? KeywardErrors.BodyTooLarge(KeywardServerLimits.MaxRequestBodyBytes)
                    : KeywardErrors.InvalidRequest("The request is malformed.");
            }
            else
            {
                var logger = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Keyward.Server");
                KeywardLog.UnhandledError(logger, http.Request.Method, "middleware", requestId, new InvalidOperationException(error.GetType().FullName + " (message redacted)"));
                problem = KeywardErrors.Internal();
            }

            http.Response.Clear();
            await ProblemResult.WriteAsync(http.Response, problem);
        }
    }

    private static async Task RawTargetAsync(HttpContext http, RequestDelegate next)
    {
        var refusal = Inspect(RawTarget(http));
        if (refusal is null)
        {
            await next(http);
            return;
        }

        var audited = http.RequestServices.GetRequiredService<Audited>();
        var result = await audited.RejectAsync(http, refusal);
        await result.ExecuteAsync(http);
    }

    private static async Task SealGateAsync(HttpContext http, RequestDelegate next)
    {
        var path = http.Request.Path.Value ?? "";
        if (Array.Exists(SealExempt, p => string.Equals(p, path.TrimEnd('/'), StringComparison.OrdinalIgnoreCase)))
        {
            await next(http);
            return;
        }

        var keys = http.RequestServices.GetRequiredService<KeyHierarchy>();
        using var scope = keys.TryEnter();
        if (scope is null)
        {
            await ProblemResult.WriteAsync(http.Response, keys.State == SealState.Uninitialized ? KeywardErrors.NotInitialized() : KeywardErrors.Sealed());
            return;
        }

        await next(http);
    }

    /// <summary>The request target exactly as the client sent it (path and query, undecoded).</summary>
    public static string RawTarget(HttpContext http)
    {
        var raw = http.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw))
        {
            return (http.Request.PathBase + http.Request.Path).ToUriComponent() + http.Request.QueryString.ToUriComponent();
        }

        // Absolute-form targets (proxies): keep from the path on.
        var scheme = raw.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0 && raw[0] != '/')
        {
            var slash = raw.IndexOf('/', scheme + 3);
            raw = slash < 0 ? "/" : raw[slash..];
        }

        return raw;
    }

    /// <summary>The raw path (undecoded, without the query).</summary>
    public static string RawPath(HttpContext http)
    {
        var raw = RawTarget(http);
        var query = raw.IndexOf('?');
        return query < 0 ? raw : raw[..query];
    }

    internal static KeywardException? Inspect(string rawTarget)
    {
        var query = rawTarget.IndexOf('?');
        var path = query < 0 ? rawTarget : rawTarget[..query];

        // First: whatever else is wrong with the target, a token in it must not reach routing, a handler's error
        // detail or the audit record's path.
        if (CarriesPathToken(path))
        {
            return KeywardErrors.TokenInPath();
        }

        if (path.Contains("%2f", StringComparison.OrdinalIgnoreCase)
            || path.Contains("%5c", StringComparison.OrdinalIgnoreCase)
            || path.Contains("%00", StringComparison.Ordinal)
            || path.Contains('\\'))
        {
            return KeywardErrors.InvalidPath("The request target contains an encoded separator or NUL (%2F, %5C, %00) or a backslash.");
        }

        foreach (var segment in path.Split('/'))
        {
            var decoded = segment.Replace("%2e", ".", StringComparison.OrdinalIgnoreCase);
            if (decoded is "." or "..")
            {
                return KeywardErrors.InvalidPath("The request target contains a '.' or '..' segment.");
            }
        }

        if (query >= 0 && CarriesToken(rawTarget[(query + 1)..]))
        {
            return KeywardErrors.TokenInQuery();
        }

        return null;
    }

    /// <summary>How many times a path is percent-decoded when looking for a token (a double-encoded one is found too).</summary>
    private const int PathDecodingRounds = 3;

    /// <summary>
    /// Whether a raw path holds a token-shaped run: a kind prefix (any case) and at least
    /// <see cref="TokenKinds.MinimumPathTokenBody"/> characters of <c>[A-Za-z0-9_.-]</c>. The raw path is looked at as
    /// sent and after each percent-decoding round (up to <see cref="PathDecodingRounds"/>), so that
    /// <c>kwa%5F…</c>, <c>%6Bwa_…</c> or <c>%255F</c> hide nothing. Decoding everything is the conservative choice: a
    /// decoded separator or other character only ends a run, it never makes one.
    /// </summary>
    internal static bool CarriesPathToken(string rawPath)
    {
        var text = rawPath;
        for (var round = 0; ; round++)
        {
            if (TokenKinds.ContainsToken(text, TokenKinds.MinimumPathTokenBody))
            {
                return true;
            }

            if (round == PathDecodingRounds || !text.Contains('%', StringComparison.Ordinal))
            {
                return false;
            }

            var decoded = Uri.UnescapeDataString(text);
            if (decoded == text)
            {
                return false;
            }

            text = decoded;
        }
    }

    private static bool CarriesToken(string query)
    {
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=');
            var name = Uri.UnescapeDataString((equals < 0 ? pair : pair[..equals]).Replace('+', ' '));
            var value = equals < 0 ? "" : Uri.UnescapeDataString(pair[(equals + 1)..].Replace('+', ' '));
            if (Array.Exists(CredentialParameterNames, n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
                || TokenKinds.ContainsToken(name) || TokenKinds.ContainsToken(value))
            {
                return true;
            }
        }

        return false;
    }
}
