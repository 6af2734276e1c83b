using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Wrapping;

namespace Keyward.Server.Http;

/// <summary>Marks a route whose response may be wrapped (<see cref="ResponseWrapping.Header"/>); every other route refuses the header.</summary>
public sealed class WrappableMetadata
{
    public static readonly WrappableMetadata Instance = new();

    private WrappableMetadata()
    {
    }
}

/// <summary>The <c>wrap_info</c> of a wrapped response.</summary>
public sealed record WrapInfoResponse(string Token, string Accessor, long Ttl, DateTimeOffset CreatedAt, string CreationPath);

/// <summary>What a wrapped call answers instead of its body.</summary>
public sealed record WrappedResponse(WrapInfoResponse WrapInfo);

/// <summary>
/// Response wrapping, in one place: a wrappable endpoint runs its call through <see cref="RunAsync"/>. Without the
/// header the call's result passes through untouched. With it, the TTL is checked first (400 <c>invalid_wrap_ttl</c>,
/// nothing runs), the wrapping token is minted so the call's audit record can name it (<c>wrapped=true</c>,
/// <c>wrap_accessor</c>), the call runs exactly as it would (same authorization, audit, lease), and its body — rendered
/// as it would have been sent — is sealed and stored; the caller gets only <c>wrap_info</c>.
/// </summary>
public sealed class ResponseWrapping
{
    public const string Header = "X-Keyward-Wrap-TTL";

    private readonly WrappingService _service;

    public ResponseWrapping(WrappingService service) => _service = service;

    /// <summary>Whether the request asks for wrapping (the header is present, whatever its value).</summary>
    public static bool IsRequested(HttpRequest request) => request.Headers.ContainsKey(Header);

    public async Task<IResult> RunAsync(RequestContext ctx, Func<Task<IResult>> call)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(call);
        var values = ctx.Request.Headers[Header];
        if (values.Count == 0)
        {
            return await call();
        }

        var ttl = values.Count == 1 ? WrappingService.ParseTtl(values[0]) : throw KeywardErrors.InvalidWrapTtl("was given more than once");
        var prepared = WrappingService.Prepare(ttl);
        ctx.Audit.AddDetail("wrapped", "true");
        ctx.Audit.AddDetail("wrap_accessor", prepared.Accessor);
        var result = await call();
        var (buffer, length) = await RenderAsync(ctx.Http, result);
        try
        {
            var info = await _service.WrapAsync(ctx.Caller, prepared, ctx.Audit.Path ?? "", buffer.AsMemory(0, length), ctx.Audit, ctx.Http.RequestAborted);
            return TypedResults.Ok(new WrappedResponse(new WrapInfoResponse(info.Token, info.Accessor, (long)info.Ttl.TotalSeconds, info.CreatedAt, info.CreationPath)));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer);
        }
    }

    /// <summary>The body <paramref name="result"/> would have sent, written into a buffer the caller zeroes.</summary>
    private static async Task<(byte[] Buffer, int Length)> RenderAsync(HttpContext http, IResult result)
    {
        var scratch = new DefaultHttpContext { RequestServices = http.RequestServices };
        var buffer = new byte[16 * 1024];
        var body = new ZeroingBuffer(buffer);
        scratch.Response.Body = body;
        await result.ExecuteAsync(scratch);
        if (scratch.Response.StatusCode != StatusCodes.Status200OK)
        {
            body.Clear();
            throw KeywardErrors.Internal();
        }

        return (body.Buffer, (int)body.Length);
    }

    /// <summary>A write-only stream over a growable buffer that zeroes every buffer it outgrows (it may hold a value).</summary>
    private sealed class ZeroingBuffer(byte[] initial) : Stream
    {
        public byte[] Buffer { get; private set; } = initial;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _length;

        public override long Position
        {
            get => _length;
            set => throw new NotSupportedException();
        }

        private int _length;

        public void Clear()
        {
            CryptographicOperations.ZeroMemory(Buffer);
            _length = 0;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_length + buffer.Length > Buffer.Length)
            {
                var grown = new byte[Math.Max(Buffer.Length * 2, _length + buffer.Length)];
                Buffer.AsSpan(0, _length).CopyTo(grown);
                CryptographicOperations.ZeroMemory(Buffer);
                Buffer = grown;
            }

            buffer.CopyTo(Buffer.AsSpan(_length));
            _length += buffer.Length;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}

/// <summary>An unwrapped body: written as it was stored, then zeroed.</summary>
public sealed class UnwrappedResult : IResult, IStatusCodeHttpResult, IContentTypeHttpResult
{
    private readonly byte[] _body;

    public UnwrappedResult(byte[] body) => _body = body;

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
