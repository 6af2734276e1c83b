using Keyward.Core.Agents;
using Keyward.Core.Audit;
using Keyward.Core.Diagnostics;
using Keyward.Core.Errors;
using Keyward.Core.Seal;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;

namespace Keyward.Server.Http;

/// <summary>
/// The audit filter every API endpoint runs through (<see cref="AuditingConventions.RequireAuditing"/>): authenticates
/// the bearer token, runs the endpoint, and makes exactly one audit record durable before the response is sent —
/// allowed or denied, success or failure. A write's record commits inside the write's own transaction; anything else is
/// committed on its own here. If the record cannot be made durable, the caller gets 503 and no success. The handler gets
/// the caller and the record it is building through its <see cref="RequestContext"/> parameter.
/// </summary>
public sealed class Audited
{
    public const string RequestIdItem = "keyward.request_id";

    /// <summary>
    /// Response wrapping is asked for with a header that only wrappable routes honour; on any other route it is refused
    /// (400 <c>wrap_not_supported</c>, before the handler runs) rather than ignored, so that a client never receives a raw
    /// value it expected to come wrapped.
    /// </summary>
    private static readonly EndpointFilterDelegate RefuseWrapping = _ => throw KeywardErrors.WrapNotSupported();

    private readonly TokenService _tokens;
    private readonly TenantDirectory _tenants;
    private readonly GroupCommitter _committer;
    private readonly KeyHierarchy _keys;
    private readonly Anomalies _anomalies;
    private readonly ILogger _logger;

    public Audited(TokenService tokens, TenantDirectory tenants, GroupCommitter committer, KeyHierarchy keys, Anomalies anomalies, ILogger<Audited> logger)
    {
        _tokens = tokens;
        _tenants = tenants;
        _committer = committer;
        _keys = keys;
        _anomalies = anomalies;
        _logger = logger;
    }

    public static string RequestId(HttpContext http) =>
        http.Items.TryGetValue(RequestIdItem, out var id) && id is string s ? s : http.TraceIdentifier;

    /// <summary>The filter: runs <paramref name="next"/> (the endpoint) as <paramref name="operation"/>.</summary>
    public ValueTask<object?> InvokeAsync(AuditedOperation operation, EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(invocation);
        var http = invocation.HttpContext;
        string name;
        try
        {
            name = operation.NameFor(http);
        }
        catch (KeywardException refusal)
        {
            return RejectAsync(invocation, refusal);
        }

        var handler = ResponseWrapping.IsRequested(http.Request) && http.GetEndpoint()?.Metadata.GetMetadata<WrappableMetadata>() is null
            ? RefuseWrapping
            : next;
        return RunAsync(invocation, name, authenticate: !operation.Anonymous, handler);
    }

    /// <summary>A request refused before routing (bad raw target, token in the query): audited, attributed if possible.</summary>
    public async Task<IResult> RejectAsync(HttpContext http, KeywardException refusal) =>
        (IResult)(await RejectAsync(EndpointFilterInvocationContext.Create(http), refusal))!;

    private ValueTask<object?> RejectAsync(EndpointFilterInvocationContext invocation, KeywardException refusal) =>
        RunAsync(invocation, "request.rejected", authenticate: false, async invocation =>
        {
            await AttributeAsync(RequestContext.Of(invocation.HttpContext));
            throw refusal;
        });

    private async ValueTask<object?> RunAsync(EndpointFilterInvocationContext invocation, string operation, bool authenticate, EndpointFilterDelegate handler)
    {
        var http = invocation.HttpContext;
        var audit = new AuditDraft(RequestId(http), operation);
        Principal? caller = null;
        try
        {
            if (authenticate)
            {
                caller = await AuthenticateAsync(http, audit);
            }

            RequestContext.Of(http).Begin(audit, caller);
            try
            {
                return await HandleAsync(invocation, audit, caller, handler);
            }
            catch (StaleCachedReadException)
            {
                // Answered from a cached secret row that another node may have changed: nothing of that run was
                // written. Once more, reading the store (which cannot end this way again).
                audit.RestartAvoidingCachedRows();
                return await HandleAsync(invocation, audit, caller, handler);
            }
        }
        catch (Exception error) when (error is not OperationCanceledException || !http.RequestAborted.IsCancellationRequested)
        {
            var refusal = error as KeywardException ?? Unexpected(http, error);
            if (caller is not null && refusal.IsOutOfScope && !audit.Committed && _keys.State == SealState.Unsealed)
            {
                // Outside the token's rules: an anomaly, counted per agent (and possibly an automatic subtree lockdown).
                await _anomalies.OnDeniedAsync(caller, audit, refusal);
            }

            if (!audit.Committed && _keys.State == SealState.Unsealed)
            {
                audit.Failed(refusal);
                try
                {
                    await _committer.AuditAsync(audit);
                }
                catch (KeywardException auditFailure)
                {
                    return new ProblemResult(auditFailure);
                }
            }
            else if (!audit.Committed && caller is not null)
            {
                // Sealed while it ran: an authenticated request gets no answer without its durable record.
                refusal = KeywardErrors.Sealed();
            }

            if (refusal.Status >= 500 || refusal.IsDenial)
            {
                KeywardLog.RequestRefused(_logger, refusal.Status, refusal.Code, http.Request.Method, operation);
            }

            return new ProblemResult(refusal);
        }
    }

    /// <summary>
    /// Runs the handler and, unless it committed the record itself, commits the record of its success. An authenticated
    /// request whose record cannot be made durable — the server sealed while the handler ran — answers 503, never the
    /// handler's result. (An anonymous one — init, unseal — is audited only when keys exist.)
    /// </summary>
    private async ValueTask<object?> HandleAsync(EndpointFilterInvocationContext invocation, AuditDraft audit, Principal? caller, EndpointFilterDelegate handler)
    {
        var result = await handler(invocation);
        if (audit.Committed)
        {
            return result;
        }

        if (_keys.State != SealState.Unsealed)
        {
            return caller is null ? result : throw KeywardErrors.Sealed();
        }

        audit.SuccessStatus = StatusOf(result);
        audit.Succeeded();
        await _committer.AuditAsync(audit);
        return result;
    }

    /// <summary>The status a handler's result answers with (a <c>Results&lt;…&gt;</c> union by the result it holds); 200 if it does not say.</summary>
    private static int StatusOf(object? result) => result switch
    {
        IStatusCodeHttpResult { StatusCode: { } status } => status,
        INestedHttpResult nested => StatusOf(nested.Result),
        _ => StatusCodes.Status200OK,
    };

    private async Task<Principal> AuthenticateAsync(HttpContext http, AuditDraft audit)
    {
        var token = BearerToken(http.Request);
        try
        {
            var caller = await _tokens.AuthenticateAsync(token, http.RequestAborted);
            audit.Actor = caller.Actor;
            audit.TenantId = caller.Tenant?.Id;
            audit.Gate = caller.Gate;
            return caller;
        }
        catch (KeywardException)
        {
            if (token is not null && _keys.State == SealState.Unsealed)
            {
                if (await _tokens.FindAsync(token, http.RequestAborted) is { } known)
                {
                    // An expired or revoked token of a tenant: the attempt belongs in that tenant's audit log.
                    audit.Actor = known.ToActor();
                    audit.TenantId = known.TenantUid is { } uid ? (await _tenants.GetByUidAsync(uid, http.RequestAborted))?.Id : null;
                    _anomalies.OnRefusedToken(audit, known);
                }
                else
                {
                    // Never the token itself: a keyed hash lets attempts with one token be correlated.
                    audit.Actor = new AuditActor("unknown", TokenHmac: AuditChain.IdentifierHmac(_keys.Require().AuditIdentifiers, token));
                }
            }

            throw;
        }
    }

    /// <summary>Names who sent a refused request when its token is valid, so the tenant's admins see the attempt.</summary>
    private async Task AttributeAsync(RequestContext context)
    {
        try
        {
            await AuthenticateAsync(context.Http, context.Audit);
        }
        catch (KeywardException)
        {
            // Unattributed: recorded as anonymous or by token hash.
        }
    }

    /// <summary>The token from <c>Authorization: Bearer</c>, the only place one is accepted.</summary>
    public static string? BearerToken(HttpRequest request)
    {
        var headers = request.Headers.Authorization;
        if (headers.Count == 0)
        {
            return null;
        }

        if (headers.Count > 1)
        {
            throw KeywardErrors.InvalidToken();
        }

        var value = headers[0];
        const string Scheme = "Bearer ";
        if (value is null || !value.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            throw KeywardErrors.InvalidToken();
        }

        var token = value[Scheme.Length..].Trim();
        return token.Length == 0 ? null : token;
    }

    private KeywardException Unexpected(HttpContext http, Exception error)
    {
        if (error is ObjectDisposedException)
        {
            // Keys wiped by a concurrent seal — or, while unsealed, the key ring of a tenant offboarded meanwhile (its
            // tokens are revoked with it).
            return _keys.State == SealState.Unsealed ? KeywardErrors.TokenRevoked() : KeywardErrors.Sealed();
        }

        KeywardLog.UnhandledError(_logger, http.Request.Method, http.GetEndpoint()?.DisplayName ?? "unknown", RequestId(http), Scrub(error));
        return KeywardErrors.Internal();
    }

    /// <summary>Exceptions are logged by type and stack only: their messages may quote data.</summary>
    private static Exception Scrub(Exception error) => new RedactedException(error);

    private sealed class RedactedException(Exception inner) : Exception($"{inner.GetType().FullName} (message redacted)")
    {
        public override string? StackTrace { get; } = inner.StackTrace;
    }
}
