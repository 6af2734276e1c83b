using System.Reflection;
using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Tokens;

namespace Keyward.Server.Http;

/// <summary>
/// What an endpoint handler gets as a parameter: the HTTP context, the audit record it is building and the caller, both
/// set by the audit filter (<see cref="Audited"/>). A request has one: parameters are bound before filters run, so the
/// handler's parameter and the filter share it through the request's features.
/// </summary>
public sealed class RequestContext : IBindableFromHttpContext<RequestContext>
{
    private AuditDraft? _audit;

    private RequestContext(HttpContext http) => Http = http;

    public HttpContext Http { get; }

    public AuditDraft Audit => _audit ?? throw new InvalidOperationException("The request has not passed the audit filter.");

    public Principal? CallerOrNull { get; private set; }

    public Principal Caller => CallerOrNull ?? throw KeywardErrors.MissingToken();

    public HttpRequest Request => Http.Request;

    /// <summary>Cancelled when the client goes away.</summary>
    public CancellationToken Aborted => Http.RequestAborted;

    public Task<T> BodyAsync<T>(bool allowEmpty = false)
        where T : class, new() => JsonBody.ReadAsync<T>(Http.Request, allowEmpty);

    /// <summary>Binds a handler's parameter: the request's context, which the audit filter fills in before the handler runs.</summary>
    public static ValueTask<RequestContext?> BindAsync(HttpContext context, ParameterInfo parameter) => ValueTask.FromResult<RequestContext?>(Of(context));

    /// <summary>The request's context, created on first use.</summary>
    internal static RequestContext Of(HttpContext http)
    {
        var context = http.Features.Get<RequestContext>();
        if (context is null)
        {
            context = new RequestContext(http);
            http.Features.Set(context);
        }

        return context;
    }

    /// <summary>The audit filter's part: the record being built and the authenticated caller (null for an anonymous operation).</summary>
    internal void Begin(AuditDraft audit, Principal? caller)
    {
        _audit = audit;
        CallerOrNull = caller;
    }
}
