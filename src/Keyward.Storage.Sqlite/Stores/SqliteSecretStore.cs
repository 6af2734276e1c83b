using Keyward.Core.Secrets;
using Keyward.Core.Storage;
using Microsoft.Data.Sqlite;

namespace Keyward.Storage.Sqlite.Stores;

internal sealed class SqliteSecretStore(SqliteConnectionLease db) : ISecretStore
{
    private const string MetadataColumns = "m.tenant_uid, m.path, m.current_version, m.max_versions, m.custom_metadata, m.created_at, m.updated_at";
    private const string VersionColumns = "v.version, v.key_version, v.ciphertext, v.created_at, v.deleted_at, v.destroyed_at";

    // A path under a prefix starts with prefix + '/': the range ['prefix/', 'prefix0') holds exactly those ('0' follows '/').
    private const string UnderPrefix = "(path = $prefix OR (path >= $prefix || '/' AND path < $prefix || '0'))";

    public Task<SecretMetadata?> GetMetadataAsync(string tenantUid, string path, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query($"SELECT {MetadataColumns} FROM secrets m WHERE m.tenant_uid = $uid AND m.path = $path", ("$uid", tenantUid), ("$path", path));
        return Task.FromResult(reader.Read() ? MapMetadata(reader) : null);
    }

    public Task UpsertMetadataAsync(SecretMetadata m, CancellationToken cancellationToken = default)
    {
        db.Execute(
            """
            INSERT INTO secrets (tenant_uid, path, current_version, max_versions, custom_metadata, created_at, updated_at)
            VALUES ($uid, $path, $current, $max, $custom, $created, $updated)
            ON CONFLICT (tenant_uid, path) DO UPDATE SET current_version = excluded.current_version, max_versions = excluded.max_versions,
                custom_metadata = excluded.custom_metadata, updated_at = excluded.updated_at
            """,
            ("$uid", m.TenantUid), ("$path", m.Path), ("$current", m.CurrentVersion), ("$max", m.MaxVersions),
            ("$custom", StoredJson.Map(m.CustomMetadata)), ("$created", SqliteValues.Ticks(m.CreatedAt)), ("$updated", SqliteValues.Ticks(m.UpdatedAt)));
        return Task.CompletedTask;
    }

    public Task<bool> DeleteAllAsync(string tenantUid, string path, CancellationToken cancellationToken = default)
    {
        db.Execute("DELETE FROM secret_versions WHERE tenant_uid = $uid AND path = $path", ("$uid", tenantUid), ("$path", path));
        return Task.FromResult(db.Execute("DELETE FROM secrets WHERE tenant_uid = $uid AND path = $path", ("$uid", tenantUid), ("$path", path)) == 1);
    }

    public Task<(SecretMetadata Metadata, SecretVersion? Version)?> ReadAsync(string tenantUid, string path, long? version, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query(
            $"""
            SELECT {MetadataColumns}, {VersionColumns}
            FROM secrets m LEFT JOIN secret_versions v
              ON v.tenant_uid = m.tenant_uid AND v.path = m.path AND v.version = COALESCE($version, m.current_version)
            WHERE m.tenant_uid = $uid AND m.path = $path
            """,
            ("$uid", tenantUid), ("$path", path), ("$version", version));
        if (!reader.Read())
        {
            return Task.FromResult<(SecretMetadata, SecretVersion?)?>(null);
        }

        var metadata = MapMetadata(reader);
        var stored = reader.IsDBNull(7) ? null : MapVersion(reader, tenantUid, path, 7, withCiphertext: true);
        return Task.FromResult<(SecretMetadata, SecretVersion?)?>((metadata, stored));
    }

    public Task<IReadOnlyList<SecretVersion>> ListVersionsAsync(string tenantUid, string path, CancellationToken cancellationToken = default)
    {
        using var reader = db.Query(
            "SELECT v.version, v.key_version, NULL, v.created_at, v.deleted_at, v.destroyed_at FROM secret_versions v WHERE v.tenant_uid = $uid AND v.path = $path ORDER BY v.version",
            ("$uid", tenantUid), ("$path", path));
        var list = new List<SecretVersion>();
        while (reader.Read())
        {
            list.Add(MapVersion(reader, tenantUid, path, 0, withCiphertext: false));
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

    public Task<int> PruneAsync(string tenantUid, string path, long keepFrom, CancellationToken cancellationToken = default) =>
        Task.FromResult(db.Execute("DELETE FROM secret_versions WHERE tenant_uid = $uid AND path = $path AND version < $keep",
            ("$uid", tenantUid), ("$path", path), ("$keep", keepFrom)));

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
            list.Add(new RewrapCandidate(reader.GetString(0), reader.GetInt64(1), reader.GetInt32(2), SqliteValues.Blob(reader, 3)));
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

    private static SecretMetadata MapMetadata(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetInt32(3), StoredJson.ParseMap(r.GetString(4)),
        SqliteValues.Instant(r, 5), SqliteValues.Instant(r, 6));

    private static SecretVersion MapVersion(SqliteDataReader r, string tenantUid, string path, int o, bool withCiphertext) => new(
        tenantUid, path, r.GetInt64(o), r.GetInt32(o + 1), withCiphertext ? SqliteValues.NullableBlob(r, o + 2) : null,
        SqliteValues.Instant(r, o + 3), SqliteValues.NullableInstant(r, o + 4), SqliteValues.NullableInstant(r, o + 5));
}
