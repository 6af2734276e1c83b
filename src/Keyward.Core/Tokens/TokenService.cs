using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Keyward.Core.Errors;
using Keyward.Core.Policies;
using Keyward.Core.Seal;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens.Derived;

namespace Keyward.Core.Tokens;

/// <summary>
/// Mints, authenticates and revokes tokens. Authentication is cached per node; every revocation bumps a
/// generation before and after its commit, and an entry fetched under an older generation is re-read, so a
/// revoked token is refused at once — there is no grace period.
/// </summary>
public sealed class TokenService : IStoreCache
{
    /// <summary>Bounds the node-local cache; when full it is dropped and refilled from the store.</summary>
    private const int MaxCachedTokens = 200_000;

    private readonly IKeywardStore _store;
    private readonly TenantDirectory _tenants;
    private readonly TimeProvider _time;
    private readonly KeyHierarchy _keys;
    private readonly ConcurrentDictionary<HashKey, CacheEntry> _cache = new();
    private readonly ConcurrentDictionary<string, CacheEntry> _byAccessor = new(StringComparer.Ordinal);
    private long _generation;

    public TokenService(IKeywardStore store, TenantDirectory tenants, TimeProvider time, KeyHierarchy keys)
    {
        _store = store;
        _tenants = tenants;
        _time = time;
        _keys = keys;
    }

    /// <summary>
    /// Builds a new token (string and record); the caller inserts the record in its transaction. An agent session
    /// token carries what its holder needs to derive attenuated tokens offline:
    /// <c>kws_&lt;random&gt;.&lt;accessor&gt;.&lt;base64url(t0)&gt;</c> with <c>t0 = HMAC(K_att, accessor)</c>; the whole
    /// string is what is hashed and stored.
    /// </summary>
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
        var accessor = Ids.NewAccessor();
        if (token is null && kind == TokenKind.Agent)
        {
            var rootTag = DerivedToken.RootTag(_keys.Require().Attenuation.Bytes, accessor);
            token = TokenHasher.NewToken(kind) + "." + accessor + "." + System.Buffers.Text.Base64Url.EncodeToString(rootTag);
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(rootTag);
        }

        token ??= TokenHasher.NewToken(kind);
        var now = _time.GetUtcNow();
        var record = new TokenRecord(
            accessor,
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

        if (token.StartsWith(DerivedToken.Prefix, StringComparison.Ordinal))
        {
            return await AuthenticateDerivedAsync(token, cancellationToken);
        }

        if (!TokenHasher.IsWellFormed(token, out var kind) || kind == TokenKind.Wrapping)
        {
            // A wrapping token is good for nothing but POST /v1/wrapping/unwrap, and is no session: never looked up here.
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

        var authenticatedAt = _time.GetUtcNow();
        var (tenant, lockedDown) = await RequireLiveAsync(record, cancellationToken);
        return new Principal(record, tenant, record.EffectiveRules, lockedDown) { AuthenticatedAt = authenticatedAt };
    }

    /// <summary>
    /// A derived token: parsed without a key, its session looked up by accessor (cached like tokens, with the same
    /// generation), its tag chain recomputed under K_att and compared in constant time, then the session checked
    /// exactly as if it had been presented (revoked, expired, tenant gone or locked), then its expiry caveats.
    /// Only agent sessions carry root tags; a chain naming any other token is refused.
    /// </summary>
    private async ValueTask<Principal> AuthenticateDerivedAsync(string token, CancellationToken cancellationToken)
    {
        var authenticatedAt = _time.GetUtcNow();
        var (derived, session, revoked) = await VerifyDerivedAsync(token, cancellationToken);
        var (tenant, _) = await RequireLiveAsync(session, cancellationToken);
        if (revoked)
        {
            // Revoked by itself, or a token it was derived from was (its chain's ids include that one's).
            throw KeywardErrors.TokenRevoked();
        }

        if (derived.Attenuation.ExpiresAt <= _time.GetUtcNow())
        {
            throw KeywardErrors.TokenExpired();
        }

        return new Principal(session, tenant, session.EffectiveRules, attenuation: derived.Attenuation) { AuthenticatedAt = authenticatedAt };
    }

    /// <summary>
    /// Parses and verifies a derived token against its session; also says whether it is revoked by itself (its id, or
    /// the id of any prefix of its chain, is on the session's revocation list).
    /// </summary>
    private async ValueTask<(DerivedToken Token, TokenRecord Session, bool Revoked)> VerifyDerivedAsync(string token, CancellationToken cancellationToken)
    {
        if (!DerivedToken.TryParse(token, out var derived, out var reason))
        {
            throw KeywardErrors.InvalidDerivedToken(reason!);
        }

        var found = await FindByAccessorAsync(derived!.TokenId, cancellationToken);
        if (found?.Record is not { } session || !derived.HasValidTag(_keys.Require().Attenuation.Bytes, out var chainIds))
        {
            throw KeywardErrors.InvalidDerivedToken(found is null ? "unknown session" : "tag mismatch");
        }

        if (session.Kind != TokenKind.Agent)
        {
            throw KeywardErrors.InvalidDerivedToken("the chain does not start at an agent session");
        }

        var revoked = found.DerivedRevocations is { Count: > 0 } list && Array.Exists(chainIds, list.Contains);
        return (derived, session, revoked);
    }

    /// <summary>
    /// Refuses a token whose tenant is gone (401) or locked down (423; admin tokens minted after the lockdown pass,
    /// flagged), then a revoked or expired one (401).
    /// </summary>
    private async ValueTask<(Tenant? Tenant, bool LockedDown)> RequireLiveAsync(TokenRecord record, CancellationToken cancellationToken)
    {
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

        // The lockdown's epoch revokes everything issued up to it until its rows are all marked (an unlock waits for that).
        if (record.RevokedAt is not null || (tenant is { RevocationPending: true, RevokedBefore: { } epoch } && record.CreatedAt <= epoch))
        {
            throw KeywardErrors.TokenRevoked();
        }

        if (record.ExpiresAt is { } expires && expires <= _time.GetUtcNow())
        {
            throw KeywardErrors.TokenExpired();
        }

        return (tenant, lockedDown);
    }

    /// <summary>
    /// The stored record of a presented token, valid or not (expired and revoked tokens still name their tenant
    /// and accessor, so refusals can be attributed). Null for a token Keyward never issued. A derived token names
    /// its session only if its tag chain verifies (anyone can write an accessor into one).
    /// </summary>
    public async ValueTask<TokenRecord?> FindAsync(string token, CancellationToken cancellationToken = default)
    {
        if (token.StartsWith(DerivedToken.Prefix, StringComparison.Ordinal))
        {
            try
            {
                return (await VerifyDerivedAsync(token, cancellationToken)).Session;
            }
            catch (KeywardException)
            {
                return null;
            }
        }

        return TokenHasher.IsWellFormed(token, out _) ? await FindAsync(TokenHasher.Hash(token), cancellationToken) : null;
    }

    /// <summary>
    /// A session by accessor, with the ids of its derived tokens revoked one by one, through the node-local cache: re-read
    /// after any revocation (same generation as by hash; revoking a derived token bumps it too).
    /// </summary>
    private async ValueTask<CacheEntry?> FindByAccessorAsync(string accessor, CancellationToken cancellationToken)
    {
        var generation = Volatile.Read(ref _generation);
        if (_byAccessor.TryGetValue(accessor, out var cached) && cached.Generation == generation)
        {
            return cached;
        }

        TokenRecord? record;
        IReadOnlyList<string> revoked = [];
        await using (var session = await _store.ReadAsync(cancellationToken))
        {
            record = await session.Tokens.GetByAccessorAsync(accessor, cancellationToken);
            if (record?.Kind == TokenKind.Agent)
            {
                revoked = await session.Tokens.ListDerivedRevocationsAsync(accessor, cancellationToken);
            }
        }

        if (record is null)
        {
            return null;
        }

        if (_byAccessor.Count >= MaxCachedTokens)
        {
            _byAccessor.Clear();
        }

        var entry = new CacheEntry(record, generation) { DerivedRevocations = revoked.Count == 0 ? null : revoked.ToHashSet(StringComparer.Ordinal) };
        _byAccessor[accessor] = entry;
        return entry;
    }

    private async ValueTask<TokenRecord?> FindAsync(byte[] hash, CancellationToken cancellationToken)
    {
        var key = HashKey.From(hash);
        var generation = Volatile.Read(ref _generation);
        if (_cache.TryGetValue(key, out var cached) && cached.Generation == generation)
        {
            return cached.Record;
        }

        TokenRecord? record;
        await using (var session = await _store.ReadOneStatementAsync(cancellationToken))
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

    /// <summary>Cached authentications are re-checked (the group committer calls it around the commit of any change of tokens).</summary>
    public void InvalidateCache() => Interlocked.Increment(ref _generation);

    /// <summary>Stale once a commit changed a token or a derived token's revocation.</summary>
    public StoreChanges Watches => StoreChanges.Tokens;

    void IStoreCache.Invalidate() => InvalidateCache();

    [StructLayout(LayoutKind.Auto)]
    private readonly record struct HashKey(ulong A, ulong B, ulong C, ulong D)
    {
        public static HashKey From(ReadOnlySpan<byte> hash)
        {
            var words = MemoryMarshal.Cast<byte, ulong>(hash);
            return new HashKey(words[0], words[1], words[2], words[3]);
        }
    }

    private sealed record CacheEntry(TokenRecord Record, long Generation)
    {
        /// <summary>For an agent session found by accessor: the hash parts of its derived tokens' revoked ids.</summary>
        public HashSet<string>? DerivedRevocations { get; init; }
    }
}
