using System.Net.Http.Headers;
using Keyward.Client.Internal;
using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>The gateway: integrations (tenant admin token) and calls through it (use on the integration's secret).</summary>
public partial class KeywardClient
{
    /// <summary><c>PUT /v1/integrations/{name}</c>: registers or replaces an integration.</summary>
    public virtual Task<Integration> PutIntegrationAsync(string name, IntegrationSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return SendAsync<Integration>(HttpMethod.Put, IntegrationUrl(name), spec, authenticate: true, cancellationToken);
    }

    public virtual Task<Integration> GetIntegrationAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<Integration>(HttpMethod.Get, IntegrationUrl(name), null, authenticate: true, cancellationToken);

    public virtual async Task<IReadOnlyList<Integration>> ListIntegrationsAsync(CancellationToken cancellationToken = default) =>
        (await SendAsync<IntegrationList>(HttpMethod.Get, "v1/integrations", null, authenticate: true, cancellationToken).ConfigureAwait(false)).Integrations;

    public virtual Task DeleteIntegrationAsync(string name, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Delete, IntegrationUrl(name), null, cancellationToken);

    /// <summary>
    /// A handler that sends every request of an <see cref="HttpClient"/> through the gateway's <paramref name="integration"/>
    /// with this client's token, so existing HTTP code (or an LLM SDK that accepts a handler) calls the upstream unchanged
    /// and never holds its credential. The request's path and query (whatever host it names) become the upstream path:
    /// <c>https://api.example.com/v1/chat?x=1</c> goes to <c>{keyward}/v1/gateway/{integration}/v1/chat?x=1</c>. Any
    /// credential the calling code sets is replaced (the gateway drops it and injects the real one). Responses stream.
    /// </summary>
    public virtual HttpMessageHandler CreateGatewayHandler(string integration)
    {
        var name = ClientValidation.Segment(integration, nameof(integration), "integration name");
        if (_token is null)
        {
            throw new InvalidOperationException("The gateway needs a token: create the client with KeywardClientOptions.Token.");
        }

        return new GatewayHandler(this, name);
    }

    private static string IntegrationUrl(string name) => "v1/integrations/" + ClientValidation.Segment(name, nameof(name), "integration name");

    private sealed record IntegrationList(IReadOnlyList<Integration> Integrations);

    /// <summary>Re-addresses each request to the gateway and sends it on the client's connection pool.</summary>
    private sealed class GatewayHandler(KeywardClient client, string integration) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(request);
            var original = request.RequestUri ?? throw new InvalidOperationException("The request has no URI.");
            var pathAndQuery = original.IsAbsoluteUri ? original.PathAndQuery : original.OriginalString;
            // The path and query as the caller's URI already holds them (canonical once; a second pass changes nothing).
            var target = new Uri(client._address.AbsoluteUri + "v1/gateway/" + integration + "/" + pathAndQuery.TrimStart('/'));

            // A message is sent once: the gateway gets a copy carrying the same content (streamed, not buffered).
            var forwarded = new HttpRequestMessage(request.Method, target)
            {
                Content = request.Content,
                Version = request.Version,
                VersionPolicy = request.VersionPolicy,
            };
            foreach (var header in request.Headers)
            {
                if (!string.Equals(header.Key, "Authorization", StringComparison.OrdinalIgnoreCase)
                    && !string.Equals(header.Key, "Host", StringComparison.OrdinalIgnoreCase))
                {
                    forwarded.Headers.TryAddWithoutValidation(header.Key, header.Value);
                }
            }

            forwarded.Headers.Authorization = new AuthenticationHeaderValue("Bearer", client._token);
            var response = await client._http.SendAsync(forwarded, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            response.RequestMessage = request;
            return response;
        }
    }
}
