using System.Globalization;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>The event stream (any tenant token).</summary>
public partial class KeywardClient
{
    /// <summary>
    /// <c>GET /v1/events</c>: the tenant's events as they are committed, filtered by this token's reach and
    /// <paramref name="prefix"/> (whole segments). Pass the last <see cref="KeywardEvent.Id"/> seen as
    /// <paramref name="lastEventId"/> to resume; an event of type <see cref="KeywardEvent.ResetType"/> means events were
    /// missed for good and any cache must be dropped. The sequence ends when the server closes the stream (the token
    /// was revoked or expired, or the tenant locked down); the client's timeout applies to opening it only.
    /// </summary>
    public virtual IAsyncEnumerable<KeywardEvent> StreamEventsAsync(
        string? prefix = null, long? lastEventId = null, CancellationToken cancellationToken = default) =>
        StreamEventsCoreAsync(prefix, lastEventId, opened: null, cancellationToken);

    /// <summary>
    /// <see cref="StreamEventsAsync"/>, calling <paramref name="opened"/> once the server has answered 200 (the stream's
    /// start is fixed before the response opens, so everything committed after <paramref name="opened"/> is delivered).
    /// The secret cache subscribes through this before its first fetch.
    /// </summary>
    internal async IAsyncEnumerable<KeywardEvent> StreamEventsCoreAsync(
        string? prefix, long? lastEventId, Action? opened, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_address, "v1/events" + Query(("prefix", prefix))));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (_token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        }

        if (lastEventId is { } id)
        {
            request.Headers.Add("Last-Event-ID", id.ToString(CultureInfo.InvariantCulture));
        }

        var response = await TransmitAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw await FailureAsync(response, cancellationToken).ConfigureAwait(false);
            }

            opened?.Invoke();

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
            long? eventId = null;
            string? type = null;
            string? data = null;
            while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                if (line.Length == 0)
                {
                    if (type is not null || data is not null)
                    {
                        using var document = JsonDocument.Parse(data ?? "{}");
                        yield return new KeywardEvent(eventId, type ?? "message", document.RootElement.Clone());
                    }

                    (eventId, type, data) = (null, null, null);
                }
                else if (line.StartsWith("id: ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
                {
                    eventId = parsed;
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
        }
    }
}
