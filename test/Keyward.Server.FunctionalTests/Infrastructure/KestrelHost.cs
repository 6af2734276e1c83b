using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Keyward.Tests.Common;
using Microsoft.Extensions.Logging;

namespace Keyward.Server.FunctionalTests.Infrastructure;

/// <summary>
/// A real Keyward server on Kestrel (loopback, ephemeral port, dev mode, real SQLite store), for what the in-memory
/// test server cannot show: Kestrel's request limits (body 413, request line 414, headers 431) and request targets
/// exactly as bytes on a socket.
/// </summary>
public sealed class KestrelHost : IAsyncDisposable
{
    private readonly KeywardServerHost _host;
    private readonly TempDirectory _directory;

    private KestrelHost(KeywardServerHost host, TempDirectory directory, LogCapture logs, Uri address)
    {
        _host = host;
        _directory = directory;
        Logs = logs;
        Address = address;
    }

    public LogCapture Logs { get; }

    public Uri Address { get; }

    public static async Task<KestrelHost> StartAsync()
    {
        var directory = new TempDirectory();
        var logs = new LogCapture();
        var host = KeywardServerHost.Create(
            new KeywardServerOptions { Dev = true, DevRootToken = KeywardTestHost.RootToken, DataDirectory = directory.Path, Listen = "127.0.0.1:0" },
            builder => builder.Logging.AddProvider(logs));
        var report = await host.StartAsync();
        return new KestrelHost(host, directory, logs, new Uri(report.Address));
    }

    public HttpClient Client(string? token = KeywardTestHost.RootToken)
    {
        var client = new HttpClient { BaseAddress = Address };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    /// <summary>Writes the request bytes as given (plus <c>Connection: close</c>) and reads the whole answer.</summary>
    public async Task<RawResponse> SendRawAsync(string method, string target, IEnumerable<string> headerLines, byte[]? body = null, bool chunked = false)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(Address.Host, Address.Port);
        await using var stream = tcp.GetStream();
        var head = new StringBuilder();
        head.Append(method).Append(' ').Append(target).Append(" HTTP/1.1\r\n");
        head.Append(CultureInfo.InvariantCulture, $"Host: {Address.Authority}\r\n");
        foreach (var line in headerLines)
        {
            head.Append(line).Append("\r\n");
        }

        if (body is not null && !chunked)
        {
            head.Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\n");
        }
        else if (chunked)
        {
            head.Append("Transfer-Encoding: chunked\r\n");
        }

        head.Append("Connection: close\r\n\r\n");

        // Non-ASCII characters in the target go out as UTF-8 bytes, as a careless client would send them.
        await stream.WriteAsync(Encoding.UTF8.GetBytes(head.ToString()));
        try
        {
            if (body is not null && chunked)
            {
                for (var offset = 0; offset < body.Length; offset += 8192)
                {
                    var size = Math.Min(8192, body.Length - offset);
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(size.ToString("x", CultureInfo.InvariantCulture) + "\r\n"));
                    await stream.WriteAsync(body.AsMemory(offset, size));
                    await stream.WriteAsync("\r\n"u8.ToArray());
                }

                await stream.WriteAsync("0\r\n\r\n"u8.ToArray());
            }
            else if (body is not null)
            {
                await stream.WriteAsync(body);
            }
        }
        catch (IOException)
        {
            // The server may answer and close before it has read everything (413): read what it said.
        }

        using var answer = new MemoryStream();
        try
        {
            await stream.CopyToAsync(answer);
        }
        catch (IOException)
        {
            // Reset after the answer was written.
        }

        return Parse(answer.ToArray());
    }

    private static RawResponse Parse(byte[] bytes)
    {
        var split = bytes.AsSpan().IndexOf("\r\n\r\n"u8);
        Assert.True(split > 0, $"no HTTP response: '{Encoding.UTF8.GetString(bytes)}'");
        var lines = Encoding.ASCII.GetString(bytes, 0, split).Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], CultureInfo.InvariantCulture);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
        var body = bytes[(split + 4)..];
        if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = Dechunk(body);
        }

        headers.TryGetValue("Content-Type", out var contentType);
        headers.TryGetValue("X-Request-Id", out var requestId);
        return new RawResponse(status, contentType, Encoding.UTF8.GetString(body), requestId);
    }

    private static byte[] Dechunk(byte[] chunked)
    {
        using var body = new MemoryStream();
        var position = 0;
        while (true)
        {
            var end = position + chunked.AsSpan(position).IndexOf("\r\n"u8);
            var size = Convert.ToInt32(Encoding.ASCII.GetString(chunked, position, end - position).Split(';')[0], 16);
            if (size == 0)
            {
                return body.ToArray();
            }

            body.Write(chunked, end + 2, size);
            position = end + 2 + size + 2;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        _directory.Dispose();
    }
}
