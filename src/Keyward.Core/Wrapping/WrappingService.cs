using Keyward.Core.Agents;
using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Seal;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;
using Keyward.Core.Validation;
using Keyward.Crypto.Envelope;

namespace Keyward.Core.Wrapping;

/// <summary>A wrapping token minted before the wrapped call runs, so that call's audit record can name its accessor.</summary>
public sealed record PreparedWrap(string Token, string Accessor, TimeSpan Ttl);

/// <summary>What a wrapped call returns instead of its body. <see cref="Token"/> is the only copy of the credential.</summary>
public sealed record WrapInfo(string Token, string Accessor, TimeSpan Ttl, DateTimeOffset CreatedAt, string CreationPath);

/// <summary>
/// Response wrapping: the body of a secret read or a credential issuance is sealed under the tenant's key ring and
/// stored behind a single-use <c>kww_</c> token, which is all the caller gets. The token is the only credential
/// <c>POST /v1/wrapping/unwrap</c> needs; the first unwrap gets the body and erases it, a second one is the anomaly
/// <c>wrap_reuse</c> (someone else had the token). Lockdown and offboarding erase every outstanding payload of the
/// tenant, the revocation of a token (or of its subtree, or its run) the payloads of the wraps it made; the sweeper erases
/// expired ones. See docs/designs/0011-response-wrapping.md.
/// </summary>
public sealed class WrappingService
{
    /// <summary>A wrapped response waits at most this long: it is a hand-over, not storage.</summary>
    public static readonly TimeSpan MaxTtl = TimeSpan.FromMinutes(10);

    /// <summary>
    /// A row stays this long past its expiry without its payload, so that a late second unwrap is still answered
    /// <c>wrap_token_used</c> (and flagged) rather than "invalid token"; then the sweeper deletes it.
    /// </summary>
    public static readonly TimeSpan Retention = TimeSpan.FromHours(24);

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly TenantDirectory _tenants;
    private readonly TenantKeyRings _rings;
    private readonly KeyHierarchy _keys;
    private readonly TimeProvider _time;

    public WrappingService(IKeywardStore store, GroupCommitter committer, TenantDirectory tenants, TenantKeyRings rings, KeyHierarchy keys, TimeProvider time)
    {
        _store = store;
        _committer = committer;
        _tenants = tenants;
        _rings = rings;
        _keys = keys;
        _time = time;
    }

    /// <summary>The TTL a caller asked for (a duration such as <c>60s</c>, <c>5m</c> or integer seconds), or 400 <c>invalid_wrap_ttl</c>.</summary>
    public static TimeSpan ParseTtl(string? value)
    {
        if (!Durations.TryParse(value?.Trim(), out var ttl))
        {
            throw KeywardErrors.InvalidWrapTtl("must be a positive duration");
        }

        return ttl <= MaxTtl ? ttl : throw KeywardErrors.InvalidWrapTtl("exceeds the maximum");
    }

    /// <summary>A fresh wrapping token (256 random bits, kind <c>kww_</c>) and accessor; nothing is stored yet.</summary>
    public static PreparedWrap Prepare(TimeSpan ttl)
    {
        if (ttl <= TimeSpan.Zero || ttl > MaxTtl)
        {
            throw KeywardErrors.InvalidWrapTtl("must be positive and at most 10m");
        }

        return new PreparedWrap(TokenHasher.NewToken(TokenKind.Wrapping), Ids.NewAccessor(), ttl);
    }

    /// <summary>
    /// Seals <paramref name="body"/> (the wrapped call's exact response body) and stores it behind the prepared token.
    /// The wrapped call's audit record, if not yet durable, commits in the same transaction.
    /// </summary>
    public async Task<WrapInfo> WrapAsync(
        Principal caller, PreparedWrap prepared, string creationPath, ReadOnlyMemory<byte> body, AuditDraft audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        ArgumentNullException.ThrowIfNull(audit);
        var tenant = caller.RequireTenant();
        var ring = await _rings.GetAsync(tenant.Uid, cancellationToken);
        var now = _time.GetUtcNow();
        var payload = SecretEnvelope.Encrypt(ring, EnvelopeContext.ForWrapping(tenant.Uid, prepared.Accessor), body.Span);
        var owner = caller.Token.Accessor;
        var record = new WrapRecord(
            tenant.Uid, TokenHasher.Hash(prepared.Token), prepared.Accessor, creationPath, now, now + prepared.Ttl, ring.CurrentVersion, payload, null, WrapState.Active,
            owner);
        // A lockdown that committed since the call was authorized has already revoked what it could see: add nothing (the
        // caller's gate, also when the call's own record committed earlier); nor after a revocation of the token that made
        // the call (its revocation revoked the wraps it could see).
        await _committer.ExecuteAsync(
            audit.Committed ? null : audit,
            async session =>
            {
                if (await session.Tokens.GetByAccessorAsync(owner) is not { RevokedAt: null })
                {
                    throw KeywardErrors.TokenRevoked();
                }

                await session.Wraps.InsertAsync(record);
            },
            caller.Gate);
        return new WrapInfo(prepared.Token, prepared.Accessor, prepared.Ttl, now, creationPath);
    }

    /// <summary>
    /// <c>POST /v1/wrapping/unwrap</c>: the original body, once (the caller zeroes it). The claim marks the row used and
    /// erases its payload in one conditional step, so of concurrent unwraps on any number of nodes exactly one wins.
    /// Unknown token: 401 <c>invalid_token</c>; used: 404 <c>wrap_token_used</c> with the anomaly <c>wrap_reuse</c>;
    /// expired: 404 <c>wrap_token_expired</c>; lockdown, offboarding or the revocation of the token that wrapped: 404
    /// <c>wrap_token_revoked</c>.
    /// </summary>
    public async Task<byte[]> UnwrapAsync(string? token, AuditDraft audit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(audit);
        if (string.IsNullOrEmpty(token))
        {
            throw KeywardErrors.MissingToken();
        }

        var hash = TokenHasher.Hash(token);
        WrapRecord? known = null;
        if (TokenHasher.IsWellFormed(token, out var kind) && kind == TokenKind.Wrapping)
        {
            await using var session = await _store.ReadOneStatementAsync(cancellationToken);
            known = await session.Wraps.GetByHashAsync(hash, cancellationToken);
        }

        if (known is null)
        {
            // Never the token itself: a keyed hash lets attempts with one token be correlated.
            audit.Actor = new AuditActor("unknown", TokenHmac: AuditChain.IdentifierHmac(_keys.Require().AuditIdentifiers, token));
            throw KeywardErrors.InvalidToken();
        }

        var tenant = await _tenants.GetByUidAsync(known.TenantUid, cancellationToken);
        audit.TenantId = tenant?.Id;
        audit.Actor = new AuditActor(TokenKinds.Name(TokenKind.Wrapping), Accessor: known.Accessor);
        audit.Path = known.CreationPath;

        // The ring of the row's tenant: a payload moved to another tenant's row does not open under it.
        var ring = tenant?.State == TenantState.Active && known.State == WrapState.Active ? await _rings.GetAsync(known.TenantUid, cancellationToken) : null;
        return await _committer.ExecuteAsync(audit, async session =>
        {
            var now = _time.GetUtcNow();
            var claimed = await session.Wraps.ClaimAsync(hash, now);
            if (claimed is null)
            {
                throw await RefusalAsync(session, hash, audit, now);
            }

            var current = await session.Tenants.GetByUidAsync(claimed.TenantUid);
            if (ring is null || current?.State != TenantState.Active || (current.RevokedBefore is { } epoch && claimed.CreatedAt <= epoch)
                || (claimed.OwnerAccessor is { } owner && await session.Tokens.GetByAccessorAsync(owner) is not { RevokedAt: null }))
            {
                // Wrapped before a lockdown, or a revocation of the token that made it, that could not see it yet (another
                // node's transaction): revoked all the same.
                await session.Wraps.RevokeAsync(hash);
                throw new RefusalKeepingChanges(KeywardErrors.WrapTokenRevoked());
            }

            try
            {
                return SecretEnvelope.Decrypt(ring, EnvelopeContext.ForWrapping(claimed.TenantUid, claimed.Accessor), claimed.Payload!);
            }
            catch (EnvelopeException)
            {
                // Rolled back with the claim: the altered row stays for whoever investigates, its payload unopened.
                throw KeywardErrors.Undecryptable("wrapping/" + claimed.Accessor, 0);
            }
        });
    }

    /// <summary>Why a claim was not won, from the row as it is now (under the write transaction).</summary>
    private static async Task<KeywardException> RefusalAsync(IWriteSession session, byte[] hash, AuditDraft audit, DateTimeOffset now)
    {
        var row = await session.Wraps.GetByHashAsync(hash);
        switch (row?.State)
        {
            case null:
                return KeywardErrors.InvalidToken();
            case WrapState.Used:
                Anomalies.Flag(audit, row.TenantUid, Anomalies.WrapReuse, null, now);
                if (row.UsedAt is { } usedAt)
                {
                    audit.AddDetail("used_at", Instants.Format(usedAt));
                }

                return KeywardErrors.WrapTokenUsed();
            case WrapState.Revoked:
                return KeywardErrors.WrapTokenRevoked();
            default:
                return KeywardErrors.WrapTokenExpired();
        }
    }
}
