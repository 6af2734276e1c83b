using System.Net;
using Keyward.Tests.Common;
using Microsoft.Extensions.Logging;

namespace Keyward.Server.FunctionalTests;

/// <summary>A client that goes away mid-request is not an error of the server's.</summary>
public sealed class ClientAbortTests
{
    [Fact]
    public async Task ClientDisconnectingMidBody_IsNotLoggedAsAnError()
    {
        using var data = new TempDirectory();
        var logs = new LogCapture();
        await using var host = KeywardServerHost.Create(
            new KeywardServerOptions { Dev = true, DevRootToken = KeywardTestHost.RootToken, DataDirectory = data.Path, Listen = $"127.0.0.1:{KeywardProcess.FreePort()}" },
            b => b.Logging.ClearProviders().AddProvider(logs));
        var report = await host.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(report.Address) };
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeywardTestHost.RootToken);
        using var abort = new CancellationTokenSource();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/tenants") { Content = new StreamContent(new NeverEndingStream(abort)) };
        request.Content.Headers.ContentLength = 1000;

        await Assert.ThrowsAnyAsync<Exception>(() => client.SendAsync(request, abort.Token));
        await Task.Delay(500);
        using var health = await client.GetAsync("/v1/sys/health");

        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.DoesNotContain(logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal) || line.StartsWith("Critical", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, line => line.Contains("[5001]", StringComparison.Ordinal));
    }

    /// <summary>Sends a few bytes, then cancels the request instead of finishing the body.</summary>
    private sealed class NeverEndingStream(CancellationTokenSource abort) : Stream
    {
        private int _reads;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_reads++ == 0)
            {
                "{\"id\":"u8.CopyTo(buffer.Span);
                return 6;
            }

            await Task.Delay(200, CancellationToken.None);
            await abort.CancelAsync();
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
