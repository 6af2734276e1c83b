using System.Text.RegularExpressions;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Server.Http;
using Keyward.Tests.Common;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests;

/// <summary>
/// No route ships unaudited: every endpoint the server maps names its audited operation or says why it is not audited
/// (a short list), an API route without either cannot be built, and a request to any audited route leaves exactly one
/// record naming that operation.
/// </summary>
public sealed partial class AuditedRoutesTests
{
    /// <summary>The routes deliberately not audited, each for a reason given where it is mapped.</summary>
    private static readonly string[] ExpectedUnaudited = ["GET /openapi/{documentName}.json", "GET /v1/sys/health"];

    private sealed record MappedRoute(string Method, string Pattern, AuditedOperation? Operation);

    [Fact]
    public async Task EndpointDataSource_EveryRoute_NamesItsAuditedOperationOrWhyItIsNot()
    {
        // Arrange
        await using var host = await KeywardTestHost.StartAsync();

        // Act
        var endpoints = host.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();

        // Assert
        Assert.True(endpoints.Count > 60, $"the endpoint data source should hold every route, found {endpoints.Count}");
        var unaudited = new List<string>();
        var names = new List<string>();
        foreach (var endpoint in endpoints)
        {
            var route = $"{string.Join(',', endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])} {endpoint.RoutePattern.RawText}";
            var operations = endpoint.Metadata.GetOrderedMetadata<AuditedOperation>();
            var reasons = endpoint.Metadata.GetOrderedMetadata<UnauditedEndpoint>();
            Assert.True(operations.Count + reasons.Count == 1, $"{route}: names {operations.Count} audited operations and {reasons.Count} reasons not to audit");
            if (reasons.Count == 1)
            {
                Assert.False(string.IsNullOrWhiteSpace(reasons[0].Reason), route);
                unaudited.Add(route);
            }
            else if (operations[0].Name is { } name)
            {
                Assert.Matches(OperationName(), name);
                names.Add(name);
            }
        }

        Assert.Equal(ExpectedUnaudited, unaudited.Order(StringComparer.Ordinal));
        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public async Task RequireAuditing_RouteWithoutAuditMetadata_CannotBeBuilt()
    {
        // Arrange: an API group as the server maps it, with one route that says why it is not audited and one that forgot
        var builder = WebApplication.CreateSlimBuilder();
        await using var app = builder.Build();
        var v1 = app.MapGroup("/v1").RequireAuditing();
        v1.MapGet("/public", () => TypedResults.NoContent()).Unaudited("a probe");
        v1.MapGet("/forgotten", () => TypedResults.NoContent());

        // Act
        var refusal = Assert.Throws<InvalidOperationException>(() => ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).ToList());

        // Assert
        Assert.Contains("/v1/forgotten", refusal.Message, StringComparison.Ordinal);
        Assert.Contains(".Audited", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequireAuditing_EveryRouteMarked_Builds()
    {
        // Arrange
        var builder = WebApplication.CreateSlimBuilder();
        await using var app = builder.Build();
        var v1 = app.MapGroup("/v1").RequireAuditing();
        v1.MapGet("/public", () => TypedResults.NoContent()).Unaudited("a probe");

        // Act
        var endpoints = ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).ToList();

        // Assert
        Assert.Equal("/v1/public", Assert.IsType<RouteEndpoint>(Assert.Single(endpoints)).RoutePattern.RawText);
    }

    [Fact]
    public async Task EveryAuditedRoute_RefusedRequest_LeavesExactlyOneRecordNamingItsOperation()
    {
        // Arrange: every audited route and method, asked without a token (anonymous operations refuse the empty body)
        await using var host = await KeywardTestHost.StartAsync();
        var routes = MappedRoutes(host).Where(r => r.Operation is not null).ToList();
        var audit = new AuditLog(host);
        var sent = new List<(MappedRoute Route, string Expected, RawResponse Response)>();

        // Act
        foreach (var route in routes)
        {
            var (target, expected) = Fill(route);
            var response = await host.SendAsync(new RawRequest(route.Method, target));
            sent.Add((route, expected, response));
        }

        // Assert
        Assert.True(sent.Count > 60, $"only {sent.Count} audited routes");
        foreach (var (route, expected, response) in sent)
        {
            Assert.True(response.IsProblem && response.Status is >= 400 and < 500, $"{route.Method} {route.Pattern}: {response}");
            var record = await audit.SingleAsync(response.RequestId);
            Assert.Equal(expected, record.GetProperty("operation").GetString());
            Assert.Equal(response.Status, record.GetProperty("status").GetInt32());
            Assert.Equal(response.ProblemCode, record.GetProperty("code").GetString());
        }
    }

    private static List<MappedRoute> MappedRoutes(KeywardTestHost host)
    {
        var routes = new List<MappedRoute>();
        foreach (var endpoint in host.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            foreach (var method in endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])
            {
                routes.Add(new MappedRoute(method, endpoint.RoutePattern.RawText!, endpoint.Metadata.GetMetadata<AuditedOperation>()));
            }
        }

        return routes;
    }

    /// <summary>A concrete target for the route, and the operation its record should name.</summary>
    private static (string Target, string Operation) Fill(MappedRoute route)
    {
        var target = route.Pattern
            .Replace("{id}", "acme", StringComparison.Ordinal)
            .Replace("{name}", "reader", StringComparison.Ordinal)
            .Replace("{jobId}", "job", StringComparison.Ordinal)
            .Replace("{runId}", "run-1", StringComparison.Ordinal)
            .Replace("{role}", "ro", StringComparison.Ordinal)
            .Replace("{integration}", "probe", StringComparison.Ordinal)
            .Replace("{**path}", route.Method == "POST" ? "app/probe/undelete" : "app/probe", StringComparison.Ordinal);
        Assert.DoesNotContain("{", target, StringComparison.Ordinal);
        return (target, route.Operation!.Name ?? "secret.undelete");
    }

    [GeneratedRegex(@"^[a-z_]+(\.[a-z_]+)+$")]
    private static partial Regex OperationName();
}
