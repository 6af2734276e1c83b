namespace Keyward.Storage.Postgres;

/// <summary>
/// Schema migrations, versioned in code. Each runs once, in its own transaction, under an advisory lock (two nodes
/// starting at once take turns: the second finds the version already recorded), and records its version in
/// <c>schema_migrations</c>. Never edit a released migration: add the next one.
/// </summary>
/// <remarks>
/// The mapping from the SQLite schema: instants are <c>bigint</c> UTC ticks (exact to the tick, like SQLite, so an
/// audit checkpoint's MAC over the time's ticks verifies); blobs are <c>bytea</c>; JSON is <c>text</c> (kept byte
/// for byte, as event data is handed to streams verbatim); flags are <c>boolean</c>. Every text column is
/// <c>COLLATE "C"</c>: ordering and the prefix ranges (<c>path &gt;= prefix || '/' AND path &lt; prefix || '0'</c>)
/// must be ordinal, whatever the database's default collation. Version 1 is the SQLite schema as of its version 5,
/// plus two rows that exist from the start: the audit head (so a write session can always lock it) and the event
/// id counter.
/// </remarks>
internal static class PostgresMigrations
{
    /// <summary>The advisory lock key migrations hold (an arbitrary constant: "keyward" in ASCII).</summary>
    public const long LockKey = 0x6B6579776172;

    public static readonly IReadOnlyList<(int Version, string Sql)> All =
    [
        (1, """
            CREATE TABLE seal_config (
                id            integer PRIMARY KEY CHECK (id = 1),
                shares        integer NOT NULL,
                threshold     integer NOT NULL,
                share_set_id  bigint  NOT NULL,
                root_check    bytea   NOT NULL,
                created_at    bigint  NOT NULL
            );

            CREATE TABLE tenants (
                uid                 text COLLATE "C" PRIMARY KEY,
                id                  text COLLATE "C" NOT NULL UNIQUE,
                name                text COLLATE "C",
                state               text COLLATE "C" NOT NULL,
                created_at          bigint  NOT NULL,
                updated_at          bigint  NOT NULL,
                revoked_before      bigint,
                revocation_pending  boolean NOT NULL DEFAULT false
            );

            CREATE TABLE tenant_keys (
                tenant_uid   text COLLATE "C" NOT NULL REFERENCES tenants (uid),
                version      integer NOT NULL,
                wrapped_key  bytea   NOT NULL,
                created_at   bigint  NOT NULL,
                PRIMARY KEY (tenant_uid, version)
            );

            CREATE TABLE tokens (
                accessor             text COLLATE "C" PRIMARY KEY,
                hash                 bytea   NOT NULL UNIQUE,
                kind                 text COLLATE "C" NOT NULL,
                tenant_uid           text COLLATE "C" REFERENCES tenants (uid),
                parent_accessor      text COLLATE "C",
                issued_by            text COLLATE "C",
                display_name         text COLLATE "C",
                role                 text COLLATE "C",
                agent_id             text COLLATE "C",
                run_id               text COLLATE "C",
                rules                text COLLATE "C",
                created_at           bigint  NOT NULL,
                expires_at           bigint,
                revoked_at           bigint,
                session_ttl_seconds  bigint,
                used_at              bigint,
                used_by              text COLLATE "C",
                max_expires_at       bigint,
                revoked_reason       text COLLATE "C",
                retain_until         bigint
            );
            CREATE INDEX tokens_live_by_tenant ON tokens (tenant_uid) WHERE revoked_at IS NULL;
            CREATE INDEX tokens_by_parent ON tokens (parent_accessor);
            CREATE INDEX tokens_by_run ON tokens (tenant_uid, run_id) WHERE run_id IS NOT NULL;
            CREATE INDEX tokens_by_expiry ON tokens (expires_at);

            CREATE TABLE roles (
                tenant_uid       text COLLATE "C" NOT NULL REFERENCES tenants (uid),
                name             text COLLATE "C" NOT NULL,
                rules            text COLLATE "C" NOT NULL,
                max_ttl_seconds  bigint  NOT NULL,
                may_spawn        text COLLATE "C" NOT NULL,
                created_at       bigint  NOT NULL,
                updated_at       bigint  NOT NULL,
                PRIMARY KEY (tenant_uid, name)
            );

            CREATE TABLE secrets (
                tenant_uid        text COLLATE "C" NOT NULL REFERENCES tenants (uid),
                path              text COLLATE "C" NOT NULL,
                current_version   bigint  NOT NULL,
                max_versions      integer NOT NULL,
                custom_metadata   text COLLATE "C" NOT NULL,
                created_at        bigint  NOT NULL,
                updated_at        bigint  NOT NULL,
                latest_version    bigint  NOT NULL DEFAULT 0,
                pending_version   bigint,
                previous_version  bigint,
                previous_since    bigint,
                epoch             bigint  NOT NULL DEFAULT 0,
                rotation          text COLLATE "C",
                uses              bigint  NOT NULL DEFAULT 0,
                next_rotation_at  bigint,
                claimed_by        text COLLATE "C",
                claimed_until     bigint,
                PRIMARY KEY (tenant_uid, path)
            );
            CREATE INDEX secrets_rotation_due ON secrets (next_rotation_at) WHERE next_rotation_at IS NOT NULL;

            CREATE TABLE secret_versions (
                tenant_uid    text COLLATE "C" NOT NULL,
                path          text COLLATE "C" NOT NULL,
                version       bigint  NOT NULL,
                key_version   integer NOT NULL,
                ciphertext    bytea,
                created_at    bigint  NOT NULL,
                deleted_at    bigint,
                destroyed_at  bigint,
                PRIMARY KEY (tenant_uid, path, version),
                FOREIGN KEY (tenant_uid, path) REFERENCES secrets (tenant_uid, path)
            );
            CREATE INDEX secret_versions_for_rewrap ON secret_versions (tenant_uid, key_version) WHERE ciphertext IS NOT NULL;

            CREATE TABLE audit_log (
                seq        bigint  PRIMARY KEY,
                tenant     text COLLATE "C",
                time       bigint  NOT NULL,
                agent_id   text COLLATE "C",
                path       text COLLATE "C",
                body       bytea   NOT NULL,
                prev_hash  bytea   NOT NULL,
                hash       bytea   NOT NULL
            );
            CREATE INDEX audit_log_by_tenant ON audit_log (tenant, seq);

            -- One row from the start (hash NULL = the genesis head), so every write session can lock it FOR UPDATE.
            CREATE TABLE audit_head (
                id    integer PRIMARY KEY CHECK (id = 1),
                seq   bigint  NOT NULL,
                hash  bytea
            );
            INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, NULL);

            CREATE TABLE audit_checkpoints (
                seq   bigint  PRIMARY KEY,
                hash  bytea   NOT NULL,
                time  bigint  NOT NULL,
                mac   bytea   NOT NULL
            );

            CREATE TABLE leases (
                lease_id          text COLLATE "C" PRIMARY KEY,
                tenant_uid        text COLLATE "C" NOT NULL REFERENCES tenants (uid),
                owner_accessor    text COLLATE "C" NOT NULL,
                path              text COLLATE "C" NOT NULL,
                engine            text COLLATE "C" NOT NULL,
                external          text COLLATE "C",
                issued_at         bigint  NOT NULL,
                expires_at        bigint  NOT NULL,
                max_expires_at    bigint  NOT NULL,
                revoked_at        bigint,
                cleanup_state     text COLLATE "C" NOT NULL DEFAULT 'none',
                cleanup_attempts  integer NOT NULL DEFAULT 0,
                cleanup_next_at   bigint,
                cleanup_error     text COLLATE "C"
            );
            CREATE INDEX leases_by_owner ON leases (owner_accessor);
            CREATE INDEX leases_live_by_tenant ON leases (tenant_uid) WHERE revoked_at IS NULL;
            CREATE INDEX leases_by_expiry ON leases (expires_at);
            CREATE INDEX leases_cleanup_due ON leases (cleanup_next_at) WHERE cleanup_state = 'pending';

            -- Event ids come from the counter row, not a sequence: the UPDATE that takes the next id holds the row
            -- until commit, so ids are assigned in commit order (see PostgresEventStore), and a rolled-back append
            -- gives its id back, as in SQLite. last_id is the largest id ever assigned, pruned or not.
            CREATE TABLE events (
                id                bigint  PRIMARY KEY,
                tenant_uid        text COLLATE "C" NOT NULL,
                type              text COLLATE "C" NOT NULL,
                path              text COLLATE "C",
                subject_accessor  text COLLATE "C",
                data              text COLLATE "C" NOT NULL,
                time              bigint  NOT NULL
            );
            CREATE INDEX events_by_tenant ON events (tenant_uid, id);
            CREATE INDEX events_by_time ON events (time);

            CREATE TABLE event_counter (
                id       integer PRIMARY KEY CHECK (id = 1),
                last_id  bigint  NOT NULL
            );
            INSERT INTO event_counter (id, last_id) VALUES (1, 0);

            CREATE TABLE tenant_settings (
                tenant_uid  text COLLATE "C" PRIMARY KEY REFERENCES tenants (uid),
                anomaly     text COLLATE "C" NOT NULL,
                updated_at  bigint  NOT NULL
            );

            CREATE TABLE jwt_issuers (
                tenant_uid          text COLLATE "C" NOT NULL REFERENCES tenants (uid),
                name                text COLLATE "C" NOT NULL,
                node_id             text COLLATE "C" NOT NULL UNIQUE,
                issuer              text COLLATE "C" NOT NULL,
                keys                text COLLATE "C" NOT NULL,
                audiences           text COLLATE "C" NOT NULL,
                bindings            text COLLATE "C" NOT NULL,
                clock_skew_seconds  bigint  NOT NULL,
                created_at          bigint  NOT NULL,
                updated_at          bigint  NOT NULL,
                PRIMARY KEY (tenant_uid, name)
            );
            CREATE UNIQUE INDEX jwt_issuers_by_issuer ON jwt_issuers (tenant_uid, issuer);
            """),

        // Secrets engines' configuration (SQLite migration 6).
        (2, """
            CREATE TABLE engine_configs (
                tenant_uid   text COLLATE "C" NOT NULL REFERENCES tenants (uid),
                engine       text COLLATE "C" NOT NULL,
                name         text COLLATE "C" NOT NULL,
                item         text COLLATE "C" NOT NULL,
                settings     text COLLATE "C" NOT NULL,
                key_version  integer NOT NULL,
                sealed       bytea,
                version      bigint  NOT NULL,
                created_at   bigint  NOT NULL,
                updated_at   bigint  NOT NULL,
                PRIMARY KEY (tenant_uid, engine, name, item)
            );
            """),

        // Response wrapping (SQLite migration 7).
        (3, """
            CREATE TABLE wraps (
                tenant_uid     text COLLATE "C" NOT NULL REFERENCES tenants (uid),
                token_hash     bytea   NOT NULL PRIMARY KEY,
                accessor       text COLLATE "C" NOT NULL UNIQUE,
                creation_path  text COLLATE "C" NOT NULL,
                created_at     bigint  NOT NULL,
                expires_at     bigint  NOT NULL,
                key_version    integer NOT NULL,
                payload        bytea,
                used_at        bigint,
                state          text COLLATE "C" NOT NULL
            );
            CREATE INDEX wraps_by_tenant ON wraps (tenant_uid, state);
            CREATE INDEX wraps_by_expiry ON wraps (expires_at);
            """),

        // Gateway request budgets (SQLite migration 8).
        (4, """
            CREATE TABLE gateway_budgets (
                tenant_uid   text COLLATE "C" NOT NULL REFERENCES tenants (uid),
                integration  text COLLATE "C" NOT NULL,
                run_id       text COLLATE "C" NOT NULL,
                holder       text COLLATE "C" NOT NULL,
                lim          bigint,
                used         bigint NOT NULL,
                PRIMARY KEY (tenant_uid, integration, run_id, holder)
            );
            """),

        // The secret generation: moved by every statement that changes secrets or their versions, whoever runs it, so
        // a node may serve a row it cached for as long as the generation has not moved (PostgresSession, SecretRowCache).
        // Three columns of secrets are left out because no read answers from them and they change often: uses (every
        // read of a max_uses secret counts one) and the scheduler's claim (claimed_by, claimed_until). A column added
        // to secrets later is in the list unless left out here on purpose.
        (5, """
            CREATE TABLE secret_generation (
                id     integer PRIMARY KEY CHECK (id = 1),
                value  bigint  NOT NULL
            );
            INSERT INTO secret_generation (id, value) VALUES (1, 1);

            CREATE FUNCTION keyward_secret_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE secret_generation SET value = value + 1 WHERE id = 1;
                RETURN NULL;
            END
            $$;

            CREATE TRIGGER secrets_changed
                AFTER INSERT OR DELETE OR TRUNCATE
                   OR UPDATE OF tenant_uid, path, current_version, max_versions, custom_metadata, created_at, updated_at,
                                latest_version, pending_version, previous_version, previous_since, epoch, rotation,
                                next_rotation_at
                ON secrets FOR EACH STATEMENT EXECUTE FUNCTION keyward_secret_changed();
            CREATE TRIGGER secret_versions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON secret_versions
                FOR EACH STATEMENT EXECUTE FUNCTION keyward_secret_changed();
            """),

        // SQLite's version 9: the audit head's MAC (NULL on an existing head until the next commit).
        (6, """
            ALTER TABLE audit_head ADD COLUMN mac bytea;
            """),

        // Derived tokens revoked one by one (SQLite migration 10).
        (7, """
            CREATE TABLE derived_revocations (
                session_accessor  text COLLATE "C" NOT NULL,
                derived_id        text COLLATE "C" NOT NULL,
                tenant_uid        text COLLATE "C" NOT NULL REFERENCES tenants (uid),
                revoked_at        bigint NOT NULL,
                expires_at        bigint NOT NULL,
                PRIMARY KEY (session_accessor, derived_id)
            );
            CREATE INDEX derived_revocations_by_expiry ON derived_revocations (expires_at);
            """),

        // The token that made a wrap (SQLite migration 11).
        (8, """
            ALTER TABLE wraps ADD COLUMN owner_accessor text COLLATE "C";
            """),
    ];

    public static int Latest => All[^1].Version;
}
