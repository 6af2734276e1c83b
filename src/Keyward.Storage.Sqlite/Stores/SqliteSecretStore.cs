using Keyward.Core.Secrets;
using Keyward.Core.Storage;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteSecretStore(SqliteConnectionLease db) : ISecretStore
{
    private const string MetadataColumns =
        "m.tenant_uid, m.path, m.current_version, m.max_versions, m.custom_metadata, m.created_at, m.updated_at, m.latest_version, " +
        "m.pending_version, m.previous_version, m.previous_since, m.epoch, m.rotation, m.uses, m.next_rotation_at";

    private const int VersionOffset = 15;
    private const string VersionColumns = "v.version, v.key_version, v.ciphertext, v.created_at, v.deleted_at, v.destroyed_at";

    // A path under a prefix starts with prefix + '/': the range ['prefix/', 'prefix0') holds exactly those ('0' follows '/').
    private const string UnderPrefix = "(path = $prefix OR (path >= $prefix || '/' AND path < $prefix || '0'))";

    public Task<SecretMetadata?> GetMetadataAsync(string tenantUid, string path, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query($"SELECT {MetadataColumns} FROM secrets m WHERE m.tenant_uid = $uid AND m.path = $path", ("$uid", tenantUid), ("$path", path));
        return Task.FromResult(reader.Read() ? StoredRows.SecretMetadata(reader) : null);
    }

    public Task UpsertMetadataAsync(SecretMetadata m, CancellationToken cancellationToken = default)
    {
        db.Execute(
            """
            INSERT INTO secrets (tenant_uid, path, current_version, max_versions, custom_metadata, created_at, updated_at, latest_version,
                pending_version, previous_version, previous_since, epoch, rotation, uses, next_rotation_at)
            VALUES ($uid, $path, $current, $max, $custom, $created, $updated, $latest, $pending, $previous, $previous_since, $epoch, $rotation,
                $uses, $next_rotation)
            ON CONFLICT (tenant_uid, path) DO UPDATE SET current_version = excluded.current_version, max_versions = excluded.max_versions,
                custom_metadata = excluded.custom_metadata, updated_at = excluded.updated_at, latest_version = excluded.latest_version,
                pending_version = excluded.pending_version, previous_version = excluded.previous_version,
                previous_since = excluded.previous_since, epoch = excluded.epoch, rotation = excluded.rotation, uses = excluded.uses,
                next_rotation_at = excluded.next_rotation_at
            """,
            ("$uid", m.TenantUid), ("$path", m.Path), ("$current", m.CurrentVersion), ("$max", m.MaxVersions),
            ("$custom", StoredJson.Map(m.CustomMetadata)), ("$created", SqliteValues.Ticks(m.CreatedAt)), ("$updated", SqliteValues.Ticks(m.UpdatedAt)),
            ("$latest", m.LatestVersion), ("$pending", m.PendingVersion), ("$previous", m.PreviousVersion),
            ("$previous_since", SqliteValues.Ticks(m.PreviousSince)), ("$epoch", m.Epoch), ("$rotation", m.Rotation?.ToJson()), ("$uses", m.Uses),
            ("$next_rotation", SqliteValues.Ticks(m.NextRotationAt)));
        return Task.CompletedTask;
    }

    public Task<bool> DeleteAllAsync(string tenantUid, string path, CancellationToken cancellationToken = default)
    {
        db.Execute("DELETE FROM secret_versions WHERE tenant_uid = $uid AND path = $path", ("$uid", tenantUid), ("$path", path));
        return Task.FromResult(db.Execute("DELETE FROM secrets WHERE tenant_uid = $uid AND path = $path", ("$uid", tenantUid), ("$path", path)) == 1);
    }

    public Task<(SecretMetadata Metadata, SecretVersion? Version)?> ReadAsync(
        string tenantUid, string path, long? version, SecretStage stage = SecretStage.Current, CancellationToken cancellationToken = default)
    {
        var staged = stage switch
        {
            SecretStage.Pending => "m.pending_version",
            SecretStage.Previous => "m.previous_version",
            _ => "m.current_version",
        };
        using var reader = db.Query(
            $"""
            SELECT {MetadataColumns}, {VersionColumns}
            FROM secrets m LEFT JOIN secret_versions v
              ON v.tenant_uid = m.tenant_uid AND v.path = m.path AND v.version = COALESCE($version, {staged})
            WHERE m.tenant_uid = $uid AND m.path = $path
            """,
            ("$uid", tenantUid), ("$path", path), ("$version", version));
        if (!reader.Read())
        {
            return Task.FromResult<(SecretMetadata, SecretVersion?)?>(null);
        }

        var metadata = StoredRows.SecretMetadata(reader);
        var stored = reader.IsDBNull(VersionOffset) ? null : StoredRows.SecretVersion(reader, tenantUid, path, VersionOffset, withCiphertext: true);
        return Task.FromResult<(SecretMetadata, SecretVersion?)?>((metadata, stored));
    }

    public Task<long?> CountUseAsync(string tenantUid, string path, CancellationToken cancellationToken = default) =>
        Task.FromResult((long?)db.Scalar(
            "UPDATE secrets SET uses = uses + 1 WHERE tenant_uid = $uid AND path = $path RETURNING uses", ("$uid", tenantUid), ("$path", path)));

    public Task<IReadOnlyList<(string TenantUid, string Path)>> ClaimDueRotationsAsync(
        DateTimeOffset now, string node, DateTimeOffset until, int limit, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query(
            """
            UPDATE secrets SET claimed_by = $node, claimed_until = $until
            WHERE rowid IN (
                SELECT rowid FROM secrets
                WHERE next_rotation_at IS NOT NULL AND next_rotation_at <= $now AND (claimed_until IS NULL OR claimed_until <= $now)
                ORDER BY next_rotation_at LIMIT $limit)
            RETURNING tenant_uid, path
            """,
            ("$node", node), ("$until", SqliteValues.Ticks(until)), ("$now", SqliteValues.Ticks(now)), ("$limit", limit));
        var claimed = new List<(string, string)>();
        while (reader.Read())
        {
            claimed.Add((reader.GetString(0), reader.GetString(1)));
        }

        return Task.FromResult<IReadOnlyList<(string TenantUid, string Path)>>(claimed);
    }

    public Task<bool> HoldsRotationClaimAsync(string tenantUid, string path, string node, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Scalar(
            "SELECT 1 FROM secrets WHERE tenant_uid = $uid AND path = $path AND claimed_by = $node AND claimed_until > $now",
            ("$uid", tenantUid), ("$path", path), ("$node", node), ("$now", SqliteValues.Ticks(now))) is not null);

    public Task ReleaseRotationClaimAsync(string tenantUid, string path, string node, CancellationToken cancellationToken = default)
    {
        db.Execute(
            "UPDATE secrets SET claimed_by = NULL, claimed_until = NULL WHERE tenant_uid = $uid AND path = $path AND claimed_by = $node",
            ("$uid", tenantUid), ("$path", path), ("$node", node));
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<SecretVersion>> ListVersionsAsync(string tenantUid, string path, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query(
            "SELECT v.version, v.key_version, NULL, v.created_at, v.deleted_at, v.destroyed_at FROM secret_versions v WHERE v.tenant_uid = $uid AND v.path = $path ORDER BY v.version",
            ("$uid", tenantUid), ("$path", path));
        var list = new List<SecretVersion>();
        while (reader.Read())
        {
            list.Add(StoredRows.SecretVersion(reader, tenantUid, path, 0, withCiphertext: false));
        }

        return Task.FromResult<IReadOnlyList<SecretVersion>>(list);
    }

    public Task InsertVersionAsync(SecretVersion v, CancellationToken cancellationToken = default)
    {
        db.Execute(
            """
            INSERT INTO secret_versions (tenant_uid, path, version, key_version, ciphertext, created_at, deleted_at, destroyed_at)
            VALUES ($uid, $path, $version, $key, $ct, $created, $deleted, $destroyed)
            """,
            ("$uid", v.TenantUid), ("$path", v.Path), ("$version", v.Version), ("$key", v.KeyVersion), ("$ct", v.Ciphertext),
            ("$created", SqliteValues.Ticks(v.CreatedAt)), ("$deleted", SqliteValues.Ticks(v.DeletedAt)), ("$destroyed", SqliteValues.Ticks(v.DestroyedAt)));
        return Task.CompletedTask;
    }

    public Task<int> SetDeletedAsync(string tenantUid, string path, IReadOnlyCollection<long> versions, DateTimeOffset? at, CancellationToken cancellationToken = default)
    {
        var changed = 0;
        foreach (var version in versions)
        {
            changed += db.Execute(
                "UPDATE secret_versions SET deleted_at = $at WHERE tenant_uid = $uid AND path = $path AND version = $version AND destroyed_at IS NULL",
                ("$at", SqliteValues.Ticks(at)), ("$uid", tenantUid), ("$path", path), ("$version", version));
        }

        return Task.FromResult(changed);
    }

    public Task<int> DestroyAsync(string tenantUid, string path, IReadOnlyCollection<long> versions, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        var changed = 0;
        foreach (var version in versions)
        {
            changed += db.Execute(
                "UPDATE secret_versions SET ciphertext = NULL, destroyed_at = $at WHERE tenant_uid = $uid AND path = $path AND version = $version AND destroyed_at IS NULL",
                ("$at", SqliteValues.Ticks(at)), ("$uid", tenantUid), ("$path", path), ("$version", version));
        }

        return Task.FromResult(changed);
    }

    public Task<int> PruneAsync(string tenantUid, string path, long keepFrom, IReadOnlyCollection<long> keep, CancellationToken cancellationToken = default)
    {
        var kept = keep.Count == 0 ? "" : " AND version NOT IN (" + string.Join(',', keep.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture))) + ")";
        return Task.FromResult(db.Execute($"DELETE FROM secret_versions WHERE tenant_uid = $uid AND path = $path AND version < $keep{kept}",
            ("$uid", tenantUid), ("$path", path), ("$keep", keepFrom)));
    }

    public Task<IReadOnlyList<string>> ListPathsAsync(string tenantUid, string prefix, CancellationToken cancellationToken = default)
    {
        using var reader = prefix.Length == 0
            ? db.Query("SELECT path FROM secrets WHERE tenant_uid = $uid ORDER BY path", ("$uid", tenantUid))
            : db.Query($"SELECT path FROM secrets WHERE tenant_uid = $uid AND {UnderPrefix} ORDER BY path", ("$uid", tenantUid), ("$prefix", prefix));
        var list = new List<string>();
        while (reader.Read())
        {
            list.Add(reader.GetString(0));
        }

        return Task.FromResult<IReadOnlyList<string>>(list);
    }

    public Task<IReadOnlyList<RewrapCandidate>> ListForRewrapAsync(
        string tenantUid, int keyVersion, (string Path, long Version)? after, int limit, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query(
            """
            SELECT path, version, key_version, ciphertext FROM secret_versions
            WHERE tenant_uid = $uid AND key_version < $key AND ciphertext IS NOT NULL
              AND (path > $path OR (path = $path AND version > $version))
            ORDER BY path, version LIMIT $limit
            """,
            ("$uid", tenantUid), ("$key", keyVersion), ("$path", after?.Path ?? ""), ("$version", after?.Version ?? 0), ("$limit", limit));
        var list = new List<RewrapCandidate>();
        while (reader.Read())
        {
            list.Add(new RewrapCandidate(reader.GetString(0), reader.GetInt64(1), reader.GetInt32(2), StoredRows.Blob(reader, 3)));
        }

        return Task.FromResult<IReadOnlyList<RewrapCandidate>>(list);
    }

    public Task<long> CountForRewrapAsync(string tenantUid, int keyVersion, CancellationToken cancellationToken = default) =>
        Task.FromResult((long)db.Scalar(
            "SELECT COUNT(*) FROM secret_versions WHERE tenant_uid = $uid AND key_version < $key AND ciphertext IS NOT NULL",
            ("$uid", tenantUid), ("$key", keyVersion))!);

    public Task<bool> ReplaceCiphertextAsync(
        string tenantUid, string path, long version, int expectedKeyVersion, int newKeyVersion, byte[] ciphertext, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute(
            """
            UPDATE secret_versions SET ciphertext = $ct, key_version = $new
            WHERE tenant_uid = $uid AND path = $path AND version = $version AND key_version = $expected AND ciphertext IS NOT NULL
            """,
            ("$ct", ciphertext), ("$new", newKeyVersion), ("$uid", tenantUid), ("$path", path), ("$version", version), ("$expected", expectedKeyVersion)) == 1);
}
