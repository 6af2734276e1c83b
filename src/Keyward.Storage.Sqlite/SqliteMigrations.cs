namespace Keyward.Storage.Sqlite;

/// <summary>
/// Schema migrations, versioned in code. Each runs once, in its own transaction, and records its version.
/// Never edit a released migration: add the next one.
/// </summary>
internal static class SqliteMigrations
{
    public static readonly IReadOnlyList<(int Version, string Sql)> All =
    [
        (1, """
            CREATE TABLE seal_config (
                id            INTEGER PRIMARY KEY CHECK (id = 1),
                shares        INTEGER NOT NULL,
                threshold     INTEGER NOT NULL,
                share_set_id  INTEGER NOT NULL,
                root_check    BLOB    NOT NULL,
                created_at    INTEGER NOT NULL
            );

            CREATE TABLE tenants (
                uid         TEXT    PRIMARY KEY,
                id          TEXT    NOT NULL UNIQUE,
                name        TEXT,
                state       TEXT    NOT NULL,
                created_at  INTEGER NOT NULL,
                updated_at  INTEGER NOT NULL
            );

            CREATE TABLE tenant_keys (
                tenant_uid   TEXT    NOT NULL REFERENCES tenants (uid),
                version      INTEGER NOT NULL,
                wrapped_key  BLOB    NOT NULL,
                created_at   INTEGER NOT NULL,
                PRIMARY KEY (tenant_uid, version)
            );

            CREATE TABLE tokens (
                accessor         TEXT    PRIMARY KEY,
                hash             BLOB    NOT NULL UNIQUE,
                kind             TEXT    NOT NULL,
                tenant_uid       TEXT    REFERENCES tenants (uid),
                parent_accessor  TEXT,
                issued_by        TEXT,
                display_name     TEXT,
                role             TEXT,
                agent_id         TEXT,
                run_id           TEXT,
                rules            TEXT,
                created_at       INTEGER NOT NULL,
                expires_at       INTEGER,
                revoked_at       INTEGER
            );
            CREATE INDEX tokens_live_by_tenant ON tokens (tenant_uid) WHERE revoked_at IS NULL;
            CREATE INDEX tokens_by_parent ON tokens (parent_accessor);

            CREATE TABLE roles (
                tenant_uid       TEXT    NOT NULL REFERENCES tenants (uid),
                name             TEXT    NOT NULL,
                rules            TEXT    NOT NULL,
                max_ttl_seconds  INTEGER NOT NULL,
                may_spawn        TEXT    NOT NULL,
                created_at       INTEGER NOT NULL,
                updated_at       INTEGER NOT NULL,
                PRIMARY KEY (tenant_uid, name)
            );

            CREATE TABLE secrets (
                tenant_uid       TEXT    NOT NULL REFERENCES tenants (uid),
                path             TEXT    NOT NULL,
                current_version  INTEGER NOT NULL,
                max_versions     INTEGER NOT NULL,
                custom_metadata  TEXT    NOT NULL,
                created_at       INTEGER NOT NULL,
                updated_at       INTEGER NOT NULL,
                PRIMARY KEY (tenant_uid, path)
            );

            CREATE TABLE secret_versions (
                tenant_uid    TEXT    NOT NULL,
                path          TEXT    NOT NULL,
                version       INTEGER NOT NULL,
                key_version   INTEGER NOT NULL,
                ciphertext    BLOB,
                created_at    INTEGER NOT NULL,
                deleted_at    INTEGER,
                destroyed_at  INTEGER,
                PRIMARY KEY (tenant_uid, path, version),
                FOREIGN KEY (tenant_uid, path) REFERENCES secrets (tenant_uid, path)
            );
            CREATE INDEX secret_versions_for_rewrap ON secret_versions (tenant_uid, key_version) WHERE ciphertext IS NOT NULL;

            CREATE TABLE audit_log (
                seq        INTEGER PRIMARY KEY,
                tenant     TEXT,
                time       INTEGER NOT NULL,
                agent_id   TEXT,
                path       TEXT,
                body       BLOB    NOT NULL,
                prev_hash  BLOB    NOT NULL,
                hash       BLOB    NOT NULL
            );
            CREATE INDEX audit_log_by_tenant ON audit_log (tenant, seq);

            CREATE TABLE audit_head (
                id    INTEGER PRIMARY KEY CHECK (id = 1),
                seq   INTEGER NOT NULL,
                hash  BLOB    NOT NULL
            );

            CREATE TABLE audit_checkpoints (
                seq   INTEGER PRIMARY KEY,
                hash  BLOB    NOT NULL,
                time  INTEGER NOT NULL,
                mac   BLOB    NOT NULL
            );
            """),

        // JWT issuer registrations (workload identity from outside). Keys, audiences and bindings are JSON; keys are
        // public and normalized to JWK parameters. node_id is the registration's node in the token tree.
        (3, """
            CREATE TABLE jwt_issuers (
                tenant_uid          TEXT    NOT NULL REFERENCES tenants (uid),
                name                TEXT    NOT NULL,
                node_id             TEXT    NOT NULL UNIQUE,
                issuer              TEXT    NOT NULL,
                keys                TEXT    NOT NULL,
                audiences           TEXT    NOT NULL,
                bindings            TEXT    NOT NULL,
                clock_skew_seconds  INTEGER NOT NULL,
                created_at          INTEGER NOT NULL,
                updated_at          INTEGER NOT NULL,
                PRIMARY KEY (tenant_uid, name)
            );
            CREATE UNIQUE INDEX jwt_issuers_by_issuer ON jwt_issuers (tenant_uid, issuer);
            """),
    ];

    public static int Latest => All[^1].Version;
}
