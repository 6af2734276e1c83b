using Keyward.Core.Agents;
using Keyward.Core.Audit;
using Keyward.Core.Leases;
using Keyward.Core.Auth.Jwt;
using Keyward.Core.Policies;
using Keyward.Core.Rotation;
using Keyward.Core.Seal;
using Keyward.Core.Secrets;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Keyward.Core;

public static class KeywardCoreServiceCollectionExtensions
{
    /// <summary>The domain services. A storage engine (an <see cref="IKeywardStore"/>) must be added too.</summary>
    public static IServiceCollection AddKeywardCore(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<KeyHierarchy>();
        services.AddSingleton<GroupCommitter>();
        services.AddSingleton<TenantDirectory>();
        services.AddSingleton<TokenService>();
        services.AddSingleton<TenantKeyRings>();
        services.AddSingleton<SecretRowCache>();

        // The caches the group committer drops around the commit of a change of what they hold.
        services.AddSingleton<IStoreCache>(sp => sp.GetRequiredService<TokenService>());
        services.AddSingleton<IStoreCache>(sp => sp.GetRequiredService<TenantDirectory>());
        services.AddSingleton<IStoreCache>(sp => sp.GetRequiredService<TenantKeyRings>());
        services.AddSingleton<IStoreCache>(sp => sp.GetRequiredService<SecretRowCache>());
        services.AddSingleton<RewrapJobs>();
        services.AddSingleton<TenantService>();
        services.AddSingleton<SecretService>();
        services.AddSingleton<PromotionGuards>();
        services.AddSingleton<RotationService>();
        services.AddSingleton<ExposureRotation>();
        services.AddSingleton<RotationScheduler>();
        services.AddSingleton<RoleService>();
        services.AddSingleton<AuditService>();
        services.AddSingleton<SealService>();
        services.AddSingleton<LeaseEngines>();
        services.AddSingleton<LockdownRevocations>();
        services.AddSingleton<TokenTree>();
        services.AddSingleton<AgentService>();
        services.AddSingleton<LeaseService>();
        services.AddSingleton<Anomalies>();
        services.AddSingleton<Sweeper>();
        services.AddSingleton<Events.EventStream>();
        services.AddSingleton<NodeCoherence>();
        services.AddSingleton<StoreProbe>();
        services.AddSingleton<JwtValidator>();
        services.AddSingleton<JwtIssuerService>();
        services.AddSingleton<JwtLoginService>();
        services.AddSingleton<Wrapping.WrappingService>();
        return services;
    }
}
