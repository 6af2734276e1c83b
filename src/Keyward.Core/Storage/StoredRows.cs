using System.Data.Common;
using Keyward.Core.Auth.Jwt;
using Keyward.Core.Leases;
using Keyward.Core.Policies;
using Keyward.Core.Rotation;
using Keyward.Core.Secrets;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;

namespace Keyward.Core.Storage;

/// <summary>
/// How both relational engines (SQLite, PostgreSQL) read their rows back: they keep the same tables with the same
/// columns in the same order, instants as UTC ticks (64-bit integers), blobs as bytes and structured columns as
/// <see cref="StoredJson"/>. Each mapper reads the column list its engine's queries select, in that order.
/// </summary>
public static class StoredRows
{
    /// <summary><c>tenants</c>: uid, id, name, state, created_at, updated_at, revoked_before, revocation_pending.</summary>
    public static Tenant Tenant(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), NullableString(r, 2), Enum.Parse<TenantState>(r.GetString(3), ignoreCase: true),
        Instant(r, 4), Instant(r, 5))
    {
        RevokedBefore = NullableInstant(r, 6),
        RevocationPending = r.GetBoolean(7),
    };

    /// <summary><c>tokens</c>, in the column order of the token stores' <c>Columns</c>.</summary>
    public static TokenRecord Token(DbDataReader r)
    {
        if (!TokenKinds.TryParseName(r.GetString(2), out var kind))
        {
            throw new InvalidDataException("A stored token has an unknown kind.");
        }

        var rules = NullableString(r, 10);
        return new TokenRecord(
            r.GetString(0), Blob(r, 1), kind, NullableString(r, 3), NullableString(r, 4),
            NullableString(r, 5), NullableString(r, 6), NullableString(r, 7),
            NullableString(r, 8), NullableString(r, 9), rules is null ? null : StoredJson.ParseRules(rules),
            Instant(r, 11), NullableInstant(r, 12), NullableInstant(r, 13))
        {
            SessionTtl = r.IsDBNull(14) ? null : TimeSpan.FromSeconds(r.GetInt64(14)),
            UsedAt = NullableInstant(r, 15),
            UsedBy = NullableString(r, 16),
            MaxExpiresAt = NullableInstant(r, 17),
            RevokedReason = NullableString(r, 18),
            RetainUntil = NullableInstant(r, 19),
        };
    }

    /// <summary><c>roles</c>: tenant_uid, name, rules, max_ttl_seconds, may_spawn, created_at, updated_at.</summary>
    public static Role Role(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), RuleSet.FromSpecs(StoredJson.ParseRules(r.GetString(2))), TimeSpan.FromSeconds(r.GetInt64(3)),
        StoredJson.ParseStrings(r.GetString(4)), Instant(r, 5), Instant(r, 6));

    /// <summary><c>jwt_issuers</c>, in the column order of the issuer stores' queries.</summary>
    public static JwtIssuer JwtIssuer(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), JwtIssuerJson.ParseKeys(r.GetString(4)),
        StoredJson.ParseStrings(r.GetString(5)), JwtIssuerJson.ParseBindings(r.GetString(6)), TimeSpan.FromSeconds(r.GetInt64(7)),
        Instant(r, 8), Instant(r, 9));

    /// <summary><c>engine_configs</c>, in the column order of the engine config stores' queries.</summary>
    public static Engines.EngineConfig EngineConfig(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt32(5),
        r.IsDBNull(6) ? null : Blob(r, 6), r.GetInt64(7), Instant(r, 8), Instant(r, 9));

    /// <summary><c>wraps</c>, in the column order of the wrap stores' queries.</summary>
    public static Wrapping.WrapRecord Wrap(DbDataReader r) => new(
        r.GetString(0), Blob(r, 1), r.GetString(2), r.GetString(3), Instant(r, 4), Instant(r, 5), r.GetInt32(6),
        r.IsDBNull(7) ? null : Blob(r, 7), NullableInstant(r, 8), Wrapping.WrapStates.Parse(r.GetString(9)), NullableString(r, 10));

    /// <summary><c>leases</c>, in the column order of the lease stores' queries.</summary>
    public static LeaseRecord Lease(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), NullableString(r, 5),
        Instant(r, 6), Instant(r, 7), Instant(r, 8), NullableInstant(r, 9),
        r.GetString(10) switch { "pending" => CleanupState.Pending, "done" => CleanupState.Done, _ => CleanupState.None },
        r.GetInt32(11), NullableInstant(r, 12), NullableString(r, 13));

    /// <summary><c>secrets</c> (metadata), in the column order of the secret stores' queries.</summary>
    public static SecretMetadata SecretMetadata(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetInt32(3), StoredJson.ParseMap(r.GetString(4)),
        Instant(r, 5), Instant(r, 6))
    {
        LatestVersion = r.GetInt64(7),
        PendingVersion = r.IsDBNull(8) ? null : r.GetInt64(8),
        PreviousVersion = r.IsDBNull(9) ? null : r.GetInt64(9),
        PreviousSince = NullableInstant(r, 10),
        Epoch = r.GetInt64(11),
        Rotation = RotationPolicy.FromJson(NullableString(r, 12)),
        Uses = r.GetInt64(13),
        NextRotationAt = NullableInstant(r, 14),
    };

    /// <summary><c>secret_versions</c> from column <paramref name="o"/>: version, key_version, ciphertext, created_at, deleted_at, destroyed_at.</summary>
    public static SecretVersion SecretVersion(DbDataReader r, string tenantUid, string path, int o, bool withCiphertext) => new(
        tenantUid, path, r.GetInt64(o), r.GetInt32(o + 1), withCiphertext && !r.IsDBNull(o + 2) ? Blob(r, o + 2) : null,
        Instant(r, o + 3), NullableInstant(r, o + 4), NullableInstant(r, o + 5));

    public static DateTimeOffset Instant(DbDataReader r, int ordinal) => new(r.GetInt64(ordinal), TimeSpan.Zero);

    public static DateTimeOffset? NullableInstant(DbDataReader r, int ordinal) => r.IsDBNull(ordinal) ? null : Instant(r, ordinal);

    public static string? NullableString(DbDataReader r, int ordinal) => r.IsDBNull(ordinal) ? null : r.GetString(ordinal);

    public static byte[] Blob(DbDataReader r, int ordinal) => r.GetFieldValue<byte[]>(ordinal);

    public static byte[]? NullableBlob(DbDataReader r, int ordinal) => r.IsDBNull(ordinal) ? null : Blob(r, ordinal);

    /// <summary><c>audit_head</c>: seq, hash (NULL: the genesis row PostgreSQL's first migration inserts), mac.</summary>
    public static Audit.AuditHead AuditHead(DbDataReader r) =>
        r.IsDBNull(1) ? Audit.AuditHead.Genesis : new(r.GetInt64(0), Blob(r, 1), NullableBlob(r, 2));
}
