using System.Buffers;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Wrapping;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Keyward.Server.Http;

/// <summary>The <c>wrap_info</c> of a wrapped response.</summary>
public sealed record WrapInfoResponse(string Token, string Accessor, long Ttl, DateTimeOffset CreatedAt, string CreationPath);

/// <summary>What a wrapped call answers instead of its body.</summary>
public sealed record WrappedResponse(WrapInfoResponse WrapInfo);

/// <summary>
/// A result that can write its JSON body into a buffer instead of a response (for response wrapping); what it held is
/// released (zeroed) once written, as when it is sent.
/// </summary>
public interface IBufferedJsonResult
{
    void WriteBody(IBufferWriter<byte> body);
}

/// <summary>
/// Response wrapping, in one place: the filter of the routes marked <c>.Wrappable()</c>, inside the audit filter. Without
/// the header the call's result passes through untouched. With it, the TTL is checked first (400 <c>invalid_wrap_ttl</c>,
/// nothing runs), the wrapping token is minted so the call's audit record can name it (<c>wrapped=true</c>,
/// <c>wrap_accessor</c>), the call runs exactly as it would (same authorization, audit, lease), and its body — the JSON
/// it would have sent — is written into a buffer, sealed and stored; the caller gets only <c>wrap_info</c>.
/// </summary>
public sealed class ResponseWrapping
{
    public const string Header = "X-Keyward-Wrap-TTL";

    private readonly WrappingService _service;
    private readonly JsonSerializerOptions _json;

    public ResponseWrapping(WrappingService service, IOptions<JsonOptions> json)
    {
        ArgumentNullException.ThrowIfNull(json);
        _service = service;
        _json = json.Value.SerializerOptions;
    }

    /// <summary>Whether the request asks for wrapping (the header is present, whatever its value).</summary>
    public static bool IsRequested(HttpRequest request) => request.Headers.ContainsKey(Header);

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        ArgumentNullException.ThrowIfNull(next);
        var values = invocation.HttpContext.Request.Headers[Header];
        return values.Count == 0 ? next(invocation) : WrapAsync(invocation, next, values);
    }

    private async ValueTask<object?> WrapAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next, StringValues values)
    {
        var ttl = values.Count == 1 ? WrappingService.ParseTtl(values[0]) : throw KeywardErrors.InvalidWrapTtl("was given more than once");
        var ctx = RequestContext.Of(invocation.HttpContext);
        var prepared = WrappingService.Prepare(ttl);
        ctx.Audit.AddDetail("wrapped", "true");
        ctx.Audit.AddDetail("wrap_accessor", prepared.Accessor);
        var result = await next(invocation);
        var body = Render(result);
        try
        {
            var info = await _service.WrapAsync(ctx.Caller, prepared, ctx.Audit.Path ?? "", body.WrittenMemory, ctx.Audit, ctx.Aborted);
            return TypedResults.Ok(new WrappedResponse(new WrapInfoResponse(info.Token, info.Accessor, (long)info.Ttl.TotalSeconds, info.CreatedAt, info.CreationPath)));
        }
        finally
        {
            body.Clear();
        }
    }

    /// <summary>The JSON body <paramref name="result"/> would have sent (a 200 with a JSON body), in a buffer the caller zeroes.</summary>
    private ZeroingBuffer Render(object? result)
    {
        while (result is INestedHttpResult nested)
        {
            result = nested.Result;
        }

        var body = new ZeroingBuffer(16 * 1024);
        try
        {
            switch (result)
            {
                case IBufferedJsonResult buffered:
                    buffered.WriteBody(body);
                    return body;
                case IValueHttpResult { Value: { } value } and IStatusCodeHttpResult { StatusCode: StatusCodes.Status200OK }:
                    // As Ok<T> writes it: the API's JSON options, the value's runtime type.
                    using (var writer = new Utf8JsonWriter(body, new JsonWriterOptions { Encoder = _json.Encoder, Indented = _json.WriteIndented }))
                    {
                        JsonSerializer.Serialize(writer, value, _json.GetTypeInfo(value.GetType()));
                    }

                    return body;
                default:
                    throw KeywardErrors.Internal();
            }
        }
        catch
        {
            body.Clear();
            throw;
        }
    }

    /// <summary>A growable buffer that zeroes every array it outgrows (it may hold a value).</summary>
    private sealed class ZeroingBuffer(int initialSize) : IBufferWriter<byte>
    {
        private byte[] _buffer = new byte[initialSize];
        private int _length;

        public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _length);

        public void Clear()
        {
            CryptographicOperations.ZeroMemory(_buffer);
            _length = 0;
        }

        public void Advance(int count) => _length += count;

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            Reserve(sizeHint);
            return _buffer.AsMemory(_length);
        }

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            Reserve(sizeHint);
            return _buffer.AsSpan(_length);
        }

        private void Reserve(int sizeHint)
        {
            var needed = _length + Math.Max(sizeHint, 1);
            if (needed <= _buffer.Length)
            {
                return;
            }

            var grown = new byte[Math.Max(_buffer.Length * 2, needed)];
            _buffer.AsSpan(0, _length).CopyTo(grown);
            CryptographicOperations.ZeroMemory(_buffer);
            _buffer = grown;
        }
    }
}

/// <summary>An unwrapped body: written as it was stored (the wrapped call's JSON, whatever its shape), then zeroed.</summary>
public sealed class UnwrappedResult : IResult, IStatusCodeHttpResult, IContentTypeHttpResult, IEndpointMetadataProvider
{
    private readonly byte[] _body;

    public UnwrappedResult(byte[] body) => _body = body;

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(void), ["application/json"]));
    }

    public int? StatusCode => StatusCodes.Status200OK;

    public string ContentType => "application/json; charset=utf-8";

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        try
        {
            httpContext.Response.StatusCode = StatusCodes.Status200OK;
            httpContext.Response.ContentType = ContentType;
            httpContext.Response.ContentLength = _body.Length;
            await httpContext.Response.Body.WriteAsync(_body, httpContext.RequestAborted);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(_body);
        }
    }
}
