using Keyward.Core.Errors;

namespace Keyward.Server.Http;

/// <summary>
/// Endpoint metadata: the operation a route's audit record names, and whether its caller authenticates with a bearer
/// token first. The audit filter (<see cref="AuditingConventions.RequireAuditing"/>) reads it when the endpoint is built.
/// </summary>
public sealed class AuditedOperation
{
    private readonly Func<HttpContext, string>? _choose;

    private AuditedOperation(string? name, Func<HttpContext, string>? choose, bool anonymous)
    {
        Name = name;
        _choose = choose;
        Anonymous = anonymous;
    }

    /// <summary>The operation, or null when the request chooses it (<see cref="ChosenPerRequest"/>).</summary>
    public string? Name { get; }

    /// <summary>The credential is not a bearer token (init, unseal, exchange, JWT login, unwrap): nothing is authenticated first.</summary>
    public bool Anonymous { get; }

    /// <summary>An operation of an authenticated caller.</summary>
    public static AuditedOperation Authenticated(string name) => new(name, choose: null, anonymous: false);

    /// <summary>An operation whose credential is not a token: audited once keys exist.</summary>
    public static AuditedOperation WithoutToken(string name) => new(name, choose: null, anonymous: true);

    /// <summary>
    /// An authenticated operation named from the request (<c>POST /v1/secrets/{path}/undelete</c>). A
    /// <see cref="KeywardException"/> from <paramref name="choose"/> refuses the request before authentication, audited as
    /// <c>request.rejected</c> like a request that matched no route.
    /// </summary>
    public static AuditedOperation ChosenPerRequest(Func<HttpContext, string> choose) => new(name: null, choose, anonymous: false);

    public string NameFor(HttpContext http) => Name ?? _choose!(http);
}

/// <summary>Endpoint metadata: a route that is deliberately not audited, and why (the list is short: health and the API description).</summary>
public sealed record UnauditedEndpoint(string Reason);

/// <summary>Marks a route whose response may be wrapped (<see cref="ResponseWrapping.Header"/>); every other route refuses the header.</summary>
public sealed class WrappableMetadata
{
    public static readonly WrappableMetadata Instance = new();

    private WrappableMetadata()
    {
    }
}

/// <summary>
/// How routes are audited, by construction: <see cref="RequireAuditing"/> puts the audit filter on every endpoint of a
/// group; each endpoint names its operation (<see cref="Audited(RouteHandlerBuilder, string)"/>,
/// <see cref="AuditedAnonymously"/>) or says why it is not audited (<see cref="Unaudited{TBuilder}"/>). An endpoint of the
/// group with neither cannot be built: the server fails on its first request, and a test fails at start-up.
/// </summary>
public static class AuditingConventions
{
    /// <summary>The audit filter on every endpoint of the group: authentication, the audit record, refusals as problems.</summary>
    public static RouteGroupBuilder RequireAuditing(this RouteGroupBuilder group)
    {
        ArgumentNullException.ThrowIfNull(group);

        // A group convention runs before the endpoint's own, but the filter factory it adds runs after them (when the
        // request delegate is built): by then the endpoint's metadata says how it is audited.
        ((IEndpointConventionBuilder)group).Add(endpoint => endpoint.FilterFactories.Add((factory, next) =>
        {
            if (endpoint.Metadata.OfType<AuditedOperation>().LastOrDefault() is { } operation)
            {
                var audited = factory.ApplicationServices.GetRequiredService<Audited>();
                return invocation => audited.InvokeAsync(operation, invocation, next);
            }

            return endpoint.Metadata.OfType<UnauditedEndpoint>().Any()
                ? next
                : throw new InvalidOperationException(
                    $"{endpoint.DisplayName}: every API route names its audited operation (.Audited, .AuditedAnonymously) or says why it is not audited (.Unaudited).");
        }));
        return group;
    }

    /// <summary>An authenticated operation, audited under <paramref name="operation"/>.</summary>
    public static RouteHandlerBuilder Audited(this RouteHandlerBuilder builder, string operation) =>
        builder.WithMetadata(AuditedOperation.Authenticated(operation));

    /// <summary>An authenticated operation named from the request (see <see cref="AuditedOperation.ChosenPerRequest"/>).</summary>
    public static RouteHandlerBuilder Audited(this RouteHandlerBuilder builder, Func<HttpContext, string> operation) =>
        builder.WithMetadata(AuditedOperation.ChosenPerRequest(operation));

    /// <summary>An operation whose credential is not a bearer token, audited under <paramref name="operation"/>.</summary>
    public static RouteHandlerBuilder AuditedAnonymously(this RouteHandlerBuilder builder, string operation) =>
        builder.WithMetadata(AuditedOperation.WithoutToken(operation));

    /// <summary>A route that is deliberately not audited; <paramref name="reason"/> says why.</summary>
    public static TBuilder Unaudited<TBuilder>(this TBuilder builder, string reason)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new UnauditedEndpoint(reason));

    /// <summary>Lets a route's response be wrapped with <see cref="ResponseWrapping.Header"/>: the wrapping filter, inside the audit filter.</summary>
    public static RouteHandlerBuilder Wrappable(this RouteHandlerBuilder builder)
    {
        builder.WithMetadata(WrappableMetadata.Instance);
        return builder.AddEndpointFilterFactory((factory, next) =>
        {
            var wrapping = factory.ApplicationServices.GetRequiredService<ResponseWrapping>();
            return invocation => wrapping.InvokeAsync(invocation, next);
        });
    }
}
