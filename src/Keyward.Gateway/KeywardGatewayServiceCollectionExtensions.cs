using Keyward.Core.Rotation;
using Keyward.Gateway.Budgets;
using Keyward.Gateway.Egress;
using Keyward.Gateway.Forwarding;
using Keyward.Gateway.Integrations;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Gateway;

public static class KeywardGatewayServiceCollectionExtensions
{
    /// <summary>The gateway's services, reaching upstreams under <paramref name="addresses"/> (the operator's address rules).</summary>
    public static IServiceCollection AddKeywardGateway(this IServiceCollection services, UpstreamAddresses addresses)
    {
        services.AddSingleton(addresses);
        services.AddSingleton<UpstreamHandlers>();
        services.AddSingleton<IntegrationService>();
        services.AddSingleton<RunBudgets>();
        services.AddSingleton<AgentRateLimits>();
        services.AddSingleton<InFlightCalls>();
        services.AddSingleton<GatewayForwarder>();
        services.AddSingleton<IPromotionVerifier, RotationVerifier>();
        return services;
    }
}
