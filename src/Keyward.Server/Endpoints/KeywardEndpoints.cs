using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

/// <summary>Every route of the server: the API under <c>/v1</c>, audited by construction, and its description.</summary>
public static class KeywardEndpoints
{
    public static IEndpointRouteBuilder MapKeywardEndpoints(this IEndpointRouteBuilder app)
    {
        // Every endpoint of the group runs through the audit filter, and cannot be built without saying how it is audited.
        var v1 = app.MapGroup("/v1").RequireAuditing();
        v1.MapSysEndpoints();
        v1.MapTenantEndpoints();
        v1.MapRoleEndpoints();
        v1.MapSecretEndpoints();
        v1.MapAuditEndpoints();
        v1.MapAgentEndpoints();
        v1.MapLeaseEndpoints();
        v1.MapSettingsEndpoints();
        v1.MapEventEndpoints();
        v1.MapJwtAuthEndpoints();
        v1.MapPostgresEngineEndpoints();
        v1.MapWrappingEndpoints();
        v1.MapIntegrationEndpoints();
        v1.MapGatewayEndpoints();
        app.MapOpenApi().Unaudited("The API description: the same public document for every caller, no credential, no tenant data.");
        return app;
    }
}
