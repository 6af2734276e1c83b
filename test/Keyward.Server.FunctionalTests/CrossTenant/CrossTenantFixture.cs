using System.Net;
using System.Security.Cryptography;
using System.Text;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.CrossTenant;

/// <summary>
/// One server, shared by the attack catalogue: tenants <c>acme</c> and <c>globex</c> with same-named secrets, metadata
/// and roles holding different canaries, plus paths only one of them has; admin and orchestrator tokens for both;
/// expired tokens of both (minted with ttl 1m on a manual clock that then moves 2m). The attacks never succeed in
/// changing anything, so they can share it; on dispose the fixture checks that both tenants are exactly as seeded.
/// </summary>
public sealed class CrossTenantFixture : IAsyncLifetime
{
    private static readonly string[] MarkerLabels = ["meta", "role", "shared-role"];

    private readonly Dictionary<string, string> _canaries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _baseline = new(StringComparer.Ordinal);

    public ManualTimeProvider Clock { get; } = new();

    public KeywardTestHost Host { get; private set; } = null!;

    public AuditLog Audit { get; private set; } = null!;

    public Dictionary<string, MintedToken> Admin { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, MintedToken> Orchestrator { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, string> ExpiredAdmin { get; } = new(StringComparer.Ordinal);

    /// <summary>Accessors of the expired tokens, which audit records of attempts made with them name.</summary>
    public Dictionary<string, string> ExpiredAccessors { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, string> ExpiredOrchestrator { get; } = new(StringComparer.Ordinal);

    /// <summary>Never-minted but well-formed tokens.</summary>
    public string UnknownAdmin { get; } = "kwa_" + RandomPart();

    public string UnknownAgent { get; } = "kws_" + RandomPart();

    public static IReadOnlyList<string> Tenants { get; } = [CrossTenantAttacks.Acme, CrossTenantAttacks.Globex];

    /// <summary>A tenant's canary for a label (<c>db</c>, <c>more1</c>, <c>meta</c>, ...).</summary>
    public string Canary(string tenant, string label) => _canaries[tenant + ":" + label];

    /// <summary>Every canary and marker of a tenant: values, custom metadata and role rules.</summary>
    public IEnumerable<string> CanariesOf(string tenant) =>
        _canaries.Where(c => c.Key.StartsWith(tenant + ":", StringComparison.Ordinal)).Select(c => c.Value);

    /// <summary>The canaries inside a tenant's secret values (not its metadata or role markers).</summary>
    public IEnumerable<string> SecretCanariesOf(string tenant) =>
        _canaries.Where(c => c.Key.StartsWith(tenant + ":", StringComparison.Ordinal) && !MarkerLabels.Contains(c.Key[(tenant.Length + 1)..]))
            .Select(c => c.Value);

    /// <summary>Plaintext markers a tenant's admin legitimately sees in metadata and role documents.</summary>
    public IEnumerable<string> MarkersOf(string tenant) => MarkerLabels.Select(l => Canary(tenant, l));

    public async Task InitializeAsync()
    {
        Host = await KeywardTestHost.StartAsync(services: s => s.AddSingleton<TimeProvider>(Clock));
        Audit = new AuditLog(Host);
        foreach (var tenant in Tenants)
        {
            await Operator.CreateTenantAsync(Host, tenant);
            Admin[tenant] = await Operator.MintAsync(Host, tenant, "admin");
            Orchestrator[tenant] = await Operator.MintAsync(Host, tenant, "orchestrator");
        }

        foreach (var tenant in Tenants)
        {
            await SeedAsync(tenant, Tenants.Single(t => t != tenant));
        }

        foreach (var tenant in Tenants)
        {
            var expiredAdmin = await Operator.MintAsync(Host, tenant, "admin", "1m");
            var expiredOrchestrator = await Operator.MintAsync(Host, tenant, "orchestrator", "1m");
            ExpiredAdmin[tenant] = expiredAdmin.Token;
            ExpiredOrchestrator[tenant] = expiredOrchestrator.Token;
            ExpiredAccessors[expiredAdmin.Token] = expiredAdmin.Accessor;
            ExpiredAccessors[expiredOrchestrator.Token] = expiredOrchestrator.Accessor;

            // Both work before they expire, so the 401 the attacks get is the expiry and nothing else.
            using var admin = Host.Client(ExpiredAdmin[tenant]);
            await Problems.JsonAsync(await admin.GetAsync("/v1/secrets/shared/db"));
            using var orchestrator = Host.Client(ExpiredOrchestrator[tenant]);
            await Problems.JsonAsync(await orchestrator.GetAsync("/v1/secrets"));
        }

        Clock.Advance(TimeSpan.FromMinutes(2));
        foreach (var tenant in Tenants)
        {
            _baseline[tenant] = await TenantStateAsync(tenant);
        }
    }

    /// <summary>
    /// The same layout in both tenants, different values: <c>shared/db</c> (one version), <c>shared/{t}-more</c>
    /// (three versions, the first soft-deleted), <c>shared/{other}-more</c> (one version), <c>{t}-only/key</c>,
    /// custom metadata on <c>shared/db</c>, roles <c>{t}-role</c> and <c>shared-role</c>.
    /// </summary>
    private async Task SeedAsync(string tenant, string other)
    {
        string C(string label) => _canaries[tenant + ":" + label] = Operator.Canary(tenant + "-" + label);
        var admin = Admin[tenant].Token;
        await Operator.PutAsync(Host, admin, "shared/db", new { password = C("db") });
        await Operator.PutAsync(Host, admin, $"shared/{tenant}-more", new { n = C("more1") });
        await Operator.PutAsync(Host, admin, $"shared/{tenant}-more", new { n = C("more2"), nested = new { deep = new { value = C("more2-nested") } } });
        await Operator.PutAsync(Host, admin, $"shared/{tenant}-more", new { n = C("more3"), list = new[] { C("more3-array") } });
        await Operator.SendOkAsync(Host, admin, HttpMethod.Delete, $"/v1/secrets/shared/{tenant}-more?versions=1");
        await Operator.PutAsync(Host, admin, $"shared/{other}-more", new { n = C("other-more") });
        await Operator.PutAsync(Host, admin, $"{tenant}-only/key", new { token = C("only") });
        await Operator.SendOkAsync(Host, admin, HttpMethod.Put, "/v1/secret-metadata/shared/db", new { custom_metadata = new Dictionary<string, string> { ["owner"] = C("meta") } });
        await Operator.SendOkAsync(Host, admin, HttpMethod.Put, $"/v1/roles/{tenant}-role", new
        {
            rules = new[] { new { path = C("role") + "/**", capabilities = new[] { "read" } } },
            max_ttl = "1h",
        });
        await Operator.SendOkAsync(Host, admin, HttpMethod.Put, "/v1/roles/shared-role", new
        {
            rules = new[] { new { path = C("shared-role") + "/*", capabilities = new[] { "list" } } },
            max_ttl = "1h",
        });
    }

    public Task<string> TenantStateAsync(string tenant) =>
        Operator.TenantStateAsync(Host, Admin[tenant].Token, CrossTenantAttacks.TrackedPaths);

    /// <summary>What an attack could have changed: its state path and/or the roles, in both tenants.</summary>
    public async Task<string> StateAsync(Attack attack)
    {
        var text = new StringBuilder();
        foreach (var tenant in Tenants)
        {
            if (attack.StatePath is { } path)
            {
                text.Append(tenant).Append(' ').Append(await Operator.SecretStateAsync(Host, Admin[tenant].Token, path));
            }

            if (attack.StateRoles)
            {
                text.Append(tenant).Append(' ').Append(await Operator.RolesStateAsync(Host, Admin[tenant].Token));
            }
        }

        return text.ToString();
    }

    /// <summary>The Authorization header values an attack presents.</summary>
    public IReadOnlyList<string> Authorization(Attack attack)
    {
        ArgumentNullException.ThrowIfNull(attack);
        var victimAdmin = Admin[attack.Victim].Token;
        return attack.Who switch
        {
            Who.Admin => [RawRequest.Bearer(Admin[attack.Attacker].Token)],
            Who.Orchestrator => [RawRequest.Bearer(Orchestrator[attack.Attacker].Token)],
            Who.Root => [RawRequest.Bearer(KeywardTestHost.RootToken)],
            Who.None => [],
            Who.ExpiredVictimAdmin => [RawRequest.Bearer(ExpiredAdmin[attack.Victim])],
            Who.ExpiredVictimOrchestrator => [RawRequest.Bearer(ExpiredOrchestrator[attack.Victim])],
            Who.Garbage => ["Bearer not-a-token"],
            Who.UnknownAdminShaped => [RawRequest.Bearer(UnknownAdmin)],
            Who.UnknownAgentShaped => [RawRequest.Bearer(UnknownAgent)],
            Who.VictimReprefixed => [RawRequest.Bearer("kwo_" + victimAdmin[4..])],
            Who.VictimTruncated => [RawRequest.Bearer(victimAdmin[..^1])],
            Who.VictimAppended => [RawRequest.Bearer(victimAdmin + "A")],
            Who.VictimCaseFlipped => [RawRequest.Bearer(victimAdmin[..4] + FlipCase(victimAdmin[4..]))],
            Who.Overlong => [RawRequest.Bearer("kwa_" + new string('A', 600))],
            Who.BasicScheme => ["Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(victimAdmin))],
            Who.NoScheme => [victimAdmin],
            Who.TwoHeaders => [RawRequest.Bearer(Admin[attack.Attacker].Token), RawRequest.Bearer(victimAdmin)],
            _ => throw new ArgumentOutOfRangeException(nameof(attack)),
        };
    }

    /// <summary>Fills the token placeholders of a target.</summary>
    public string Fill(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text
            .Replace(CrossTenantAttacks.AttackerAdminTokenPlaceholder, Admin[CrossTenantAttacks.Globex].Token, StringComparison.Ordinal)
            .Replace(CrossTenantAttacks.VictimAdminTokenPlaceholder, Admin[CrossTenantAttacks.Acme].Token, StringComparison.Ordinal)
            .Replace(CrossTenantAttacks.RootTokenPlaceholder, KeywardTestHost.RootToken, StringComparison.Ordinal);
    }

    /// <summary>Every token string an attack may have carried (none may appear in an audit record).</summary>
    public IEnumerable<string> AllTokens() =>
        Admin.Values.Concat(Orchestrator.Values).Select(t => t.Token)
            .Concat(ExpiredAdmin.Values).Concat(ExpiredOrchestrator.Values)
            .Append(UnknownAdmin).Append(UnknownAgent).Append(KeywardTestHost.RootToken);

    /// <summary>After every attack has run: both tenants must be exactly as seeded.</summary>
    public async Task DisposeAsync()
    {
        try
        {
            foreach (var tenant in Tenants)
            {
                var now = await TenantStateAsync(tenant);
                if (now != _baseline[tenant])
                {
                    throw new InvalidOperationException($"Tenant {tenant} changed during the cross-tenant attacks.\nbefore:\n{_baseline[tenant]}\nafter:\n{now}");
                }
            }

            using var admin = Host.Client(Admin[CrossTenantAttacks.Acme].Token);
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/secrets/shared/db")).StatusCode);
        }
        finally
        {
            await Host.DisposeAsync();
        }
    }

    private static string RandomPart() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string FlipCase(string text) =>
        string.Concat(text.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)));
}
