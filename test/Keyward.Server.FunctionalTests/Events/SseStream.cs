using System.Net;
using System.Text.Json;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests.Events;

/// <summary>A subscriber reading server-sent events from the in-process server, whole events with a deadline.</summary>
internal sealed class SseStream : IAsyncDisposable
{
    private readonly HttpClient _client;
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;
    private readonly CancellationTokenSource _stop = new();

    private SseStream(HttpClient client, HttpResponseMessage response, StreamReader reader)
    {
        _client = client;
        _response = response;
        _reader = reader;
    }

    public static async Task<SseStream> OpenAsync(KeywardTestHost host, string token, string route, long? lastEventId = null)
    {
        var client = host.Client(token);
        var request = new HttpRequestMessage(HttpMethod.Get, route);
        if (lastEventId is { } id)
        {
            request.Headers.Add("Last-Event-ID", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return new SseStream(client, response, new StreamReader(await response.Content.ReadAsStreamAsync()));
    }

    public async Task<IReadOnlyList<SseEvent>> ReadAsync(int count, TimeSpan timeout)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        deadline.CancelAfter(timeout);
        var events = new List<SseEvent>();
        long id = 0;
        string? type = null;
        string? data = null;
        while (events.Count < count)
        {
            var line = await _reader.ReadLineAsync(deadline.Token) ?? throw new Xunit.Sdk.XunitException($"stream ended after {events.Count} events");
            if (line.Length == 0)
            {
                events.Add(new SseEvent(id, type ?? "message", data is null ? default : JsonDocument.Parse(data).RootElement.Clone(), data ?? ""));
                (id, type, data) = (0, null, null);
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = long.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line[6..];
            }
        }

        return events;
    }

    public async Task<bool> WaitForEndAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            while (await _reader.ReadLineAsync(deadline.Token) is not null)
            {
            }

            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _reader.Dispose();
        _response.Dispose();
        _client.Dispose();
        _stop.Dispose();
    }
}

internal sealed record SseEvent(long Id, string Type, JsonElement Data, string Raw);
