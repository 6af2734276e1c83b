using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Keyward.Server.Http;

/// <summary>
/// Documents a route's JSON body for the API description without making routing enforce a content type:
/// bodies are parsed as JSON whatever the Content-Type says (as Vault does), strictly, by <see cref="JsonBody"/>.
/// </summary>
public sealed record JsonBodyMetadata(Type BodyType);

public static class JsonBodyMetadataExtensions
{
    public static TBuilder WithJsonBody<T, TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.WithMetadata(new JsonBodyMetadata(typeof(T)));
        return builder;
    }

    public static RouteHandlerBuilder WithJsonBody<T>(this RouteHandlerBuilder builder) => builder.WithJsonBody<T, RouteHandlerBuilder>();

    /// <summary>Adds the documented bodies to the OpenAPI operations.</summary>
    public static OpenApiOptions AddJsonBodies(this OpenApiOptions options)
    {
        options.AddOperationTransformer(async (operation, context, cancellationToken) =>
        {
            var body = context.Description.ActionDescriptor.EndpointMetadata.OfType<JsonBodyMetadata>().FirstOrDefault();
            if (body is null)
            {
                return;
            }

            var schema = await context.GetOrCreateSchemaAsync(body.BodyType, null, cancellationToken);
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Content = new Dictionary<string, OpenApiMediaType> { ["application/json"] = new() { Schema = schema } },
            };
        });
        return options;
    }
}
