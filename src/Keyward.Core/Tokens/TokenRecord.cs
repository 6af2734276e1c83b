using Keyward.Core.Policies;

namespace Keyward.Core.Tokens;

/// <summary>
/// A token as stored: only the SHA-256 <see cref="Hash"/> of the token string, never the string. The
/// <see cref="Accessor"/> is a non-secret handle for revocation and audit. Tenant admin and orchestrator tokens
/// hang under their tenant (their parent is the tenant node of the token tree); <see cref="IssuedBy"/> records
/// which token minted them.
/// </summary>
public sealed record TokenRecord(
    string Accessor,
    byte[] Hash,
    TokenKind Kind,
    string? TenantUid,
    string? ParentAccessor,
    string? IssuedBy,
    string? DisplayName,
    string? Role,
    string? AgentId,
    string? RunId,
    IReadOnlyList<RuleSpec>? Rules,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt);

/// <summary>Storage port for tokens.</summary>
public interface ITokenStore
{
    Task<TokenRecord?> GetByHashAsync(byte[] hash, CancellationToken cancellationToken = default);

    Task<TokenRecord?> GetByAccessorAsync(string accessor, CancellationToken cancellationToken = default);

    Task InsertAsync(TokenRecord token, CancellationToken cancellationToken = default);

    /// <summary>Marks one token revoked; returns false if it was unknown or already revoked.</summary>
    Task<bool> RevokeAsync(string accessor, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Revokes every live token of a tenant in one statement; returns how many.</summary>
    Task<int> RevokeTenantAsync(string tenantUid, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Removes a token record (dev mode re-installing the same root token string); returns whether one existed.</summary>
    Task<bool> DeleteAsync(string accessor, CancellationToken cancellationToken = default);

    /// <summary>Revokes every live root token; returns how many.</summary>
    Task<int> RevokeRootTokensAsync(DateTimeOffset at, CancellationToken cancellationToken = default);
}
