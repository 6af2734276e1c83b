using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Tokens;

namespace Keyward.Server.Http;

/// <summary>What an endpoint handler gets: the HTTP context, the audit record it is building and the caller.</summary>
public sealed class RequestContext
{
    public RequestContext(HttpContext http, AuditDraft audit, Principal? caller)
    {
        Http = http;
        Audit = audit;
        CallerOrNull = caller;
    }

    public HttpContext Http { get; }

    public AuditDraft Audit { get; }

    public Principal? CallerOrNull { get; }

    public Principal Caller => CallerOrNull ?? throw KeywardErrors.MissingToken();

    public HttpRequest Request => Http.Request;

    public Task<T> BodyAsync<T>(bool allowEmpty = false)
        where T : class, new() => JsonBody.ReadAsync<T>(Http.Request, allowEmpty);
}
