using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Connections;
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
/// <c>Location</c> carrying the credential; <c>/status/{code}</c> answers that status; <c>/echo-range</c> answers a body
/// holding the credential and honours a <c>Range: bytes=a-b</c> request with a 206; <c>/echo-as/{form}</c> echoes the
/// credential in one encoded form (see <see cref="EchoForms"/>). A hostile upstream that no HTTP server would be:
/// <see cref="RawResponse"/> makes every new connection answer with bytes written as they are (no framing added).
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

    /// <summary>
    /// When set before a connection is opened, that connection is served raw: the request head (and a
    /// <c>Content-Length</c> body) is read and recorded, these bytes are written back exactly, and the connection is closed.
    /// </summary>
    public Func<UpstreamRequest, byte[]>? RawResponse { get; set; }

    /// <summary>The forms <c>/echo-as/{form}</c> writes the credential in, each inside a JSON-ish body.</summary>
    public static IReadOnlyDictionary<string, Func<string, byte[]>> EchoForms { get; } = new Dictionary<string, Func<string, byte[]>>(StringComparer.Ordinal)
    {
        ["base64"] = s => Utf8("{\"b\":\"" + Convert.ToBase64String(Encoding.UTF8.GetBytes(s)) + "\"}"),
        ["base64-unpadded"] = s => Utf8("{\"b\":\"" + Convert.ToBase64String(Encoding.UTF8.GetBytes(s)).TrimEnd('=') + "\"}"),
        ["base64url"] = s => Utf8("{\"b\":\"" + Convert.ToBase64String(Encoding.UTF8.GetBytes(s)).Replace('+', '-').Replace('/', '_').TrimEnd('=') + "\"}"),
        // Inside a longer base64 blob, at each of the two other alignments.
        ["base64-offset1"] = s => Utf8("{\"b\":\"" + Convert.ToBase64String([0x7b, .. Encoding.UTF8.GetBytes(s), 0x7d]) + "\"}"),
        ["base64-offset2"] = s => Utf8("{\"b\":\"" + Convert.ToBase64String([0x7b, 0x22, .. Encoding.UTF8.GetBytes(s), 0x22, 0x7d]) + "\"}"),
        // Python's urllib.parse.quote: '/' kept; and percent-encoding with lower-case hex.
        ["quote"] = s => Utf8("{\"q\":\"" + Uri.EscapeDataString(s).Replace("%2F", "/", StringComparison.Ordinal) + "\"}"),
        ["percent-lower"] = s => Utf8("{\"q\":\"" + LowerHex(Uri.EscapeDataString(s)) + "\"}"),
        ["utf16le"] = s => Encoding.Unicode.GetBytes("{\"k\":\"" + s + "\"}"),
        ["utf16be"] = s => Encoding.BigEndianUnicode.GetBytes("{\"k\":\"" + s + "\"}"),
    };

    /// <summary>How many <c>/sse-forever</c> streams are open now (a cut-off call must bring it back to 0).</summary>
    public int OpenStreams => Volatile.Read(ref _openStreams);

    private int _openStreams;

    public static async Task<LoopbackUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        LoopbackUpstream? self = null;
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.Use(next => async connection =>
        {
            if (self?.RawResponse is { } raw)
            {
                await self.ServeRawAsync(connection, raw);
                return;
            }

            await next(connection);
        })));
        var app = builder.Build();
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
        else if (path == "/echo-range")
        {
            await EchoRangeAsync(http);
        }
        else if (path.StartsWith("/echo-as/", StringComparison.Ordinal) && EchoForms.TryGetValue(path["/echo-as/".Length..], out var form))
        {
            http.Response.ContentType = path.Contains("utf16", StringComparison.Ordinal) ? "application/json; charset=utf-16" : "application/json";
            var payload = form(Secret);
            for (var i = 0; i < payload.Length; i += 5)
            {
                await http.Response.Body.WriteAsync(payload.AsMemory(i, Math.Min(5, payload.Length - i)));
                await http.Response.Body.FlushAsync();
            }
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

    /// <summary>A body holding the credential; <c>Range: bytes=a-b</c> gets just those bytes, 206 (what file and blob servers do).</summary>
    private async Task EchoRangeAsync(HttpContext http)
    {
        var body = Encoding.UTF8.GetBytes("{\"key\":\"" + Secret + "\"}");
        var range = http.Request.Headers.Range.ToString();
        if (range.StartsWith("bytes=", StringComparison.Ordinal) && range[6..].Split('-') is [var first, var last]
            && int.TryParse(first, out var from) && int.TryParse(last, out var to) && from <= to && from < body.Length)
        {
            to = Math.Min(to, body.Length - 1);
            http.Response.StatusCode = StatusCodes.Status206PartialContent;
            http.Response.Headers.ContentRange = $"bytes {from}-{to}/{body.Length}";
            http.Response.ContentType = "application/json";
            await http.Response.Body.WriteAsync(body.AsMemory(from, to - from + 1));
            return;
        }

        http.Response.Headers.AcceptRanges = "bytes";
        http.Response.ContentType = "application/json";
        await http.Response.Body.WriteAsync(body);
    }

    /// <summary>Reads one request off the raw connection, records it, writes <paramref name="respond"/>'s bytes as they are, closes.</summary>
    private async Task ServeRawAsync(ConnectionContext connection, Func<UpstreamRequest, byte[]> respond)
    {
        var input = connection.Transport.Input;
        var buffered = new List<byte>();
        int headEnd;
        while (true)
        {
            var read = await input.ReadAsync();
            buffered.AddRange(read.Buffer.ToArray());
            input.AdvanceTo(read.Buffer.End);
            headEnd = IndexOf(buffered, "\r\n\r\n"u8);
            if (headEnd >= 0 || read.IsCompleted)
            {
                break;
            }
        }

        if (headEnd < 0)
        {
            return;
        }

        var lines = Encoding.Latin1.GetString([.. buffered.Take(headEnd)]).Split("\r\n");
        var requestLine = lines[0].Split(' ');
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
            .GroupBy(p => p[0].Trim(), StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.Select(p => p[1].Trim()).ToArray(), StringComparer.OrdinalIgnoreCase);
        var body = buffered.Skip(headEnd + 4).ToList();
        if (headers.TryGetValue("Content-Length", out var lengths) && int.TryParse(lengths[0], out var length))
        {
            while (body.Count < length)
            {
                var read = await input.ReadAsync();
                body.AddRange(read.Buffer.ToArray());
                input.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }
        }

        var request = new UpstreamRequest(requestLine[0], requestLine.Length > 1 ? requestLine[1] : "", headers, [.. body]);
        Requests.Enqueue(request);
        await connection.Transport.Output.WriteAsync(respond(request));
        await connection.Transport.Output.CompleteAsync();
    }

    private static int IndexOf(List<byte> data, ReadOnlySpan<byte> pattern)
    {
        for (var i = 0; i + pattern.Length <= data.Count; i++)
        {
            var match = true;
            for (var k = 0; k < pattern.Length && match; k++)
            {
                match = data[i + k] == pattern[k];
            }

            if (match)
            {
                return i;
            }
        }

        return -1;
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Percent-encoding with lower-case hex digits (<c>%2b</c>).</summary>
    private static string LowerHex(string encoded)
    {
        var chars = encoded.ToCharArray();
        for (var i = 0; i + 2 < chars.Length; i++)
        {
            if (chars[i] == '%')
            {
                chars[i + 1] = char.ToLowerInvariant(chars[i + 1]);
                chars[i + 2] = char.ToLowerInvariant(chars[i + 2]);
                i += 2;
            }
        }

        return new string(chars);
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
