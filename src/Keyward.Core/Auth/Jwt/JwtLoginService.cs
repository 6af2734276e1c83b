using System.Text.Json;
using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;
using Keyward.Core.Validation;

namespace Keyward.Core.Auth.Jwt;

/// <summary>A session minted by a JWT login.</summary>
public sealed record JwtLoginResult(string Token, TokenRecord Record, string TenantId);

/// <summary>
/// <c>POST /v1/auth/jwt/login</c>: a workload proves its identity with a JWT from an issuer its tenant registered and
/// gets an agent session (<c>kws_</c>) for a role that one of the issuer's bindings grants it. The session is a child
/// of the issuer registration and expires no later than the role's <c>max_ttl</c> and the JWT's <c>exp</c>.
/// </summary>
/// <remarks>
/// Refusals never say whether a tenant exists: an unknown or retired tenant gets exactly the answer of a tenant
/// without that issuer (401 <c>invalid_jwt</c>, "issuer"). A locked tenant answers 423 only once the JWT has proved
/// itself. Nothing of the JWT is ever echoed, logged or audited.
/// </remarks>
public sealed class JwtLoginService
{
    /// <summary>Real workload tokens are 1–2 KB; the bound keeps parsing cheap for anonymous callers.</summary>
    public const int MaxJwtLength = 16 * 1024;

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly TokenService _tokens;
    private readonly JwtValidator _validator;
    private readonly TimeProvider _time;

    public JwtLoginService(IKeywardStore store, GroupCommitter committer, TokenService tokens, JwtValidator validator, TimeProvider time)
    {
        _store = store;
        _committer = committer;
        _tokens = tokens;
        _validator = validator;
        _time = time;
    }

    public async Task<JwtLoginResult> LoginAsync(string? tenantId, string? role, string? jwt, AuditDraft audit, CancellationToken cancellationToken = default)
    {
        audit.Actor = AuditActor.Anonymous;
        var started = _time.GetUtcNow();
        if (tenantId is null)
        {
            throw KeywardErrors.MissingField("tenant");
        }

        Names.RequireName("Role", role ?? throw KeywardErrors.MissingField("role"));
        if (string.IsNullOrEmpty(jwt))
        {
            throw KeywardErrors.MissingField("jwt");
        }

        // The attempt belongs in the named tenant's audit log (if it exists), whatever the answer.
        Tenant? tenant = null;
        if (Names.IsTenantId(tenantId))
        {
            await using var session = await _store.ReadAsync(cancellationToken);
            tenant = await session.Tenants.GetByIdAsync(tenantId, cancellationToken);
            tenant = tenant?.State is TenantState.Active or TenantState.Locked ? tenant : null;
            audit.TenantId = tenant?.Id;
        }

        // Shape before the issuer lookup: the answer to a malformed token is the same for every tenant id.
        var unverified = Refuse(audit, () => UnverifiedJwt.Parse(jwt));
        JwtIssuer? issuer = null;
        Policies.Role? stored = null;
        if (tenant is not null && unverified.Issuer is not null)
        {
            await using var session = await _store.ReadAsync(cancellationToken);
            issuer = await session.JwtIssuers.GetByIssuerAsync(tenant.Uid, unverified.Issuer, cancellationToken);
            stored = await session.Roles.GetAsync(tenant.Uid, role, cancellationToken);
        }

        if (tenant is null || issuer is null)
        {
            throw Refusal(audit, JwtRefusal.Issuer);
        }

        audit.AddDetail("jwt_issuer", issuer.Name);
        var verified = await _validator.ValidateAsync(jwt, unverified, issuer, cancellationToken);
        if (verified.Refusal is { } refusal)
        {
            throw Refusal(audit, refusal);
        }

        if (tenant.State == TenantState.Locked)
        {
            throw KeywardErrors.TenantLocked(tenant.Id);
        }

        var subject = verified.Subject;
        var binding = issuer.Bindings.FirstOrDefault(b => b.Role == role && Matches(b, subject, unverified.Payload))
            ?? throw KeywardErrors.JwtBindingDenied(role);

        // Every session belongs to a run (the first binding that grants the role says how it is named).
        var runId = binding.RunIdClaim is { } runClaim
            ? JwtRuns.FromClaim(unverified.Payload, runClaim) ?? throw Refusal(audit, JwtRefusal.RunIdClaim)
            : JwtRuns.Derived(issuer.NodeId, subject);

        if (stored is null)
        {
            throw KeywardErrors.RoleNotFound(role);
        }

        var now = _time.GetUtcNow();
        var ttl = Min(stored.MaxTtl, verified.ExpiresAt - now);
        if (ttl <= TimeSpan.Zero)
        {
            // Within the clock skew the library still accepts it, but a session may never outlive its JWT.
            throw Refusal(audit, JwtRefusal.Expired);
        }

        var minted = _tokens.Mint(
            TokenKind.Agent,
            tenant.Uid,
            ttl,
            issuedBy: issuer.NodeId,
            displayName: "jwt:" + issuer.Name + ":" + Printable(subject ?? "-", 64),
            parentAccessor: issuer.NodeId,
            role: role,
            agentId: Names.IsName(subject) ? subject : null,
            runId: runId,
            rules: stored.Rules.ToSpecs());

        await _committer.ExecuteAsync(audit, async session =>
        {
            // Re-checked in the transaction: a lockdown, an issuer deletion or a role change may have committed meanwhile.
            var current = await session.Tenants.GetByUidAsync(tenant.Uid);
            if (current?.State == TenantState.Locked)
            {
                throw KeywardErrors.TenantLocked(tenant.Id);
            }

            // Offboarded, or locked down (and maybe unlocked) since the login began: answered like an unknown issuer.
            if (!await new TenantGate(tenant.Uid, started).IsOpenAsync(session)
                || (await session.JwtIssuers.GetAsync(tenant.Uid, issuer.Name))?.NodeId != issuer.NodeId)
            {
                throw Refusal(audit, JwtRefusal.Issuer);
            }

            if (await session.Roles.GetAsync(tenant.Uid, role) is not { } currentRole || currentRole.UpdatedAt != stored.UpdatedAt)
            {
                throw KeywardErrors.Conflict("role_changed", $"The role '{role}' changed during the login; retry.");
            }

            await session.Tokens.InsertAsync(minted.Record);
            audit.Actor = minted.Record.ToActor();
            audit.AddDetail("minted_accessor", minted.Record.Accessor);
            audit.AddDetail("expires_at", Instants.Format(minted.Record.ExpiresAt!.Value));
        });

        return new JwtLoginResult(minted.Token, minted.Record, tenant.Id);
    }

    /// <summary>
    /// A binding matches when the subject matches its pattern (if it has one) and every claim it names matches: a
    /// string claim by its value, an array claim when any string element matches. Other claim types never match.
    /// </summary>
    internal static bool Matches(JwtBinding binding, string? subject, JsonElement payload)
    {
        if (binding.Subject is { } pattern && (subject is null || !JwtPattern.IsMatch(pattern, subject)))
        {
            return false;
        }

        foreach (var (claim, claimPattern) in binding.Claims ?? new Dictionary<string, string>())
        {
            if (!payload.TryGetProperty(claim, out var value))
            {
                return false;
            }

            var matched = value.ValueKind switch
            {
                JsonValueKind.String => JwtPattern.IsMatch(claimPattern, value.GetString()!),
                JsonValueKind.Array => value.EnumerateArray().Any(e => e.ValueKind == JsonValueKind.String && JwtPattern.IsMatch(claimPattern, e.GetString()!)),
                _ => false,
            };
            if (!matched)
            {
                return false;
            }
        }

        return true;
    }

    private static T Refuse<T>(AuditDraft audit, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (JwtRefusedException refused)
        {
            throw Refusal(audit, refused.Reason);
        }
    }

    private static KeywardException Refusal(AuditDraft audit, JwtRefusal reason)
    {
        var text = JwtRefusals.Text(reason);
        audit.AddDetail("jwt_refusal", text);
        return KeywardErrors.InvalidJwt(text);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static string Printable(string value, int max)
    {
        var clean = new string(value.Where(c => !char.IsControl(c)).Take(max).ToArray());
        return value.Length > max ? clean + "…" : clean;
    }
}
