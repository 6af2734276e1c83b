using System.Text.Json;
using System.Text.RegularExpressions;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests;

/// <summary>
/// The OpenAPI description (<c>GET /openapi/v1.json</c>) against what the server really maps and parses: every route
/// and method the app's endpoint data source holds is documented (and nothing else is), every PUT or POST route that
/// reads a JSON body documents one, and every documented body property is one the server's strict parser knows.
/// </summary>
public sealed partial class OpenApiTests
{
    private const string ProbeField = "zz_probe_field";

    private sealed record MappedRoute(string Pattern, string Method, string DocumentPath);

    [Fact]
    public async Task OpenApiDocument_EveryMappedRoute_ListedWithItsMethods()
    {
        // Arrange
        await using var host = await KeywardTestHost.StartAsync();
        var mapped = MappedRoutes(host, out var hidden);

        // Act
        var document = await DocumentAsync(host);

        // Assert
        var documented = document.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Where(o => IsHttpMethod(o.Name)).Select(o => $"{o.Name.ToUpperInvariant()} {p.Name}"))
            .Order(StringComparer.Ordinal).ToList();
        var expected = mapped.Select(r => $"{r.Method} {r.DocumentPath}").Order(StringComparer.Ordinal).ToList();
        Assert.True(mapped.Count > 20, $"the endpoint data source should hold every route, found {mapped.Count}");
        Assert.Equal(expected, documented);
        Assert.Equal(["/openapi/{documentName}.json"], hidden);
    }

    [Fact]
    public async Task OpenApiDocument_PutAndPostRoutesThatReadABody_DocumentAJsonObjectBody()
    {
        // Arrange
        await using var host = await KeywardTestHost.StartAsync();
        var world = await Agents.AgentWorld.CreateAsync(host, "acme");
        var admin = world.Admin;
        var agent = (await world.StartAgentAsync("probe", "run-1")).Token;
        var wrapping = await WrappingTokenAsync(host, admin);
        var document = await DocumentAsync(host);
        var writes = MappedRoutes(host, out _).Where(r => r.Method is "PUT" or "POST")
            .OrderBy(r => r.Pattern is "/v1/sys/seal" ? 1 : r.Pattern is "/v1/sys/root-token/revoke" ? 2 : 0).ToList();
        var readsBody = new Dictionary<MappedRoute, bool>();

        // Act: a route that reads its body refuses a field it does not know; one that reads none ignores it.
        foreach (var route in writes)
        {
            var response = await host.SendAsync(new RawRequest(route.Method, Fill(route))
            {
                Authorization = route.Pattern switch
                {
                    "/v1/auth/revoke-self" => [RawRequest.Bearer(agent)],
                    "/v1/wrapping/unwrap" => [RawRequest.Bearer(wrapping)], // its credential is a wrapping token, nothing else
                    _ => TokenFor(route, admin),
                },
                Body = $$"""{"{{ProbeField}}":1}""",
            });
            Assert.True(response.Status < 500 && response.Status is not (401 or 403), $"{route.Method} {route.Pattern}: {response}");
            readsBody[route] = response.Status == 400 && response.ProblemCode == "unknown_field";
            if (route.Pattern == "/v1/sys/seal" && response.Status == 204)
            {
                await UnsealAsync(host);
            }
        }

        // Assert
        Assert.Contains(readsBody, r => r.Value);
        Assert.Contains(readsBody, r => !r.Value);
        foreach (var (route, takesBody) in readsBody)
        {
            var operation = document.GetProperty("paths").GetProperty(route.DocumentPath).GetProperty(route.Method.ToLowerInvariant());
            var documentedBody = operation.TryGetProperty("requestBody", out var body);
            Assert.True(takesBody == documentedBody, $"{route.Method} {route.Pattern}: reads a body {takesBody}, documents one {documentedBody}");
            if (takesBody)
            {
                var schema = body.GetProperty("content").GetProperty("application/json").GetProperty("schema");
                schema = Resolve(document, schema);
                Assert.Equal("object", schema.GetProperty("type").GetString());
                Assert.NotEmpty(schema.GetProperty("properties").EnumerateObject());
                Assert.True(
                    schema.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind == JsonValueKind.False,
                    $"{route.Method} {route.Pattern}: the server refuses unknown fields, so the schema should say additionalProperties: false");
            }
        }
    }

    [Fact]
    public async Task OpenApiDocument_EveryDocumentedBodyProperty_KnownToTheServer()
    {
        // Arrange
        await using var host = await KeywardTestHost.StartAsync();
        var admin = await host.CreateTenantAsync("acme");
        var document = await DocumentAsync(host);
        var checkedProperties = 0;

        foreach (var route in MappedRoutes(host, out _).Where(r => r.Pattern is not ("/v1/sys/seal" or "/v1/sys/root-token/revoke")))
        {
            var operation = document.GetProperty("paths").GetProperty(route.DocumentPath).GetProperty(route.Method.ToLowerInvariant());
            if (!operation.TryGetProperty("requestBody", out var body))
            {
                continue;
            }

            var schema = Resolve(document, body.GetProperty("content").GetProperty("application/json").GetProperty("schema"));
            foreach (var property in schema.GetProperty("properties").EnumerateObject())
            {
                // Act: the property alone, null, must get past the unknown-field check (it may fail later, on purpose).
                var response = await host.SendAsync(new RawRequest(route.Method, Fill(route))
                {
                    Authorization = TokenFor(route, admin),
                    Body = $$"""{"{{property.Name}}":null}""",
                });

                // Assert
                Assert.True(response.Status < 500, $"{route.Method} {route.Pattern} {property.Name}: {response}");
                Assert.True(response.ProblemCode != "unknown_field", $"{route.Method} {route.Pattern} documents '{property.Name}' but refuses it: {response}");
                Assert.Matches(SnakeCase(), property.Name);
                checkedProperties++;
            }
        }

        Assert.True(checkedProperties >= 15, $"only {checkedProperties} documented body properties");
    }

    private static List<MappedRoute> MappedRoutes(KeywardTestHost host, out List<string> hidden)
    {
        var routes = new List<MappedRoute>();
        hidden = [];
        foreach (var endpoint in host.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            var pattern = endpoint.RoutePattern.RawText!;
            if (endpoint.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is { ExcludeFromDescription: true })
            {
                hidden.Add(pattern);
                continue;
            }

            var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [];
            Assert.NotEmpty(methods);
            foreach (var method in methods)
            {
                routes.Add(new MappedRoute(pattern, method, DocumentPath(pattern)));
            }
        }

        return routes;
    }

    /// <summary>How a route pattern reads as an OpenAPI path: catch-alls as plain parameters, no trailing slash.</summary>
    private static string DocumentPath(string pattern)
    {
        var path = CatchAll().Replace(pattern, "{$1}");
        return path.Length > 1 ? path.TrimEnd('/') : path;
    }

    private static string Fill(MappedRoute route)
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
        return target;
    }

    private static IReadOnlyList<string> TokenFor(MappedRoute route, string admin) => route.Pattern switch
    {
        "/v1/sys/init" or "/v1/sys/unseal" or "/v1/sys/generate-root" or "/v1/sys/health" => [],
        _ when route.Pattern.StartsWith("/v1/sys/", StringComparison.Ordinal) || route.Pattern.StartsWith("/v1/tenants", StringComparison.Ordinal) =>
            [RawRequest.Bearer(KeywardTestHost.RootToken)],
        _ => [RawRequest.Bearer(admin)],
    };

    /// <summary>A wrapping token from a wrapped read of a secret written for it.</summary>
    private static async Task<string> WrappingTokenAsync(KeywardTestHost host, string admin)
    {
        await host.PutSecretAsync(admin, "app/wrapped", new { k = "v" });
        using var client = host.Client(admin);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/secrets/app/wrapped");
        request.Headers.Add("X-Keyward-Wrap-TTL", "5m");
        var body = await Problems.JsonAsync(await client.SendAsync(request));
        return body.GetProperty("wrap_info").GetProperty("token").GetString()!;
    }

    private static async Task UnsealAsync(KeywardTestHost host)
    {
        using var client = host.Client(token: null);
        foreach (var key in Operator.DevUnsealKeys(host))
        {
            await Problems.JsonAsync(await client.PostAsync("/v1/sys/unseal", new StringContent(JsonSerializer.Serialize(new { key }))));
        }
    }

    private static async Task<JsonElement> DocumentAsync(KeywardTestHost host)
    {
        using var client = host.Client(token: null);
        return await Problems.JsonAsync(await client.GetAsync("/openapi/v1.json"));
    }

    private static JsonElement Resolve(JsonElement document, JsonElement schema)
    {
        while (schema.TryGetProperty("$ref", out var reference))
        {
            var name = reference.GetString()!;
            const string Prefix = "#/components/schemas/";
            Assert.StartsWith(Prefix, name, StringComparison.Ordinal);
            schema = document.GetProperty("components").GetProperty("schemas").GetProperty(name[Prefix.Length..]);
        }

        return schema;
    }

    private static bool IsHttpMethod(string name) => name is "get" or "put" or "post" or "delete" or "patch" or "head" or "options";

    [GeneratedRegex(@"\{\*\*?([A-Za-z0-9_]+)\}")]
    private static partial Regex CatchAll();

    [GeneratedRegex("^[a-z][a-z0-9_]*$")]
    private static partial Regex SnakeCase();
}
