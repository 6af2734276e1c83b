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
        (2, """
            ALTER TABLE tokens ADD COLUMN session_ttl_seconds INTEGER;
            ALTER TABLE tokens ADD COLUMN used_at INTEGER;
            ALTER TABLE tokens ADD COLUMN used_by TEXT;
            ALTER TABLE tokens ADD COLUMN max_expires_at INTEGER;
            ALTER TABLE tokens ADD COLUMN revoked_reason TEXT;
            ALTER TABLE tokens ADD COLUMN retain_until INTEGER;
            CREATE INDEX tokens_by_run ON tokens (tenant_uid, run_id) WHERE run_id IS NOT NULL;
            CREATE INDEX tokens_by_expiry ON tokens (expires_at);

            CREATE TABLE leases (
                lease_id          TEXT    PRIMARY KEY,
                tenant_uid        TEXT    NOT NULL REFERENCES tenants (uid),
                owner_accessor    TEXT    NOT NULL,
                path              TEXT    NOT NULL,
                engine            TEXT    NOT NULL,
                external          TEXT,
                issued_at         INTEGER NOT NULL,
                expires_at        INTEGER NOT NULL,
                max_expires_at    INTEGER NOT NULL,
                revoked_at        INTEGER,
                cleanup_state     TEXT    NOT NULL DEFAULT 'none',
                cleanup_attempts  INTEGER NOT NULL DEFAULT 0,
                cleanup_next_at   INTEGER,
                cleanup_error     TEXT
            );
            CREATE INDEX leases_by_owner ON leases (owner_accessor);
            CREATE INDEX leases_live_by_tenant ON leases (tenant_uid) WHERE revoked_at IS NULL;
            CREATE INDEX leases_by_expiry ON leases (expires_at);
            CREATE INDEX leases_cleanup_due ON leases (cleanup_next_at) WHERE cleanup_state = 'pending';

            CREATE TABLE events (
                id                INTEGER PRIMARY KEY AUTOINCREMENT,
                tenant_uid        TEXT    NOT NULL,
                type              TEXT    NOT NULL,
                path              TEXT,
                subject_accessor  TEXT,
                data              TEXT    NOT NULL,
                time              INTEGER NOT NULL
            );
            CREATE INDEX events_by_tenant ON events (tenant_uid, id);
            CREATE INDEX events_by_time ON events (time);

            CREATE TABLE tenant_settings (
                tenant_uid  TEXT    PRIMARY KEY REFERENCES tenants (uid),
                anomaly     TEXT    NOT NULL,
                updated_at  INTEGER NOT NULL
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

        // The lockdown's revocation epoch: one row written at once, the per-row marking done in batches afterwards.
        (4, """
            ALTER TABLE tenants ADD COLUMN revoked_before INTEGER;
            ALTER TABLE tenants ADD COLUMN revocation_pending INTEGER NOT NULL DEFAULT 0;
            """),

        // The rotation lifecycle: staged versions (pending, previous; current is current_version), the epoch, the
        // rotation policy (JSON), counted uses, the schedule and the scheduler's claim. Every earlier write made a new
        // current version, so the epoch starts at the number of versions written.
        (5, """
            ALTER TABLE secrets ADD COLUMN latest_version INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE secrets ADD COLUMN pending_version INTEGER;
            ALTER TABLE secrets ADD COLUMN previous_version INTEGER;
            ALTER TABLE secrets ADD COLUMN previous_since INTEGER;
            ALTER TABLE secrets ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE secrets ADD COLUMN rotation TEXT;
            ALTER TABLE secrets ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE secrets ADD COLUMN next_rotation_at INTEGER;
            ALTER TABLE secrets ADD COLUMN claimed_by TEXT;
            ALTER TABLE secrets ADD COLUMN claimed_until INTEGER;
            UPDATE secrets SET latest_version = current_version, epoch = current_version;
            CREATE INDEX secrets_rotation_due ON secrets (next_rotation_at) WHERE next_rotation_at IS NOT NULL;
            """),

        // Secrets engines' configuration (dynamic database credentials): connections and their roles, non-secret
        // settings as JSON, secret fields (a password) sealed under the tenant's key ring.
        (6, """
            CREATE TABLE engine_configs (
                tenant_uid   TEXT    NOT NULL REFERENCES tenants (uid),
                engine       TEXT    NOT NULL,
                name         TEXT    NOT NULL,
                item         TEXT    NOT NULL,
                settings     TEXT    NOT NULL,
                key_version  INTEGER NOT NULL,
                sealed       BLOB,
                version      INTEGER NOT NULL,
                created_at   INTEGER NOT NULL,
                updated_at   INTEGER NOT NULL,
                PRIMARY KEY (tenant_uid, engine, name, item)
            );
            """),

        // Response wrapping: a wrapped response's body sealed under the tenant's key ring, reachable by the wrapping
        // token's hash only; the payload is erased (NULL) once the token is used, expired or revoked, and the row is
        // deleted by the sweeper a while after its expiry.
        (7, """
            CREATE TABLE wraps (
                tenant_uid     TEXT    NOT NULL REFERENCES tenants (uid),
                token_hash     BLOB    NOT NULL PRIMARY KEY,
                accessor       TEXT    NOT NULL UNIQUE,
                creation_path  TEXT    NOT NULL,
                created_at     INTEGER NOT NULL,
                expires_at     INTEGER NOT NULL,
                key_version    INTEGER NOT NULL,
                payload        BLOB,
                used_at        INTEGER,
                state          TEXT    NOT NULL
            );
            CREATE INDEX wraps_by_tenant ON wraps (tenant_uid, state);
            CREATE INDEX wraps_by_expiry ON wraps (expires_at);
            """),

        // Gateway request budgets: per run and integration, the run's own counter (holder '', no limit: the
        // integration's run_budget applies) and the slices handed to agents (holder: the agent's bootstrap accessor).
        (8, """
            CREATE TABLE gateway_budgets (
                tenant_uid   TEXT    NOT NULL REFERENCES tenants (uid),
                integration  TEXT    NOT NULL,
                run_id       TEXT    NOT NULL,
                holder       TEXT    NOT NULL,
                lim          INTEGER,
                used         INTEGER NOT NULL,
                PRIMARY KEY (tenant_uid, integration, run_id, holder)
            );
            """),

        // The audit head's MAC (AuditChain.HeadMac), written with every head by the group committer. An existing head
        // keeps NULL until the next commit (verification reports it as head_mac "missing" meanwhile).
        (9, """
            ALTER TABLE audit_head ADD COLUMN mac BLOB;
            """),

        // Derived (kwd_) tokens revoked one by one: the hash part of the token's id (or of a prefix of its chain), under
        // its session; kept until the session can no longer act.
        (10, """
            CREATE TABLE derived_revocations (
                session_accessor  TEXT    NOT NULL,
                derived_id        TEXT    NOT NULL,
                tenant_uid        TEXT    NOT NULL REFERENCES tenants (uid),
                revoked_at        INTEGER NOT NULL,
                expires_at        INTEGER NOT NULL,
                PRIMARY KEY (session_accessor, derived_id)
            );
            CREATE INDEX derived_revocations_by_expiry ON derived_revocations (expires_at);
            """),

        // A wrap dies with the token that made it: its owner's accessor (NULL for wraps stored before; they expire within
        // 10 minutes of their creation anyway).
        (11, """
            ALTER TABLE wraps ADD COLUMN owner_accessor TEXT;
            """),
    ];

    public static int Latest => All[^1].Version;
}
