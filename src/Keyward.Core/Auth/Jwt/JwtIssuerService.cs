using System.Security.Cryptography;
using System.Text.Json;
using Keyward.Core.Agents;
using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;
using Keyward.Core.Validation;

namespace Keyward.Core.Auth.Jwt;

/// <summary>What a tenant admin registers (the body of <c>PUT /v1/auth/jwt/issuers/{name}</c>).</summary>
public sealed record JwtIssuerSpec(
    string? Issuer,
    IReadOnlyList<string>? PublicKeys,
    JsonElement? Jwks,
    IReadOnlyList<string>? BoundAudiences,
    IReadOnlyList<JwtBindingSpec>? Bindings,
    TimeSpan? ClockSkew);

public sealed record JwtBindingSpec(string? Role, string? Subject, IReadOnlyDictionary<string, string>? Claims, string? RunIdClaim = null);

/// <summary>A tenant's JWT issuer registrations (tenant admin token).</summary>
public sealed class JwtIssuerService
{
    public static readonly TimeSpan DefaultClockSkew = TimeSpan.FromSeconds(30);

    /// <summary>Clock skew widens the acceptance window of every token; beyond five minutes it hides real clock faults.</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(5);

    public const int MaxIssuerLength = 512;
    public const int MaxAudiences = 16;
    public const int MaxAudienceLength = 256;
    public const int MaxBindings = 64;
    public const int MaxClaimsPerBinding = 16;
    public const int MaxClaimNameLength = 64;

    /// <summary>The prefix of issuer node ids (the parent of JWT sessions in the token tree); never a token accessor.</summary>
    public const string NodePrefix = "jwt_";

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly Leases.LeaseEngines _engines;
    private readonly TimeProvider _time;

    public JwtIssuerService(IKeywardStore store, GroupCommitter committer, Leases.LeaseEngines engines, TimeProvider time)
    {
        _store = store;
        _committer = committer;
        _engines = engines;
        _time = time;
    }

    /// <summary>Whether <paramref name="parentAccessor"/> names a JWT issuer registration rather than a token.</summary>
    public static bool IsIssuerNode(string? parentAccessor) => parentAccessor?.StartsWith(NodePrefix, StringComparison.Ordinal) == true;

    public async Task<JwtIssuer> PutAsync(Principal caller, string name, JwtIssuerSpec spec, AuditDraft audit)
    {
        audit.Path = "auth/jwt/issuers/" + name;
        var tenant = caller.RequireAdmin();
        Names.RequireName("JWT issuer name", name);
        var issuer = spec.Issuer;
        if (string.IsNullOrEmpty(issuer) || issuer.Length > MaxIssuerLength || issuer.Any(char.IsControl))
        {
            throw string.IsNullOrEmpty(issuer) ? KeywardErrors.MissingField("issuer")
                : KeywardErrors.InvalidField("issuer", $"1 to {MaxIssuerLength} characters, no control characters");
        }

        var hasPem = spec.PublicKeys is not null;
        var hasJwks = spec.Jwks is { ValueKind: not JsonValueKind.Null };
        if (hasPem == hasJwks)
        {
            throw KeywardErrors.InvalidJwtKey("Give exactly one of public_keys (PEM public keys) and jwks (a JWK Set).");
        }

        var keys = hasPem ? JwtKeys.FromPem(spec.PublicKeys!) : JwtKeys.FromJwks(spec.Jwks!.Value);
        var audiences = Audiences(spec.BoundAudiences);
        var bindings = Bindings(spec.Bindings);
        var skew = spec.ClockSkew ?? DefaultClockSkew;
        if (skew > MaxClockSkew)
        {
            throw KeywardErrors.InvalidField("clock_skew", $"at most {Durations.Format(MaxClockSkew)}");
        }

        audit.AddDetail("keys", keys.Count);
        return await _committer.ExecuteAsync(audit, async session =>
        {
            var now = _time.GetUtcNow();
            var existing = await session.JwtIssuers.GetAsync(tenant.Uid, name);
            var sameIssuer = await session.JwtIssuers.GetByIssuerAsync(tenant.Uid, issuer);
            if (sameIssuer is not null && sameIssuer.Name != name)
            {
                // Login picks the registration by iss: two of them for one iss would make that choice ambiguous.
                throw KeywardErrors.Conflict("jwt_issuer_exists", $"The registration '{sameIssuer.Name}' already has this issuer.");
            }

            var node = existing?.NodeId ?? NodePrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            var registration = new JwtIssuer(tenant.Uid, name, node, issuer, keys, audiences, bindings, skew, existing?.CreatedAt ?? now, now);
            await session.JwtIssuers.UpsertAsync(registration);
            audit.AddDetail("node", node);
            return registration;
        });
    }

    public async Task<JwtIssuer> GetAsync(Principal caller, string name, AuditDraft audit, CancellationToken cancellationToken = default)
    {
        audit.Path = "auth/jwt/issuers/" + name;
        var tenant = caller.RequireAdmin();
        await using var session = await _store.ReadAsync(cancellationToken);
        return await session.JwtIssuers.GetAsync(tenant.Uid, name, cancellationToken) ?? throw KeywardErrors.JwtIssuerNotFound(name);
    }

    public async Task<IReadOnlyList<JwtIssuer>> ListAsync(Principal caller, CancellationToken cancellationToken = default)
    {
        var tenant = caller.RequireAdmin();
        await using var session = await _store.ReadAsync(cancellationToken);
        return await session.JwtIssuers.ListAsync(tenant.Uid, cancellationToken);
    }

    /// <summary>
    /// Deletes a registration and revokes, in the same transaction, every live session it issued (its direct
    /// children in the token tree); cached authentications of those sessions are dropped.
    /// </summary>
    public async Task<int> DeleteAsync(Principal caller, string name, AuditDraft audit)
    {
        audit.Path = "auth/jwt/issuers/" + name;
        var tenant = caller.RequireAdmin();
        return await _committer.ExecuteAsync(audit, async session =>
        {
            var node = await session.JwtIssuers.DeleteAsync(tenant.Uid, name) ?? throw KeywardErrors.JwtIssuerNotFound(name);

            // Every session it issued, whatever those sessions spawned, and every lease under them.
            var now = _time.GetUtcNow();
            var revoked = await session.Tokens.RevokeSubtreeAsync(node, now, RevocationReasons.IssuerDeleted);
            var leases = await session.Leases.RevokeForSubtreeAsync(node, now, _engines.External);
            new RevocationCounts(revoked, leases, await TokenTree.RevokeWrapsOfRevokedAsync(session, tenant.Uid)).AddTo(audit);
            return revoked;
        });
    }

    private static string[] Audiences(IReadOnlyList<string>? audiences)
    {
        if (audiences is null || audiences.Count == 0)
        {
            throw KeywardErrors.InvalidField("bound_audiences", "required: at least one audience the JWT must carry");
        }

        if (audiences.Count > MaxAudiences || audiences.Any(a => string.IsNullOrEmpty(a) || a.Length > MaxAudienceLength || a.Any(char.IsControl)))
        {
            throw KeywardErrors.InvalidField("bound_audiences", $"1 to {MaxAudiences} audiences of 1 to {MaxAudienceLength} characters");
        }

        return audiences.Distinct(StringComparer.Ordinal).ToArray();
    }

    private static JwtBinding[] Bindings(IReadOnlyList<JwtBindingSpec>? bindings)
    {
        if (bindings is null || bindings.Count == 0)
        {
            throw KeywardErrors.InvalidField("bindings", "required: at least one {role, subject?, claims?}");
        }

        if (bindings.Count > MaxBindings)
        {
            throw KeywardErrors.InvalidField("bindings", $"at most {MaxBindings}");
        }

        return bindings.Select((b, i) =>
        {
            var where = $"bindings[{i}]";
            if (b is null)
            {
                throw KeywardErrors.InvalidField(where, "must be an object {role, subject?, claims?}");
            }

            Names.RequireName("Binding role", b.Role);
            if (b.Subject is null && (b.Claims is null || b.Claims.Count == 0))
            {
                throw KeywardErrors.InvalidField(where, "needs a subject pattern or claims (\"subject\": \"*\" admits every subject on purpose)");
            }

            RequirePattern(where + ".subject", b.Subject);
            if (b.Claims is { Count: > MaxClaimsPerBinding })
            {
                throw KeywardErrors.InvalidField(where + ".claims", $"at most {MaxClaimsPerBinding}");
            }

            foreach (var (claim, pattern) in b.Claims ?? new Dictionary<string, string>())
            {
                if (claim.Length is 0 or > MaxClaimNameLength || claim.Any(char.IsControl))
                {
                    throw KeywardErrors.InvalidField(where + ".claims", $"claim names have 1 to {MaxClaimNameLength} characters");
                }

                RequirePattern(where + ".claims." + claim, pattern ?? throw KeywardErrors.InvalidField(where + ".claims." + claim, "must be a pattern string"));
            }

            if (b.RunIdClaim is { } runClaim && (runClaim.Length is 0 or > MaxClaimNameLength || runClaim.Any(char.IsControl)))
            {
                throw KeywardErrors.InvalidField(where + ".run_id_claim", $"a claim name of 1 to {MaxClaimNameLength} characters");
            }

            return new JwtBinding(b.Role!, b.Subject, b.Claims is { Count: > 0 } claims ? new Dictionary<string, string>(claims, StringComparer.Ordinal) : null, b.RunIdClaim);
        }).ToArray();
    }

    private static void RequirePattern(string field, string? pattern)
    {
        if (pattern is not null && (pattern.Length is 0 or > JwtPattern.MaxLength || pattern.Any(char.IsControl)))
        {
            throw KeywardErrors.InvalidField(field, $"a pattern of 1 to {JwtPattern.MaxLength} characters");
        }
    }
}
