using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Keyward.Tests.Common;

/// <summary>What the upstream received: the raw target, headers as sent, the body.</summary>
public sealed record UpstreamRequest(string Method, string RawTarget, IReadOnlyDictionary<string, string[]> Headers, byte[] Body)
{
    public string? Header(string name) =>
        Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value is { } values ? string.Join(",", values) : null;

    /// <summary>Everything received as one string (to search for what must not have been sent).</summary>
    public string Everything() =>
        Method + " " + RawTarget + "\n" + string.Join("\n", Headers.Select(h => h.Key + ": " + string.Join(",", h.Value))) + "\n" + Encoding.UTF8.GetString(Body);
}

/// <summary>
/// A real HTTP/1.1 upstream on loopback (Kestrel, ephemeral port) for the gateway's tests and benchmark. Routes:
/// <c>/ok/**</c> records the request and answers <c>{"ok":true}</c>; <c>/echo-credential/**</c> streams the credential
/// it received (the value of <see cref="Secret"/>) back raw and JSON-escaped, split across tiny chunks, and in a response
/// header; <c>/sse</c> sends one event, then waits for <see cref="ReleaseEvents"/> before the rest;
/// <c>/sse-forever</c> sends an event every 50 ms until the caller goes away; <c>/check</c> answers 200 for <c>Authorization: Bearer</c> <see cref="Secret"/> and 401 otherwise; <c>/redirect</c> answers 302 with a
/// <c>Location</c> carrying the credential; <c>/status/{code}</c> answers that status.
/// </summary>
public sealed class LoopbackUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private LoopbackUpstream(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary><c>http://127.0.0.1:PORT/</c>.</summary>
    public Uri Address { get; }

    /// <summary>The credential the echo routes send back (the test sets it to the injected value).</summary>
    public string Secret { get; set; } = "";

    /// <summary>Every request received, in order.</summary>
    public ConcurrentQueue<UpstreamRequest> Requests { get; } = new();

    /// <summary>
    /// Runs once a request is recorded and before it is answered (null: nothing): lets a test act while the gateway waits
    /// for this upstream, e.g. change a secret in the middle of a rotation's verification call.
    /// </summary>
    public Func<UpstreamRequest, Task>? OnRequest { get; set; }

    /// <summary>How many <c>/sse-forever</c> streams are open now (a cut-off call must bring it back to 0).</summary>
    public int OpenStreams => Volatile.Read(ref _openStreams);

    private int _openStreams;

    public static async Task<LoopbackUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        LoopbackUpstream? self = null;
        app.Run(async http => await self!.HandleAsync(http));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new LoopbackUpstream(app, new Uri(address.Replace("[::1]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/') + "/"));
        return self;
    }

    /// <summary>Lets <c>/sse</c> send the events after its first one.</summary>
    public void ReleaseEvents() => _release.TrySetResult();

    private async Task HandleAsync(HttpContext http)
    {
        var raw = http.Features.Get<IHttpRequestFeature>()!.RawTarget;
        using var body = new MemoryStream();
        await http.Request.Body.CopyToAsync(body);
        var received = new UpstreamRequest(
            http.Request.Method, raw,
            http.Request.Headers.ToDictionary(h => h.Key, h => h.Value.Select(v => v ?? "").ToArray(), StringComparer.OrdinalIgnoreCase),
            body.ToArray());
        Requests.Enqueue(received);
        if (OnRequest is { } hook)
        {
            await hook(received);
        }

        var path = http.Request.Path.Value ?? "/";
        if (path.StartsWith("/echo-credential", StringComparison.Ordinal))
        {
            await EchoCredentialAsync(http);
        }
        else if (path == "/sse")
        {
            await SseAsync(http);
        }
        else if (path == "/sse-forever")
        {
            await SseForeverAsync(http);
        }
        else if (path == "/check")
        {
            // 200 only for the credential the test expects now (what a provider's "who am I" call does).
            http.Response.StatusCode = http.Request.Headers.Authorization == "Bearer " + Secret ? StatusCodes.Status200OK : StatusCodes.Status401Unauthorized;
        }
        else if (path == "/redirect")
        {
            http.Response.StatusCode = StatusCodes.Status302Found;
            http.Response.Headers.Location = "http://169.254.169.254/latest?key=" + Uri.EscapeDataString(Secret);
        }
        else if (path.StartsWith("/status/", StringComparison.Ordinal) && int.TryParse(path["/status/".Length..], out var status))
        {
            http.Response.StatusCode = status;
        }
        else
        {
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync("{\"ok\":true}");
        }
    }

    private async Task EchoCredentialAsync(HttpContext http)
    {
        http.Response.ContentType = "application/json";
        http.Response.Headers["X-Echo"] = "seen " + Secret;
        var payload = Encoding.UTF8.GetBytes("{\"raw\":\"" + Secret + "\",\"escaped\":" + JsonSerializer.Serialize(Secret) + ",\"tail\":\"end\"}");

        // Three bytes at a time, flushed: every echo is split across chunks.
        for (var i = 0; i < payload.Length; i += 3)
        {
            await http.Response.Body.WriteAsync(payload.AsMemory(i, Math.Min(3, payload.Length - i)));
            await http.Response.Body.FlushAsync();
        }
    }

    private async Task SseAsync(HttpContext http)
    {
        http.Response.ContentType = "text/event-stream";
        await http.Response.WriteAsync("data: first\n\n");
        await http.Response.Body.FlushAsync();
        var release = _release.Task;
        await release.WaitAsync(TimeSpan.FromSeconds(30), http.RequestAborted);
        _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        await http.Response.WriteAsync("data: second\n\ndata: [DONE]\n\n");
    }

    private async Task SseForeverAsync(HttpContext http)
    {
        Interlocked.Increment(ref _openStreams);
        try
        {
            http.Response.ContentType = "text/event-stream";
            for (var i = 0; i < 1200 && !http.RequestAborted.IsCancellationRequested; i++)
            {
                await http.Response.WriteAsync($"data: tick {i}\n\n", http.RequestAborted);
                await http.Response.Body.FlushAsync(http.RequestAborted);
                await Task.Delay(50, http.RequestAborted);
            }
        }
        catch (Exception) when (http.RequestAborted.IsCancellationRequested)
        {
            // The caller went away: the stream ends.
        }
        finally
        {
            Interlocked.Decrement(ref _openStreams);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _release.TrySetResult();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
