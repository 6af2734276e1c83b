namespace Keyward.Core.Errors;

/// <summary>The one place where refusals are built. Codes are a public contract: add, never rename.</summary>
public static partial class KeywardErrors
{
    // 400
    public static KeywardException InvalidPath(string detail) => Bad("invalid_path", "Invalid path", detail);

    public static KeywardException ReservedPath(string path) =>
        Bad("reserved_path", "Reserved path", $"'{path}' ends in a reserved action segment or starts with a reserved prefix (creds/, sys/).");

    public static KeywardException TokenInQuery() =>
        Bad("token_in_query", "Token in query string", "Tokens are accepted only in the Authorization header; the request was refused and nothing was done.");

    /// <summary>A token-shaped path segment: the answer never repeats the path (nor does the audit record).</summary>
    public static KeywardException TokenInPath() =>
        Bad("token_in_path", "Token in path", "Tokens are accepted only in the Authorization header; a path segment looks like one, so the request was refused and nothing was done.");

    public static KeywardException MalformedJson(string detail) => Bad("malformed_json", "Malformed JSON", detail);

    public static KeywardException UnknownField(string field) =>
        Bad("unknown_field", "Unknown field", $"The body has a field this route does not know: '{Truncate(field)}'.");

    public static KeywardException InvalidField(string field, string detail) =>
        Bad("invalid_field", "Invalid field", $"'{Truncate(field)}': {detail}");

    public static KeywardException MissingField(string field) =>
        Bad("missing_field", "Missing field", $"The body needs the field '{Truncate(field)}'.");

    public static KeywardException InvalidName(string what, string value, string pattern) =>
        Bad("invalid_name", "Invalid name", $"{what} '{Truncate(value)}' must match {pattern}.");

    public static KeywardException InvalidRequest(string detail) => Bad("invalid_request", "Invalid request", detail);

    public static KeywardException InvalidDuration(string field) =>
        Bad("invalid_duration", "Invalid duration", $"'{Truncate(field)}' must be a positive duration such as 90s, 10m, 1h, 7d or integer seconds.");

    public static KeywardException TtlExceedsLimit(string detail) => Bad("ttl_exceeds_limit", "TTL exceeds limit", detail);

    public static KeywardException UnsealFailed(string detail) => Bad("unseal_failed", "Unseal failed", detail);

    public static KeywardException InvalidRule(string detail) => Bad("invalid_rule", "Invalid rule", detail);

    public static KeywardException RunMismatch(string parentRun) =>
        Bad("run_mismatch", "Run mismatch", $"A spawned agent belongs to its parent's run '{Truncate(parentRun)}'; omit run_id or pass that one.");

    public static KeywardException InvalidPrefix(string detail) => Bad("invalid_prefix", "Invalid prefix", detail);
    public static KeywardException InvalidJwtKey(string detail) => Bad("invalid_jwt_key", "Invalid JWT key", detail);

    public static KeywardException InvalidWrapTtl(string detail) =>
        Bad("invalid_wrap_ttl", "Invalid wrap TTL", $"X-Keyward-Wrap-TTL {detail}: a duration such as 60s or 5m, at most 10m.");

    public static KeywardException WrapNotSupported() =>
        Bad("wrap_not_supported", "Response wrapping not supported",
            "X-Keyward-Wrap-TTL is accepted only on GET /v1/secrets/{path} and POST /v1/creds/postgres/{name}/{role}; the request was refused and nothing was done.");

    // 401
    public static KeywardException MissingToken() =>
        new(401, "missing_token", "Missing token", "This route needs 'Authorization: Bearer <token>'.") { Kind = RefusalKind.Denied };

    public static KeywardException InvalidToken() =>
        new(401, "invalid_token", "Invalid token", "The token is not valid.") { Kind = RefusalKind.Denied };

    /// <summary>
    /// A derived token that does not verify: the caller learns only that it is invalid; the audit record gets the
    /// reason (malformed, unknown caveat, tag mismatch, ...), which names no tag or token.
    /// </summary>
    public static KeywardException InvalidDerivedToken(string auditReason) =>
        new(401, "invalid_token", "Invalid token", "The token is not valid.") { Kind = RefusalKind.Denied, AuditDetail = auditReason };

    public static KeywardException TokenExpired() =>
        new(401, "token_expired", "Token expired", "The token has expired.") { Kind = RefusalKind.Denied };

    public static KeywardException TokenRevoked() =>
        new(401, "token_revoked", "Token revoked", "The token has been revoked.") { Kind = RefusalKind.Denied };

    /// <summary>A JWT login refused; <paramref name="reason"/> is a short fixed phrase, never anything from the JWT.</summary>
    public static KeywardException InvalidJwt(string reason) =>
        new(401, "invalid_jwt", "Invalid JWT", $"The JWT was refused: {reason}.") { Kind = RefusalKind.Denied };

    // 403
    public static KeywardException PermissionDenied(string capability, string? path) =>
        new(403, "permission_denied", "Permission denied",
            path is null ? $"The token lacks '{capability}'." : $"The token lacks '{capability}' on '{path}'.") { Kind = RefusalKind.OutOfScope };

    public static KeywardException RootTokenRequired() =>
        new(403, "root_token_required", "Root token required", "This route is for the operator's root token.") { Kind = RefusalKind.OutOfScope };

    public static KeywardException TenantTokenRequired() =>
        new(403, "tenant_token_required", "Tenant token required",
            "This route needs a tenant token; the root token cannot read or change tenant data (mint an audited tenant admin token first).") { Kind = RefusalKind.OutOfScope };

    public static KeywardException ScopeExceedsParent(string detail) =>
        new(403, "scope_exceeds_parent", "Scope exceeds parent", detail) { Kind = RefusalKind.OutOfScope };

    public static KeywardException SpawnNotAllowed(string parentRole, string childRole) =>
        new(403, "spawn_not_allowed", "Spawn not allowed", $"Role '{Truncate(parentRole)}' may not spawn role '{Truncate(childRole)}' (see its may_spawn).") { Kind = RefusalKind.OutOfScope };

    public static KeywardException AgentTokenRequired() =>
        new(403, "agent_token_required", "Agent token required", "This route needs an agent session token (kws_); derived tokens cannot use it.") { Kind = RefusalKind.OutOfScope };

    public static KeywardException OrchestratorTokenRequired() =>
        new(403, "orchestrator_token_required", "Orchestrator token required", "This route needs an orchestrator token (kwo_).") { Kind = RefusalKind.OutOfScope };

    public static KeywardException OrchestratorOrAdminRequired() =>
        new(403, "orchestrator_or_admin_required", "Orchestrator or admin token required", "This route needs a tenant admin or orchestrator token.") { Kind = RefusalKind.OutOfScope };

    public static KeywardException NotRenewable() =>
        new(403, "not_renewable", "Not renewable", "The session has reached its role's max_ttl or its parent's expiry; it cannot be extended.") { Kind = RefusalKind.OutOfScope };

    public static KeywardException AdminTokenRequired() =>
        new(403, "admin_token_required", "Tenant admin token required", "This route needs a tenant admin token.") { Kind = RefusalKind.OutOfScope };

    public static KeywardException JwtBindingDenied(string role) =>
        new(403, "jwt_binding_denied", "JWT binding denied", $"No binding of the issuer grants the role '{Truncate(role)}' to this JWT's subject and claims.") { Kind = RefusalKind.OutOfScope };

    // 404
    public static KeywardException RouteNotFound(string method, string path) =>
        new(404, "route_not_found", "Not found", $"No route {method} {Truncate(path)}.");

    public static KeywardException TenantNotFound(string id) =>
        new(404, "tenant_not_found", "Tenant not found", $"No tenant '{Truncate(id)}'.");

    public static KeywardException RoleNotFound(string name) =>
        new(404, "role_not_found", "Role not found", $"No role '{Truncate(name)}'.");

    public static KeywardException SecretNotFound(string path) =>
        new(404, "secret_not_found", "Secret not found", $"No secret at '{path}'.");

    public static KeywardException VersionNotFound(string path, long version) =>
        new(404, "version_not_found", "Version not found", $"'{path}' has no version {version}.");

    public static KeywardException SecretDeleted(string path, long version) =>
        new(404, "secret_deleted", "Secret deleted", $"Version {version} of '{path}' is deleted.");

    public static KeywardException VersionDestroyed(string path, long version) =>
        new(404, "version_destroyed", "Version destroyed", $"Version {version} of '{path}' was destroyed.");

    public static KeywardException TokenNotFound(string accessor) =>
        new(404, "token_not_found", "Token not found", $"No token with accessor '{Truncate(accessor)}' in your reach.");

    public static KeywardException LeaseNotFound(string leaseId) =>
        new(404, "lease_not_found", "Lease not found", $"No live lease '{Truncate(leaseId)}' in your reach.");

    public static KeywardException JobNotFound(string id) =>
        new(404, "job_not_found", "Job not found", $"No job '{Truncate(id)}'.");

    public static KeywardException JwtIssuerNotFound(string name) =>
        new(404, "jwt_issuer_not_found", "JWT issuer not found", $"No JWT issuer registration '{Truncate(name)}'.");

    public static KeywardException WrapTokenUsed() =>
        new(404, "wrap_token_used", "Wrapping token already used",
            "This wrapping token was already unwrapped. Its payload is gone; if it was not you who unwrapped it, the token leaked.");

    public static KeywardException WrapTokenExpired() =>
        new(404, "wrap_token_expired", "Wrapping token expired", "This wrapping token expired before it was unwrapped; its payload is erased.");

    public static KeywardException WrapTokenRevoked() =>
        new(404, "wrap_token_revoked", "Wrapping token revoked",
            "This wrapping token was invalidated (its tenant was locked down or offboarded, or the token that made it was revoked); its payload is erased.");

    // 405
    public static KeywardException MethodNotAllowed(string method, string path) =>
        new(405, "method_not_allowed", "Method not allowed", $"{method} is not allowed on {Truncate(path)}.");

    // 409
    public static KeywardException AlreadyInitialized() =>
        new(409, "already_initialized", "Already initialized", "This server is already initialized.");

    public static KeywardException TenantExists(string id) =>
        new(409, "tenant_exists", "Tenant exists", $"Tenant '{id}' already exists.");

    public static KeywardException TenantRetired(string id) =>
        new(409, "tenant_id_retired", "Tenant id retired", $"Tenant id '{id}' belonged to a deleted tenant and is retired for good.");

    public static KeywardException CasMismatch(string path, long expected, long current) =>
        new(409, "cas_mismatch", "Check-and-set mismatch", $"cas {expected} does not match the current version {current} of '{path}'.");

    public static KeywardException Conflict(string code, string detail) => new(409, code, "Conflict", detail);

    public static KeywardException NoGenerator(string detail) => Bad("no_generator", "No generator", detail);

    public static KeywardException NotPending(string path, long version, long? pending) =>
        Conflict("not_pending", pending is { } p
            ? $"Version {version} of '{path}' is not pending; the pending version is {p}."
            : $"Version {version} of '{path}' is not pending; '{path}' has no pending version (stage one with POST .../rotate).");

    public static KeywardException NoPreviousVersion(string path) =>
        Conflict("no_previous_version", $"'{path}' has no previous version to roll back to.");

    public static KeywardException StageNotFound(string path, string stage) =>
        new(404, "stage_not_found", "Stage not found", $"No version of '{path}' holds the stage '{stage}'.");

    public static KeywardException GraceExpired(string path, long version) =>
        new(404, "grace_expired", "Grace window over", $"The previous version {version} of '{path}' is past its grace window.");

    public static KeywardException BootstrapReplayed() =>
        new(409, "bootstrap_replayed", "Bootstrap token replayed",
            "This bootstrap token was already exchanged. A replay means it leaked: the session the first exchange produced has been revoked with its subtree.");

    public static KeywardException LeaseRevokedDuringIssue() =>
        new(409, "lease_revoked", "Lease revoked", "The credential's lease was revoked while it was being issued; nothing was handed out.");

    public static KeywardException TenantNotLocked(string id) =>
        new(409, "tenant_not_locked", "Tenant not locked", $"Tenant '{Truncate(id)}' is not locked down.");

    public static KeywardException EngineInUse(string name, int leases) =>
        Conflict("engine_in_use", $"'{Truncate(name)}' still has {leases} open or not yet cleaned-up lease(s); revoke them (POST /v1/leases/revoke-prefix) and retry once their logins are dropped.");

    public static KeywardException EngineNotFound(string name) =>
        new(404, "engine_not_found", "Engine not found", $"No PostgreSQL connection '{Truncate(name)}' in this tenant.");

    public static KeywardException EngineRoleNotFound(string name, string role) =>
        new(404, "engine_role_not_found", "Engine role not found", $"Connection '{Truncate(name)}' has no role '{Truncate(role)}'.");

    public static KeywardException InvalidConnectionUrl(string detail) =>
        Bad("invalid_connection_url", "Invalid connection URL", detail);

    public static KeywardException PasswordRequired(string name) =>
        Bad("password_required", "Password required",
            $"Connection '{Truncate(name)}' would point elsewhere (connection_url or username changed): send its password again; the stored one goes only where it went before.");

    public static KeywardException EngineHostNotAllowed(string host, string why) =>
        new(403, "engine_host_not_allowed", "Engine host not allowed", $"Host '{Truncate(host)}' is not allowed: {why}") { Kind = RefusalKind.OutOfScope };

    // 413
    public static KeywardException BodyTooLarge(long limit) =>
        new(413, "body_too_large", "Body too large", $"The body exceeds {limit} bytes.");

    public static KeywardException ValueTooLarge(int limit) =>
        new(413, "value_too_large", "Value too large", $"A secret's data may be at most {limit} bytes of JSON.");

    // 423
    public static KeywardException TenantLocked(string id) =>
        new(423, "tenant_locked", "Tenant locked", $"Tenant '{id}' is locked down.") { Kind = RefusalKind.Denied };

    // 429
    public static KeywardException TooManyStreams(int limit) =>
        new(429, "too_many_streams", "Too many streams", $"A token may hold at most {limit} event streams at once; close one first.");

    public static KeywardException LeaseLimitReached(string name, int limit) =>
        new(429, "lease_limit_reached", "Lease limit reached", $"Connection '{Truncate(name)}' allows at most {limit} open leases (max_open_leases); revoke some first.");

    // 502
    /// <summary>The engine's database could not be reached or refused Keyward's login; never its message (it may quote a statement).</summary>
    public static KeywardException ManagedByEngine(string path, string managedBy, string what) =>
        Conflict("managed_by_engine", $"'{path}' is managed by {Truncate(managedBy)}: {what}");

    public static KeywardException StaticLoginNotFound(string name, string username) =>
        new(404, "static_login_not_found", "Login not found", $"The database of connection '{Truncate(name)}' has no login '{Truncate(username)}'.");

    public static KeywardException EngineUnavailable(string name, string why) =>
        new(502, "engine_unavailable", "Engine unavailable", $"The database of connection '{Truncate(name)}' is unavailable: {why}");

    public static KeywardException EngineStatementFailed(string name, string which, string sqlState, string? hint = null) =>
        new(502, "engine_statement_failed", "Engine statement failed",
            $"Connection '{Truncate(name)}': {which} failed with SQLSTATE {sqlState}.{(hint is null ? "" : " " + hint)}");

    // 503
    public static KeywardException Sealed() =>
        new(503, "sealed", "Sealed", "The server is sealed; unseal it with a threshold of key shares.");

    public static KeywardException NotInitialized() =>
        new(503, "not_initialized", "Not initialized", "The server is not initialized; call POST /v1/sys/init.");

    public static KeywardException StoreUnavailable() =>
        new(503, "store_unavailable", "Store unavailable", "The store could not commit; nothing was acknowledged. Retry.");

    // 500
    public static KeywardException Internal() =>
        new(500, "internal_error", "Internal error", "An internal error occurred; it has been logged without data.");

    public static KeywardException Undecryptable(string path, long version) =>
        new(500, "undecryptable", "Ciphertext cannot be opened",
            $"Version {version} of '{path}' failed authentication: its stored row was altered or moved, or its key was destroyed.");

    private static KeywardException Bad(string code, string title, string detail) => new(400, code, title, detail);

    /// <summary>Identifiers echoed in errors are bounded so an error never carries a large request fragment.</summary>
    private static string Truncate(string value) => value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 80), "…");
}
