using Keyward.Core.Secrets;
using Keyward.Core.Storage;

namespace Keyward.Storage.Postgres.Stores;

internal sealed class PostgresSecretStore(PostgresDb db) : ISecretStore
{
    internal const string MetadataColumns =
        "m.tenant_uid, m.path, m.current_version, m.max_versions, m.custom_metadata, m.created_at, m.updated_at, m.latest_version, " +
        "m.pending_version, m.previous_version, m.previous_since, m.epoch, m.rotation, m.uses, m.next_rotation_at";

    internal const int VersionOffset = 15;
    private const string VersionColumns = "v.version, v.key_version, v.ciphertext, v.created_at, v.deleted_at, v.destroyed_at";

    // A path under a prefix starts with prefix + '/': the range ['prefix/', 'prefix0') holds exactly those ('0' follows '/'),
    // in the columns' "C" collation.
    private const string UnderPrefix = "(path = @prefix OR (path >= @prefix || '/' AND path < @prefix || '0'))";

    /// <summary>
    /// In a write session the row is locked (<c>FOR UPDATE</c>): every read-modify-write of a secret's metadata (writes,
    /// promotions, rollbacks, counted uses) is serialized per path, on this node and across nodes.
    /// </summary>
    public Task<SecretMetadata?> GetMetadataAsync(string tenantUid, string path, CancellationToken cancellationToken = default) =>
        db.FirstOrDefaultAsync<SecretMetadata?>(
            $"SELECT {MetadataColumns} FROM secrets m WHERE m.tenant_uid = @uid AND m.path = @path" + (db.Write ? " FOR UPDATE" : ""),
            [("uid", tenantUid), ("path", path)], StoredRows.SecretMetadata, cancellationToken);

    public Task UpsertMetadataAsync(SecretMetadata m, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            """
            INSERT INTO secrets (tenant_uid, path, current_version, max_versions, custom_metadata, created_at, updated_at, latest_version,
                pending_version, previous_version, previous_since, epoch, rotation, uses, next_rotation_at)
            VALUES (@uid, @path, @current, @max, @custom, @created, @updated, @latest, @pending, @previous, @previous_since, @epoch, @rotation,
                @uses, @next_rotation)
            ON CONFLICT (tenant_uid, path) DO UPDATE SET current_version = excluded.current_version, max_versions = excluded.max_versions,
                custom_metadata = excluded.custom_metadata, updated_at = excluded.updated_at, latest_version = excluded.latest_version,
                pending_version = excluded.pending_version, previous_version = excluded.previous_version,
                previous_since = excluded.previous_since, epoch = excluded.epoch, rotation = excluded.rotation, uses = excluded.uses,
                next_rotation_at = excluded.next_rotation_at
            """,
            [("uid", m.TenantUid), ("path", m.Path), ("current", m.CurrentVersion), ("max", m.MaxVersions),
                ("custom", StoredJson.Map(m.CustomMetadata)), ("created", PostgresValues.Ticks(m.CreatedAt)), ("updated", PostgresValues.Ticks(m.UpdatedAt)),
                ("latest", m.LatestVersion), ("pending", m.PendingVersion), ("previous", m.PreviousVersion),
                ("previous_since", PostgresValues.Ticks(m.PreviousSince)), ("epoch", m.Epoch), ("rotation", m.Rotation?.ToJson()), ("uses", m.Uses),
                ("next_rotation", PostgresValues.Ticks(m.NextRotationAt))],
            cancellationToken);

    public async Task<bool> DeleteAllAsync(string tenantUid, string path, CancellationToken cancellationToken = default)
    {
        await db.ExecuteAsync("DELETE FROM secret_versions WHERE tenant_uid = @uid AND path = @path", [("uid", tenantUid), ("path", path)], cancellationToken);
        return await db.ExecuteAsync("DELETE FROM secrets WHERE tenant_uid = @uid AND path = @path", [("uid", tenantUid), ("path", path)], cancellationToken) == 1;
    }

    public async Task<(SecretMetadata Metadata, SecretVersion? Version)?> ReadAsync(
        string tenantUid, string path, long? version, SecretStage stage = SecretStage.Current, CancellationToken cancellationToken = default)
    {
        var staged = stage switch
        {
            SecretStage.Pending => "m.pending_version",
            SecretStage.Previous => "m.previous_version",
            _ => "m.current_version",
        };
        var rows = await db.ListAsync(
            $"""
            SELECT {MetadataColumns}, {VersionColumns}
            FROM secrets m LEFT JOIN secret_versions v
              ON v.tenant_uid = m.tenant_uid AND v.path = m.path AND v.version = COALESCE(@version::bigint, {staged})
            WHERE m.tenant_uid = @uid AND m.path = @path
            """,
            [("uid", tenantUid), ("path", path), ("version", version)],
            r => (StoredRows.SecretMetadata(r), r.IsDBNull(VersionOffset) ? null : StoredRows.SecretVersion(r, tenantUid, path, VersionOffset, withCiphertext: true)),
            cancellationToken);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>Atomic: one <c>UPDATE … RETURNING</c>, which also locks the row for the rest of the transaction.</summary>
    public async Task<long?> CountUseAsync(string tenantUid, string path, CancellationToken cancellationToken = default) =>
        (long?)await db.ScalarAsync(
            "UPDATE secrets SET uses = uses + 1 WHERE tenant_uid = @uid AND path = @path RETURNING uses", [("uid", tenantUid), ("path", path)], cancellationToken);

    /// <summary>
    /// The due rows are picked <c>FOR UPDATE SKIP LOCKED</c>: a row another node is claiming (or changing) right now is
    /// skipped rather than waited for, so two nodes never claim one secret and never block each other. A row whose claim
    /// another node committed between this statement's snapshot and its lock is re-checked against the conditions and
    /// left out.
    /// </summary>
    public async Task<IReadOnlyList<(string TenantUid, string Path)>> ClaimDueRotationsAsync(
        DateTimeOffset now, string node, DateTimeOffset until, int limit, CancellationToken cancellationToken = default) =>
        await db.ListAsync(
            """
            UPDATE secrets s SET claimed_by = @node, claimed_until = @until
            FROM (
                SELECT tenant_uid, path FROM secrets
                WHERE next_rotation_at IS NOT NULL AND next_rotation_at <= @now AND (claimed_until IS NULL OR claimed_until <= @now)
                ORDER BY next_rotation_at LIMIT @limit
                FOR UPDATE SKIP LOCKED) due
            WHERE s.tenant_uid = due.tenant_uid AND s.path = due.path
            RETURNING s.tenant_uid, s.path
            """,
            [("node", node), ("until", PostgresValues.Ticks(until)), ("now", PostgresValues.Ticks(now)), ("limit", limit)],
            r => (r.GetString(0), r.GetString(1)),
            cancellationToken);

    public async Task<bool> HoldsRotationClaimAsync(string tenantUid, string path, string node, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        await db.ScalarAsync(
            "SELECT 1 FROM secrets WHERE tenant_uid = @uid AND path = @path AND claimed_by = @node AND claimed_until > @now",
            [("uid", tenantUid), ("path", path), ("node", node), ("now", PostgresValues.Ticks(now))], cancellationToken) is not null;

    public Task ReleaseRotationClaimAsync(string tenantUid, string path, string node, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "UPDATE secrets SET claimed_by = NULL, claimed_until = NULL WHERE tenant_uid = @uid AND path = @path AND claimed_by = @node",
            [("uid", tenantUid), ("path", path), ("node", node)], cancellationToken);

    public async Task<IReadOnlyList<SecretVersion>> ListVersionsAsync(string tenantUid, string path, CancellationToken cancellationToken = default) =>
        await db.ListAsync(
            "SELECT v.version, v.key_version, NULL, v.created_at, v.deleted_at, v.destroyed_at FROM secret_versions v " +
            "WHERE v.tenant_uid = @uid AND v.path = @path ORDER BY v.version",
            [("uid", tenantUid), ("path", path)], r => StoredRows.SecretVersion(r, tenantUid, path, 0, withCiphertext: false), cancellationToken);

    public Task InsertVersionAsync(SecretVersion v, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            """
            INSERT INTO secret_versions (tenant_uid, path, version, key_version, ciphertext, created_at, deleted_at, destroyed_at)
            VALUES (@uid, @path, @version, @key, @ct, @created, @deleted, @destroyed)
            """,
            [("uid", v.TenantUid), ("path", v.Path), ("version", v.Version), ("key", v.KeyVersion), ("ct", v.Ciphertext),
                ("created", PostgresValues.Ticks(v.CreatedAt)), ("deleted", PostgresValues.Ticks(v.DeletedAt)), ("destroyed", PostgresValues.Ticks(v.DestroyedAt))],
            cancellationToken);

    public Task<int> SetDeletedAsync(string tenantUid, string path, IReadOnlyCollection<long> versions, DateTimeOffset? at, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "UPDATE secret_versions SET deleted_at = @at::bigint WHERE tenant_uid = @uid AND path = @path AND version = ANY(@versions) AND destroyed_at IS NULL",
            [("at", PostgresValues.Ticks(at)), ("uid", tenantUid), ("path", path), ("versions", versions.Distinct().ToArray())], cancellationToken);

    public Task<int> DestroyAsync(string tenantUid, string path, IReadOnlyCollection<long> versions, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "UPDATE secret_versions SET ciphertext = NULL, destroyed_at = @at " +
            "WHERE tenant_uid = @uid AND path = @path AND version = ANY(@versions) AND destroyed_at IS NULL",
            [("at", PostgresValues.Ticks(at)), ("uid", tenantUid), ("path", path), ("versions", versions.Distinct().ToArray())], cancellationToken);

    public Task<int> PruneAsync(string tenantUid, string path, long keepFrom, IReadOnlyCollection<long> keep, CancellationToken cancellationToken = default) =>
        db.ExecuteAsync(
            "DELETE FROM secret_versions WHERE tenant_uid = @uid AND path = @path AND version < @keep AND version <> ALL(@kept)",
            [("uid", tenantUid), ("path", path), ("keep", keepFrom), ("kept", keep.ToArray())], cancellationToken);

    public async Task<IReadOnlyList<string>> ListPathsAsync(string tenantUid, string prefix, CancellationToken cancellationToken = default) =>
        prefix.Length == 0
            ? await db.ListAsync("SELECT path FROM secrets WHERE tenant_uid = @uid ORDER BY path", [("uid", tenantUid)], r => r.GetString(0), cancellationToken)
            : await db.ListAsync($"SELECT path FROM secrets WHERE tenant_uid = @uid AND {UnderPrefix} ORDER BY path",
                [("uid", tenantUid), ("prefix", prefix)], r => r.GetString(0), cancellationToken);

    public async Task<IReadOnlyList<RewrapCandidate>> ListForRewrapAsync(
        string tenantUid, int keyVersion, (string Path, long Version)? after, int limit, CancellationToken cancellationToken = default) =>
        await db.ListAsync(
            """
            SELECT path, version, key_version, ciphertext FROM secret_versions
            WHERE tenant_uid = @uid AND key_version < @key AND ciphertext IS NOT NULL
              AND (path > @path OR (path = @path AND version > @version))
            ORDER BY path, version LIMIT @limit
            """,
            [("uid", tenantUid), ("key", keyVersion), ("path", after?.Path ?? ""), ("version", after?.Version ?? 0), ("limit", limit)],
            r => new RewrapCandidate(r.GetString(0), r.GetInt64(1), r.GetInt32(2), StoredRows.Blob(r, 3)),
            cancellationToken);

    public async Task<long> CountForRewrapAsync(string tenantUid, int keyVersion, CancellationToken cancellationToken = default) =>
        (long)(await db.ScalarAsync(
            "SELECT count(*) FROM secret_versions WHERE tenant_uid = @uid AND key_version < @key AND ciphertext IS NOT NULL",
            [("uid", tenantUid), ("key", keyVersion)], cancellationToken))!;

    /// <summary>Atomic: a conditional update; a ciphertext destroyed or rewrapped meanwhile is left alone.</summary>
    public async Task<bool> ReplaceCiphertextAsync(
        string tenantUid, string path, long version, int expectedKeyVersion, int newKeyVersion, byte[] ciphertext, CancellationToken cancellationToken = default) =>
        await db.ExecuteAsync(
            """
            UPDATE secret_versions SET ciphertext = @ct, key_version = @new
            WHERE tenant_uid = @uid AND path = @path AND version = @version AND key_version = @expected AND ciphertext IS NOT NULL
            """,
            [("ct", ciphertext), ("new", newKeyVersion), ("uid", tenantUid), ("path", path), ("version", version), ("expected", expectedKeyVersion)],
            cancellationToken) == 1;
}
