using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Policies;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens.Derived;

namespace Keyward.Core.Tokens;

/// <summary>
/// The authenticated caller. Its tenant comes from the token and nowhere else: no route, header or body can
/// name another. Tenant admin tokens hold every capability in their tenant; other tenant tokens hold exactly
/// their rules; the root token holds no tenant capability at all. A derived (<c>kwd_</c>) token is its session's
/// principal with an <see cref="Attenuation"/>: allowed only what the session's rules AND every caveat allow.
/// </summary>
public sealed class Principal
{
    public Principal(TokenRecord token, Tenant? tenant, RuleSet rules, bool tenantLockedDown = false, Attenuation? attenuation = null)
    {
        Token = token;
        Tenant = tenant;
        Rules = rules;
        TenantLockedDown = tenantLockedDown;
        Attenuation = attenuation;
        Actor = attenuation is null ? token.ToActor() : token.ToActor(attenuation);
    }

    /// <summary>
    /// An admin token minted after its tenant's lockdown: it authenticates, but only to read the audit log
    /// (<see cref="RequireAdminForAudit"/>); everything else answers 423.
    /// </summary>
    public bool TenantLockedDown { get; }

    /// <summary>The stored token; for a derived token, its session's (so revocation follows the session).</summary>
    public TokenRecord Token { get; }

    /// <summary>The caveats of a derived token; null for every other token.</summary>
    public Attenuation? Attenuation { get; }

    /// <summary>When the token stops working: for a derived token, the earliest of its expiry caveats and the session's.</summary>
    public DateTimeOffset? ExpiresAt =>
        Attenuation is null ? Token.ExpiresAt
        : Token.ExpiresAt is { } session && session < Attenuation.ExpiresAt ? session : Attenuation.ExpiresAt;

    public Tenant? Tenant { get; }

    /// <summary>When the token was authenticated (before its checks): a lockdown after it revokes what this request does.</summary>
    public DateTimeOffset AuthenticatedAt { get; init; }

    /// <summary>
    /// For a tenant's token, the check every change this principal makes passes inside its transaction (see
    /// <see cref="TenantGate"/>); null for the root token.
    /// </summary>
    public TenantGate? Gate => Tenant is { } tenant ? new TenantGate(tenant.Uid, AuthenticatedAt) : null;

    public RuleSet Rules { get; }

    /// <summary><see cref="TokenKind.Derived"/> for a derived token, whatever its session's kind.</summary>
    public TokenKind Kind => Attenuation is null ? Token.Kind : TokenKind.Derived;

    public AuditActor Actor { get; }

    public bool IsRoot => Kind == TokenKind.Root;

    public void RequireRoot()
    {
        if (!IsRoot)
        {
            throw KeywardErrors.RootTokenRequired();
        }
    }

    public Tenant RequireTenant()
    {
        var tenant = Tenant ?? throw KeywardErrors.TenantTokenRequired();
        return TenantLockedDown ? throw KeywardErrors.TenantLocked(tenant.Id) : tenant;
    }

    public Tenant RequireAdmin()
    {
        var tenant = RequireTenant();
        if (Kind != TokenKind.Admin)
        {
            throw KeywardErrors.AdminTokenRequired();
        }

        return tenant;
    }

    /// <summary>Tenant admin, also while the tenant is locked down (audit reads only).</summary>
    public Tenant RequireAdminForAudit()
    {
        var tenant = Tenant ?? throw KeywardErrors.TenantTokenRequired();
        return Kind == TokenKind.Admin ? tenant : throw KeywardErrors.AdminTokenRequired();
    }

    /// <summary>An agent session itself (not a token derived from one): spawning, renewing, revoking itself.</summary>
    public Tenant RequireAgent()
    {
        var tenant = RequireTenant();
        return Kind == TokenKind.Agent ? tenant : throw KeywardErrors.AgentTokenRequired();
    }

    /// <summary>
    /// The subtree a caller acts in: null for a tenant admin (the whole tenant), the caller's own accessor for
    /// orchestrators and agents. Other kinds act on no tree.
    /// </summary>
    public string? TreeScope() => Kind switch
    {
        TokenKind.Admin => null,
        TokenKind.Orchestrator or TokenKind.Agent => Token.Accessor,
        _ => throw KeywardErrors.OrchestratorOrAdminRequired(),
    };

    public bool Can(string path, Capability capability) =>
        Tenant is not null
        && !TenantLockedDown
        && (Kind == TokenKind.Admin || Rules.Allows(path, capability))
        && (Attenuation is null || Attenuation.Allows(path, capability));

    /// <summary>
    /// Returns the caller's tenant if it may call <paramref name="integration"/>: <c>use</c> on its secret
    /// <paramref name="secretPath"/> by its rules, and — for a derived token — by its caveats, where a <c>tool</c> caveat must
    /// name this integration (such a token can call that integration and nothing else).
    /// </summary>
    public Tenant RequireCall(string integration, string secretPath)
    {
        var tenant = RequireTenant();
        return CanCall(integration, secretPath) ? tenant : throw KeywardErrors.PermissionDenied(Capabilities.Name(Capability.Use), secretPath);
    }

    /// <summary>Whether the caller may call <paramref name="integration"/> (see <see cref="RequireCall"/>).</summary>
    public bool CanCall(string integration, string secretPath) =>
        Tenant is not null
        && !TenantLockedDown
        && (Kind == TokenKind.Admin || Rules.Allows(secretPath, Capability.Use))
        && (Attenuation is null || Attenuation.AllowsCall(integration, secretPath, Capability.Use));

    /// <summary>Returns the caller's tenant if it holds <paramref name="capability"/> on <paramref name="path"/>.</summary>
    public Tenant Require(string path, Capability capability)
    {
        var tenant = RequireTenant();
        if (!Can(path, capability))
        {
            throw KeywardErrors.PermissionDenied(Capabilities.Name(capability), path);
        }

        return tenant;
    }
}

public static class TokenRecordAuditExtensions
{
    /// <summary>How audit records name the holder of a token: by kind, agent, run, role and accessor, never the token.</summary>
    public static AuditActor ToActor(this TokenRecord token) =>
        new(TokenKinds.Name(token.Kind), token.AgentId, token.RunId, token.Role, token.Accessor);

    /// <summary>A derived token's holder: its session's agent, run, role and accessor, and the delegation chain (no tags).</summary>
    public static AuditActor ToActor(this TokenRecord session, Attenuation attenuation) =>
        new(TokenKinds.Name(TokenKind.Derived), session.AgentId, session.RunId, session.Role, session.Accessor, attenuation.Chain(session.Accessor))
        {
            DerivedId = attenuation.Id,
        };
}
