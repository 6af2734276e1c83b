using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Keyward.Core.Errors;
using Keyward.Core.Policies;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;

namespace Keyward.Core.Tokens;

/// <summary>
/// Mints, authenticates and revokes tokens. Authentication is cached per node; every revocation bumps a
/// generation before and after its commit, and an entry fetched under an older generation is re-read, so a
/// revoked token is refused at once — there is no grace period.
/// </summary>
public sealed class TokenService
{
    /// <summary>Bounds the node-local cache; when full it is dropped and refilled from the store.</summary>
    private const int MaxCachedTokens = 200_000;

    private readonly IKeywardStore _store;
    private readonly TenantDirectory _tenants;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<HashKey, CacheEntry> _cache = new();
    private long _generation;

    public TokenService(IKeywardStore store, TenantDirectory tenants, TimeProvider time)
    {
        _store = store;
        _tenants = tenants;
        _time = time;
    }

    /// <summary>Builds a new token (string and record); the caller inserts the record in its transaction.</summary>
    public (string Token, TokenRecord Record) Mint(
        TokenKind kind,
        string? tenantUid,
        TimeSpan? ttl,
        string? issuedBy,
        string? displayName = null,
        string? parentAccessor = null,
        string? role = null,
        string? agentId = null,
        string? runId = null,
        IReadOnlyList<RuleSpec>? rules = null,
        string? token = null)
    {
        token ??= TokenHasher.NewToken(kind);
        var now = _time.GetUtcNow();
        var record = new TokenRecord(
            Ids.NewAccessor(),
            TokenHasher.Hash(token),
            kind,
            tenantUid,
            parentAccessor,
            issuedBy,
            displayName,
            role,
            agentId,
            runId,
            rules,
            now,
            ttl is { } t ? now + t : null,
            null);
        return (token, record);
    }

    /// <summary>
    /// Resolves a presented token to a principal, or throws 401 (missing, invalid, expired, revoked) or
    /// 423 (tenant locked). Never echoes the token.
    /// </summary>
    public async ValueTask<Principal> AuthenticateAsync(string? token, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(token))
        {
            throw KeywardErrors.MissingToken();
        }

        if (!TokenHasher.IsWellFormed(token, out _))
        {
            throw KeywardErrors.InvalidToken();
        }

        var hash = TokenHasher.Hash(token);
        var record = await FindAsync(hash, cancellationToken) ?? throw KeywardErrors.InvalidToken();
        if (!TokenHasher.FixedTimeEquals(record.Hash, hash))
        {
            throw KeywardErrors.InvalidToken();
        }

        if (record.Kind == TokenKind.Bootstrap)
        {
            // Good for nothing but POST /v1/auth/exchange, where it is presented in the body.
            throw KeywardErrors.InvalidToken();
        }

        // The tenant's state first: while it is locked down every one of its tokens answers 423 — the lockdown revoked
        // them, and a 401 would tell their holders nothing of the incident (after unlock they answer 401 token_revoked).
        Tenant? tenant = null;
        var lockedDown = false;
        if (record.TenantUid is { } uid)
        {
            tenant = await _tenants.GetByUidAsync(uid, cancellationToken);
            switch (tenant?.State)
            {
                case null or TenantState.Deleting or TenantState.Retired:
                    throw KeywardErrors.TokenRevoked();
                case TenantState.Locked:
                    // Admin tokens minted after the lockdown may read the audit log, and nothing else.
                    lockedDown = record.Kind == TokenKind.Admin && record.CreatedAt > tenant.UpdatedAt
                        ? true
                        : throw KeywardErrors.TenantLocked(tenant.Id);
                    break;
            }
        }

        if (record.RevokedAt is not null)
        {
            throw KeywardErrors.TokenRevoked();
        }

        if (record.ExpiresAt is { } expires && expires <= _time.GetUtcNow())
        {
            throw KeywardErrors.TokenExpired();
        }

        return new Principal(record, tenant, record.EffectiveRules, lockedDown);
    }

    /// <summary>
    /// The stored record of a presented token, valid or not (expired and revoked tokens still name their tenant
    /// and accessor, so refusals can be attributed). Null for a token Keyward never issued.
    /// </summary>
    public async ValueTask<TokenRecord?> FindAsync(string token, CancellationToken cancellationToken = default) =>
        TokenHasher.IsWellFormed(token, out _) ? await FindAsync(TokenHasher.Hash(token), cancellationToken) : null;

    private async ValueTask<TokenRecord?> FindAsync(byte[] hash, CancellationToken cancellationToken)
    {
        var key = HashKey.From(hash);
        var generation = Volatile.Read(ref _generation);
        if (_cache.TryGetValue(key, out var cached) && cached.Generation == generation)
        {
            return cached.Record;
        }

        TokenRecord? record;
        await using (var session = await _store.ReadAsync(cancellationToken))
        {
            record = await session.Tokens.GetByHashAsync(hash, cancellationToken);
        }

        if (record is not null)
        {
            if (_cache.Count >= MaxCachedTokens)
            {
                _cache.Clear();
            }

            _cache[key] = new CacheEntry(record, generation);
        }

        return record;
    }

    /// <summary>Call before and after committing a revocation: cached authentications are re-checked.</summary>
    public void InvalidateCache() => Interlocked.Increment(ref _generation);

    /// <summary>Runs a revocation so that no cached authentication outlives it.</summary>
    public async Task<T> RevokeAsync<T>(Func<Task<T>> revocation)
    {
        InvalidateCache();
        try
        {
            return await revocation();
        }
        finally
        {
            InvalidateCache();
        }
    }

    [StructLayout(LayoutKind.Auto)]
    private readonly record struct HashKey(ulong A, ulong B, ulong C, ulong D)
    {
        public static HashKey From(ReadOnlySpan<byte> hash)
        {
            var words = MemoryMarshal.Cast<byte, ulong>(hash);
            return new HashKey(words[0], words[1], words[2], words[3]);
        }
    }

    private sealed record CacheEntry(TokenRecord Record, long Generation);
}
