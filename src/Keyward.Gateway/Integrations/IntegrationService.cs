using Keyward.Core.Audit;
using Keyward.Core.Engines;
using Keyward.Core.Errors;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;
using Keyward.Core.Validation;
using Keyward.Gateway.Egress;

namespace Keyward.Gateway.Integrations;

/// <summary>
/// <c>/v1/integrations</c>: a tenant admin's upstream registrations. Stored in the tenant's configuration rows under the
/// engine name <see cref="EngineName"/> (no sealed fields: the credential stays a secret at <c>secret_path</c>), written
/// with the audit record in one transaction, versioned so that two concurrent writers cannot both win.
/// </summary>
public sealed class IntegrationService
{
    /// <summary>The configuration rows' engine name for integrations.</summary>
    public const string EngineName = "gateway";

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly UpstreamAddresses _addresses;
    private readonly TimeProvider _time;

    public IntegrationService(IKeywardStore store, GroupCommitter committer, UpstreamAddresses addresses, TimeProvider time)
    {
        _store = store;
        _committer = committer;
        _addresses = addresses;
        _time = time;
    }

    public static string AuditPath(string name) => "integrations/" + name;

    public async Task<IntegrationView> PutAsync(Principal caller, Integration integration, AuditDraft audit)
    {
        var tenant = caller.RequireAdmin();
        audit.Path = AuditPath(integration.Name);
        var now = _time.GetUtcNow();
        EngineConfig? written = null;
        await _committer.ExecuteAsync(audit, async session =>
        {
            var current = await session.Engines.GetAsync(tenant.Uid, EngineName, integration.Name, "");
            written = new EngineConfig(
                tenant.Uid, EngineName, integration.Name, "", integration.ToJson(), 0, null,
                (current?.Version ?? 0) + 1, current?.CreatedAt ?? now, now);
            audit.Version = written.Version;
            await session.Engines.UpsertAsync(written);
        });
        return View(written!);
    }

    public async Task<IntegrationView> GetAsync(Principal caller, string? name, AuditDraft audit, CancellationToken cancellationToken)
    {
        var tenant = caller.RequireAdmin();
        name = Names.RequireName("Integration name", name);
        audit.Path = AuditPath(name);
        return View(await FindAsync(tenant.Uid, name, cancellationToken) ?? throw KeywardErrors.IntegrationNotFound(name));
    }

    public async Task<IReadOnlyList<IntegrationView>> ListAsync(Principal caller, CancellationToken cancellationToken)
    {
        var tenant = caller.RequireAdmin();
        await using var session = await _store.ReadAsync(cancellationToken);
        var configs = await session.Engines.ListAsync(tenant.Uid, EngineName, null, cancellationToken);
        return [.. configs.Select(View)];
    }

    public async Task DeleteAsync(Principal caller, string? name, AuditDraft audit)
    {
        var tenant = caller.RequireAdmin();
        name = Names.RequireName("Integration name", name);
        audit.Path = AuditPath(name);
        await _committer.ExecuteAsync(audit, async session =>
        {
            if (await session.Engines.DeleteAsync(tenant.Uid, EngineName, name, null) == 0)
            {
                throw KeywardErrors.IntegrationNotFound(name);
            }
        });
    }

    /// <summary>The integration the gateway forwards through (any tenant token may be the caller; rights are checked on its secret).</summary>
    public async Task<Integration> ResolveAsync(string tenantUid, string name, CancellationToken cancellationToken) =>
        (await ResolveVersionAsync(tenantUid, name, cancellationToken)).Integration;

    /// <summary>The integration and the version of its row (every write moves it): a call in flight runs only while it stays.</summary>
    public async Task<(Integration Integration, long Version)> ResolveVersionAsync(string tenantUid, string name, CancellationToken cancellationToken)
    {
        var config = await FindAsync(tenantUid, name, cancellationToken) ?? throw KeywardErrors.IntegrationNotFound(name);
        return (Integration.FromJson(config.Settings), config.Version);
    }

    /// <summary>The current version of an integration's row, read from the store (null once deleted).</summary>
    public async Task<long?> VersionAsync(string tenantUid, string name, CancellationToken cancellationToken) =>
        (await FindAsync(tenantUid, name, cancellationToken))?.Version;

    /// <summary>Validates a request body's fields (with this server's address rules).</summary>
    public Integration Validate(
        string? name, string? upstream, string? secretPath, string? secretField, string? injectKind, string? injectName,
        IReadOnlyList<(IReadOnlyList<string>? Methods, string? Path)>? allow, bool? allowInsecureLoopback, int? perAgentRps, long? runBudget) =>
        Integration.Create(name, upstream, secretPath, secretField, injectKind, injectName, allow, allowInsecureLoopback, perAgentRps, runBudget, _addresses);

    private async Task<EngineConfig?> FindAsync(string tenantUid, string name, CancellationToken cancellationToken)
    {
        await using var session = await _store.ReadAsync(cancellationToken);
        return await session.Engines.GetAsync(tenantUid, EngineName, name, "", cancellationToken);
    }

    private static IntegrationView View(EngineConfig config) =>
        Integration.FromJson(config.Settings).ToView() with { Version = config.Version, CreatedAt = config.CreatedAt, UpdatedAt = config.UpdatedAt };
}
