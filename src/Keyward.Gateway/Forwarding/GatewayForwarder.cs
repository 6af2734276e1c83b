using System.Buffers;
using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using Keyward.Core.Audit;
using Keyward.Core.Diagnostics;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;
using Keyward.Gateway.Budgets;
using Keyward.Gateway.Egress;
using Keyward.Gateway.Integrations;
using Keyward.Gateway.Scrubbing;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Keyward.Gateway.Forwarding;

/// <summary>
/// <c>ANY /v1/gateway/{integration}/{**path}</c>: checks the call (path, <c>use</c> on the integration's secret, the
/// allow-list, limits), makes its <c>gateway.request</c> audit record durable, then forwards it with the credential
/// injected — the body streamed both ways, the response scrubbed of any echo of the credential — and records
/// <c>gateway.complete</c>. Nothing goes upstream before every check passed and the record is durable.
/// </summary>
public sealed class GatewayForwarder
{
    /// <summary>The agent pins the version it expects with this header (its cache's); a previous version in its grace window is served and flagged.</summary>
    public const string UseVersionHeader = "X-Keyward-Use-Version";

    /// <summary>How long the upstream has to answer with its headers (a streamed body may then take as long as it needs).</summary>
    public static readonly TimeSpan UpstreamHeadersTimeout = TimeSpan.FromSeconds(100);

    /// <summary>
    /// A proxied request body may be this large (Keyward's own routes take at most 68 KB): LLM requests carry long
    /// prompts and images. It is streamed upstream, never held whole.
    /// </summary>
    public const long MaxRequestBodyBytes = 32L * 1024 * 1024;

    private const int BufferSize = 16 * 1024;

    private readonly IntegrationService _integrations;
    private readonly SecretService _secrets;
    private readonly Keyward.Core.Rotation.RotationService _rotation;
    private readonly UpstreamHandlers _handlers;
    private readonly RunBudgets _budgets;
    private readonly AgentRateLimits _rates;
    private readonly InFlightCalls _calls;
    private readonly GroupCommitter _committer;
    private readonly ILogger _logger;

    public GatewayForwarder(
        IntegrationService integrations, SecretService secrets, Keyward.Core.Rotation.RotationService rotation, UpstreamHandlers handlers, RunBudgets budgets,
        AgentRateLimits rates, InFlightCalls calls, GroupCommitter committer, ILogger<GatewayForwarder> logger)
    {
        _rotation = rotation;
        _logger = logger;
        _integrations = integrations;
        _secrets = secrets;
        _handlers = handlers;
        _budgets = budgets;
        _rates = rates;
        _calls = calls;
        _committer = committer;
    }

    /// <summary>
    /// Forwards the request. <paramref name="rawTarget"/> is the request target as sent (undecoded, with the query).
    /// Throws a <see cref="KeywardException"/> for anything refused or failed before the response started; afterwards a
    /// failure aborts the response.
    /// </summary>
    public async Task ForwardAsync(HttpContext http, Principal caller, string token, string integrationName, string rawTarget, AuditDraft audit)
    {
        var tenant = caller.RequireTenant();
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxRequestBodyBytes;
        }

        var method = http.Request.Method;
        var (rawPath, rawQuery) = SplitTarget(rawTarget, integrationName);
        DescribeCall(audit, integrationName, method, rawPath);

        UpstreamPath.Validate(rawPath);

        // Before anything is read (a read of the secret counts a use): the header rules refuse it again when copying.
        GatewayHeaders.RefuseUpgrade(http.Request.Headers);

        var (integration, integrationVersion) = await _integrations.ResolveVersionAsync(tenant.Uid, integrationName, http.RequestAborted);
        audit.Path = integration.SecretPath;
        if (!caller.CanCall(integration.Name, integration.SecretPath))
        {
            // Not a 403 naming the secret: an agent must not learn which integrations exist, nor where their secrets are.
            throw KeywardErrors.IntegrationNotUsable(integration.Name);
        }

        if (!integration.Allows(method, rawPath))
        {
            throw KeywardErrors.GatewayNotAllowed(integration.Name, method, rawPath);
        }

        if (integration.Limits.PerAgentRps is { } rps)
        {
            _rates.Take(tenant.Uid, integration.Name, caller.Token.Accessor, rps);
        }

        var query = GatewayHeaders.FilterQuery(rawQuery, integration.InjectedQuery);
        var read = await ReadValueAsync(caller, integration, http.Request.Headers[UseVersionHeader], audit, http.RequestAborted);
        byte[]? value = null;
        try
        {
            value = FieldOf(read.Data, integration);
            var body = HasBody(http) ? new AgentBodyContent(http.Request.Body) : null;
            using var request = BuildRequest(integration, method, rawPath, query, value, body, http.Request.Headers, out var needles);
            // The record of the call is durable — with the request counted against its run's budgets, and the use against
            // the secret's max_uses — before a byte goes upstream.
            audit.Succeeded();
            await CommitRequestAsync(caller, integration, read, audit, http.RequestAborted);
            await SendAsync(http, token, tenant.Uid, integration, integrationVersion, request, needles, body, audit);
        }
        finally
        {
            SecretService.Wipe(read.Data);
            if (value is not null)
            {
                SecretService.Wipe(value);
            }
        }
    }

    /// <summary>The call's one durable record, with its budget and — for the current version of a max_uses secret — its use counted.</summary>
    private Task CommitRequestAsync(Principal caller, Integration integration, SecretRead read, AuditDraft audit, CancellationToken cancellationToken) =>
        _budgets.CommitRequestAsync(
            caller,
            integration.Name,
            integration.Limits.RunBudget,
            audit,
            cancellationToken,
            read.CountsUse ? session => _rotation.CountUseAsync(session, caller.Tenant!.Uid, integration.SecretPath, read.Version, audit) : null);

    private async Task SendAsync(
        HttpContext http, string token, string tenantUid, Integration integration, long integrationVersion, HttpRequestMessage request, EchoNeedles needles, AgentBodyContent? body, AuditDraft audit)
    {
        var started = Stopwatch.GetTimestamp();
        var complete = CompletionOf(audit, integration.Name);
        var echoed = 0;
        long bytesDown = 0;
        using var call = _calls.Begin(token, tenantUid, integration.Name, integrationVersion, http.RequestAborted);
        try
        {
            using (var response = await SendUpstreamAsync(_handlers, integration, request, call.Cancellation))
            {
                complete.SuccessStatus = (int)response.StatusCode;
                var encoding = GatewayHeaders.CheckResponse(response, integration.Name);
                http.Response.StatusCode = (int)response.StatusCode;
                GatewayHeaders.CopyResponseHeaders(response, http.Response.Headers, text =>
                {
                    var scrubbed = needles.ScrubText(text, out var found);
                    echoed += found ? 1 : 0;
                    return scrubbed;
                });

                // The header rules drop Content-Length (scrubbing may change the length: the body goes out chunked). A
                // compressed body (the upstream ignored Accept-Encoding: identity) would hide an echo from the scrubber:
                // it goes out decompressed.
                if (encoding is not null)
                {
                    http.Response.Headers.ContentEncoding = default;
                }

                await http.Response.StartAsync(call.Cancellation);
                var scrubber = needles.CreateScrubber();
                var writer = http.Response.BodyWriter;
                await using var upstream = Decompressed(encoding, await response.Content.ReadAsStreamAsync(call.Cancellation));
                var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                try
                {
                    int read;
                    while ((read = await upstream.ReadAsync(buffer.AsMemory(0, BufferSize), call.Cancellation)) > 0)
                    {
                        bytesDown += read;
                        scrubber.Write(buffer.AsSpan(0, read), writer);
                        await writer.FlushAsync(call.Cancellation);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
                }

                scrubber.Flush(writer);
                await writer.FlushAsync(call.Cancellation);
                echoed += scrubber.Replaced;
                await http.Response.CompleteAsync();
                complete.Succeeded();
            }
        }
        catch (Exception) when (call.CutOffBy is { } cut)
        {
            complete.Failed(cut.Error);
            complete.AddDetail("cut_off", cut.Why);
            if (http.Response.HasStarted)
            {
                http.Abort();
            }
            else
            {
                throw cut.Error;
            }
        }
        catch (Exception error) when (error is not KeywardException && http.Response.HasStarted)
        {
            // The upstream or the agent went away mid-body: nothing more can be said to the agent.
            complete.Failed(error is OperationCanceledException ? KeywardErrors.UpstreamUnavailable(integration.Name, "the call was cancelled.") : KeywardErrors.UpstreamUnavailable(integration.Name, "the body stream broke."));
            http.Abort();
        }
        catch (Exception error)
        {
            complete.Failed(error);
            throw;
        }
        finally
        {
            complete.AddDetail("duration_ms", (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            complete.AddDetail("bytes_up", body?.BytesSent ?? 0);
            complete.AddDetail("bytes_down", bytesDown);
            if (echoed > 0)
            {
                complete.Anomaly = "credential_echo";
                complete.AddDetail("echoes", echoed);
            }

            // Queued now, in order, durable with the next group commit — not awaited: the agent's connection (and its
            // next request) need not wait for a second fsync. A failure is logged; the gateway.request record stands.
            _ = _committer.AuditAsync(complete).ContinueWith(
                failed => KeywardLog.GatewayCompleteNotRecorded(_logger, complete.RequestId, failed.Exception!.InnerException!.GetType().Name),
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>What a <c>gateway.request</c> record says of the call: integration, method and upstream path (cut at 512).</summary>
    internal static void DescribeCall(AuditDraft audit, string integration, string method, string rawPath)
    {
        audit.AddDetail("integration", integration);
        audit.AddDetail("method", method);
        audit.AddDetail("upstream_path", rawPath.Length <= 512 ? rawPath : rawPath[..512]);
    }

    /// <summary>The <c>gateway.complete</c> record that follows <paramref name="request"/>'s (same request id, caller, secret and version).</summary>
    internal static AuditDraft CompletionOf(AuditDraft request, string integration)
    {
        var complete = new AuditDraft(request.RequestId, "gateway.complete")
        {
            TenantId = request.TenantId,
            Actor = request.Actor,
            Path = request.Path,
            Version = request.Version,
            Epoch = request.Epoch,
        };
        complete.AddDetail("integration", integration);
        return complete;
    }

    /// <summary>
    /// Sends <paramref name="request"/> to the integration's upstream and returns once its headers arrive: within
    /// <see cref="UpstreamHeadersTimeout"/>, else 504 <c>upstream_timeout</c>; a connection refused by the address rules
    /// or a failed exchange is 502 (<see cref="UpstreamFailure"/>). The body is left to the caller.
    /// </summary>
    internal static async Task<HttpResponseMessage> SendUpstreamAsync(
        UpstreamHandlers handlers, Integration integration, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var headersTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        headersTimeout.CancelAfter(UpstreamHeadersTimeout);
        try
        {
            return await handlers.For(integration.AllowInsecureLoopback).SendAsync(request, headersTimeout.Token);
        }
        catch (OperationCanceledException) when (headersTimeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw KeywardErrors.UpstreamTimeout(integration.Name);
        }
        catch (HttpRequestException error)
        {
            throw UpstreamFailure(integration.Name, request.RequestUri!, error);
        }
    }

    private static Stream Decompressed(string? encoding, Stream body) => encoding switch
    {
        "gzip" or "x-gzip" => new GZipStream(body, CompressionMode.Decompress),
        "br" => new BrotliStream(body, CompressionMode.Decompress),
        "deflate" => new ZLibStream(body, CompressionMode.Decompress),
        _ => body,
    };

    /// <summary>The value to inject: the current version, or — when the agent pins the previous one — that version in its grace window, flagged.</summary>
    private async Task<SecretRead> ReadValueAsync(Principal caller, Integration integration, Microsoft.Extensions.Primitives.StringValues pin, AuditDraft audit, CancellationToken cancellationToken)
    {
        long? pinned = null;
        if (pin.Count > 0)
        {
            pinned = pin.Count == 1 && long.TryParse(pin[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) && v > 0
                ? v
                : throw KeywardErrors.InvalidField(UseVersionHeader, "a positive version number");
        }

        var current = await _secrets.GetForUseAsync(caller, integration.Name, integration.SecretPath, previous: false, audit, cancellationToken);
        if (pinned is not { } wanted || wanted == current.Version)
        {
            return current;
        }

        SecretService.Wipe(current.Data);
        SecretRead previous;
        try
        {
            previous = await _secrets.GetForUseAsync(caller, integration.Name, integration.SecretPath, previous: true, audit, cancellationToken);
        }
        catch (KeywardException)
        {
            throw KeywardErrors.VersionNotUsable(integration.SecretPath, wanted);
        }

        if (previous.Version != wanted)
        {
            SecretService.Wipe(previous.Data);
            throw KeywardErrors.VersionNotUsable(integration.SecretPath, wanted);
        }

        audit.Anomaly = "stale_version";
        return previous;
    }

    /// <summary>The field to inject, as UTF-8 bytes: a string field without control characters (it goes into a header or query).</summary>
    internal static byte[] FieldOf(ReadOnlyMemory<byte> data, Integration integration)
    {
        using var document = JsonDocument.Parse(data);
        if (!document.RootElement.TryGetProperty(integration.SecretField, out var field) || field.ValueKind != JsonValueKind.String)
        {
            throw KeywardErrors.SecretFieldUnusable(integration.SecretPath, integration.SecretField, "the secret has no such string field.");
        }

        var text = field.GetString()!;
        if (text.Length == 0 || text.Any(char.IsControl))
        {
            throw KeywardErrors.SecretFieldUnusable(integration.SecretPath, integration.SecretField, "the value is empty or holds control characters, which cannot be sent in a header or query.");
        }

        if (integration.Inject is InjectKind.Bearer or InjectKind.Header && !Ascii.IsValid(text))
        {
            throw KeywardErrors.SecretFieldUnusable(integration.SecretPath, integration.SecretField, "a header carries ASCII only.");
        }

        return Encoding.UTF8.GetBytes(text);
    }

    /// <summary>
    /// The upstream request: the integration's base URL plus the raw path and filtered query, the agent's headers that may
    /// cross (none for a verification call), and the credential set last, over anything of the same name.
    /// </summary>
    internal static HttpRequestMessage BuildRequest(
        Integration integration, string method, string rawPath, string query, byte[] value, HttpContent? content, IHeaderDictionary? agentHeaders, out EchoNeedles needles)
    {
        var text = Encoding.UTF8.GetString(value);
        // The needles cover the value's own encoded forms (JSON, URL, base64, UTF-16); only what the injection makes of it is added.
        var extra = new List<byte[]>();
        if (integration.Inject == InjectKind.Query)
        {
            query = (query.Length == 0 ? "?" : query + "&") + Uri.EscapeDataString(integration.InjectName!) + "=" + Uri.EscapeDataString(text);
        }

        var target = new Uri(integration.Upstream.AbsoluteUri + rawPath + query, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        var request = new HttpRequestMessage(new HttpMethod(method), target) { Version = HttpVersion.Version11, Content = content };
        if (agentHeaders is not null)
        {
            GatewayHeaders.CopyRequestHeaders(agentHeaders, request, integration.InjectedHeader);
        }
        else
        {
            request.Headers.TryAddWithoutValidation("Accept-Encoding", "identity");
        }

        // The credential goes in last, over anything of the same name.
        switch (integration.Inject)
        {
            case InjectKind.Bearer:
                request.Headers.Remove("Authorization");
                request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + text);
                break;
            case InjectKind.Basic:
                var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes(integration.InjectName + ":" + text));
                request.Headers.Remove("Authorization");
                request.Headers.TryAddWithoutValidation("Authorization", "Basic " + basic);
                extra.Add(Encoding.ASCII.GetBytes(basic));
                break;
            case InjectKind.Header:
                request.Headers.Remove(integration.InjectName!);
                request.Headers.TryAddWithoutValidation(integration.InjectName!, text);
                break;
        }

        needles = new EchoNeedles(value, extra);
        return request;
    }

    private static bool HasBody(HttpContext http) =>
        http.Features.Get<IHttpRequestBodyDetectionFeature>() is { } detection
            ? detection.CanHaveBody
            : http.Request.ContentLength > 0 || http.Request.Headers.TransferEncoding.Count > 0;

    /// <summary>The path after <c>/v1/gateway/{integration}/</c> and the query (with its <c>?</c>), both raw.</summary>
    internal static (string Path, string Query) SplitTarget(string rawTarget, string integration)
    {
        var queryAt = rawTarget.IndexOf('?');
        var path = queryAt < 0 ? rawTarget : rawTarget[..queryAt];
        var query = queryAt < 0 ? "" : rawTarget[queryAt..];
        var prefix = "/v1/gateway/" + integration;
        if (!path.StartsWith(prefix, StringComparison.Ordinal))
        {
            // The route matched a decoded form of the name (an escaped character): refuse rather than guess.
            throw KeywardErrors.InvalidPath("The integration name must be sent unescaped.");
        }

        var rest = path[prefix.Length..];
        return (rest.StartsWith('/') ? rest[1..] : rest, query == "?" ? "" : query);
    }

    private static KeywardException UpstreamFailure(string integration, Uri target, HttpRequestException error)
    {
        for (Exception? inner = error; inner is not null; inner = inner.InnerException)
        {
            if (inner is UpstreamAddressRefusedException refused)
            {
                return KeywardErrors.UpstreamAddressRefused(refused.Host, refused.Reason);
            }
        }

        return KeywardErrors.UpstreamUnavailable(integration, error.HttpRequestError switch
        {
            HttpRequestError.NameResolutionError => $"{target.Host} does not resolve.",
            HttpRequestError.ConnectionError => $"no connection to {target.Host}:{target.Port}.",
            HttpRequestError.SecureConnectionError => $"the TLS handshake with {target.Host} failed.",
            _ => "the upstream broke the exchange (" + error.HttpRequestError + ").",
        });
    }

    /// <summary>The agent's request body, streamed upstream as it arrives, counted.</summary>
    private sealed class AgentBodyContent(Stream source) : HttpContent
    {
        public long BytesSent { get; private set; }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
            try
            {
                int read;
                while ((read = await source.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken)) > 0)
                {
                    await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    await stream.FlushAsync(cancellationToken);
                    BytesSent += read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
            }
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
