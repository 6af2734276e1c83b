using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Keyward.Core.Audit;
using Keyward.Core.Engines;
using Keyward.Core.Errors;
using Keyward.Core.Leases;
using Keyward.Core.Policies;
using Keyward.Core.Rotation;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;
using Keyward.Core.Validation;
using Npgsql;

namespace Keyward.Engines.Postgres;

/// <summary>A connection as reads return it: never its password.</summary>
public sealed record PostgresConnectionView(
    string Name, string ConnectionUrl, string Username, int? MaxOpenLeases, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? RootRotatedAt);

public sealed record PostgresRoleView(
    string Connection, string Name, IReadOnlyList<string> CreationStatements, IReadOnlyList<string>? RevocationStatements,
    long DefaultTtl, long MaxTtl, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>A login just created: the only time its password is seen.</summary>
public sealed record IssuedLogin(string Username, string Password, LeaseRecord Lease);

/// <summary>
/// Dynamic PostgreSQL credentials. A tenant admin registers connections (URL, Keyward's login to it, the password
/// sealed like a secret) and roles (the SQL that creates and drops a login). An agent with <c>read</c> on
/// <c>creds/postgres/NAME/ROLE</c> gets a unique login with <c>VALID UNTIL</c>, owned by a lease under its token: every
/// way the lease ends (revoke, the token tree, run completion, lockdown, expiry) ends in the sweeper's clean-up
/// (<see cref="CleanUpAsync"/>): sessions terminated, the login dropped, retried with backoff until it is gone.
/// </summary>
public sealed partial class PostgresEngine : ILeaseEngine, IPromotionGuard, IAsyncDisposable
{
    public const string EngineName = "postgres";
    public const string PathPrefix = "creds/postgres/";
    public const int PasswordLength = 40;
    private const string RoleItemPrefix = "role/";
    private const string PasswordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    private const string NameAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly TenantKeyRings _rings;
    private readonly EngineHosts _hosts;
    private readonly TimeProvider _time;
    private readonly PostgresTargets _targets;

    public PostgresEngine(IKeywardStore store, GroupCommitter committer, TenantKeyRings rings, EngineHosts hosts, TimeProvider time)
    {
        _store = store;
        _committer = committer;
        _rings = rings;
        _hosts = hosts;
        _time = time;
        _targets = new PostgresTargets(hosts);
    }

    string ILeaseEngine.Name => EngineName;

    /// <summary>Test seam: runs in an issuance after the connection was loaded and before its lease commits.</summary>
    internal Func<Task>? AfterIssueLoad { get; set; }

    // ---- connections (tenant admin) ----

    public async Task<PostgresConnectionView> PutConnectionAsync(
        Principal caller, string? name, string? connectionUrl, string? username, string? password, int? maxOpenLeases, AuditDraft audit, CancellationToken cancellationToken)
    {
        var tenant = caller.RequireAdmin();
        name = Names.RequireName("Connection name", name);
        audit.Path = "engines/postgres/" + name;
        var spec = PostgresConnectionSpec.Parse(connectionUrl);
        _hosts.CheckConfigured(spec.Host, spec.Port);
        if (string.IsNullOrEmpty(username) || username.Length > 63 || username.Any(char.IsControl))
        {
            throw username is null ? KeywardErrors.MissingField("username") : KeywardErrors.InvalidField("username", "1 to 63 characters, no control characters.");
        }

        if (password is { Length: 0 or > 1024 })
        {
            throw KeywardErrors.InvalidField("password", "1 to 1024 characters.");
        }

        if (maxOpenLeases is < 1)
        {
            throw KeywardErrors.InvalidField("max_open_leases", "a positive number, or absent for no limit.");
        }

        var existing = await LoadOptionalAsync(tenant.Uid, name, cancellationToken);
        var repointed = existing is not null && !existing.Settings.SameTarget(spec.Url, username);
        if (repointed)
        {
            // The stored password goes only where it went before: a new host, port, database, TLS mode or login must come
            // with the password again (else anyone holding this admin token could have it sent to a server of theirs).
            if (password is null)
            {
                throw KeywardErrors.PasswordRequired(name);
            }

            // Logins issued on the old target are dropped there by their leases' clean-up, which looks where the
            // connection points: it may not move away from them (checked again in the transaction below).
            await using var session = await _store.ReadAsync(cancellationToken);
            await RequireNoLeasesAsync(session, tenant.Uid, PathPrefix + name, name);
        }

        var secretPassword = password ?? existing?.Secrets.Password ?? throw KeywardErrors.MissingField("password");
        var version = (existing?.Config.Version ?? 0) + 1;

        // Keyward must be able to log in before the connection is accepted.
        try
        {
            await using (await _targets.OpenAsync(tenant.Uid, name, -version, spec, username, secretPassword, cancellationToken))
            {
            }
        }
        catch (LoginRefusedException)
        {
            throw RefusedLogin(name);
        }
        finally
        {
            _targets.Forget(tenant.Uid, name);
        }

        var now = _time.GetUtcNow();
        var settings = new PostgresConnectionSettings(spec.Url, username, maxOpenLeases, existing?.Settings.RootRotatedAt);
        var config = await SealAsync(tenant.Uid, name, "", version, EngineJson.Write(settings), new PostgresConnectionSecrets(secretPassword, null), existing?.Config.CreatedAt ?? now, now);
        await _committer.ExecuteAsync(audit, async session =>
        {
            // Read first (on PostgreSQL the row is locked until commit): an issuance commits its lease either before this
            // (and is seen below) or after it (and sees the new target, which it then refuses).
            var current = await session.Engines.GetAsync(tenant.Uid, EngineName, name, "");
            if ((current?.Version ?? 0) != version - 1)
            {
                throw ChangedMeanwhile(name);
            }

            if (repointed)
            {
                await RequireNoLeasesAsync(session, tenant.Uid, PathPrefix + name, name);
            }

            await session.Engines.UpsertAsync(config);
        });
        return View(config, settings);
    }

    public async Task<PostgresConnectionView> GetConnectionAsync(Principal caller, string? name, AuditDraft audit, CancellationToken cancellationToken)
    {
        var tenant = caller.RequireAdmin();
        name = Names.RequireName("Connection name", name);
        audit.Path = "engines/postgres/" + name;
        await using var session = await _store.ReadAsync(cancellationToken);
        var config = await session.Engines.GetAsync(tenant.Uid, EngineName, name, "", cancellationToken) ?? throw KeywardErrors.EngineNotFound(name);
        return View(config, EngineJson.Read<PostgresConnectionSettings>(config.Settings));
    }

    public async Task<IReadOnlyList<PostgresConnectionView>> ListConnectionsAsync(Principal caller, CancellationToken cancellationToken)
    {
        var tenant = caller.RequireAdmin();
        await using var session = await _store.ReadAsync(cancellationToken);
        var configs = await session.Engines.ListAsync(tenant.Uid, EngineName, null, cancellationToken);
        return [.. configs.Select(c => View(c, EngineJson.Read<PostgresConnectionSettings>(c.Settings)))];
    }

    /// <summary>Deletes a connection with its roles; refused while a lease of it is open or its login not yet dropped.</summary>
    public async Task DeleteConnectionAsync(Principal caller, string? name, AuditDraft audit)
    {
        var tenant = caller.RequireAdmin();
        name = Names.RequireName("Connection name", name);
        audit.Path = "engines/postgres/" + name;
        await _committer.ExecuteAsync(audit, async session =>
        {
            // The connection first (locked on PostgreSQL), then its leases: an issuance racing this one either committed its
            // lease already (seen here) or finds the connection gone.
            _ = await session.Engines.GetAsync(tenant.Uid, EngineName, name, "") ?? throw KeywardErrors.EngineNotFound(name);
            await RequireNoLeasesAsync(session, tenant.Uid, PathPrefix + name, name);
            await ReleaseStaticRolesAsync(session, tenant.Uid, name, null);
            if (await session.Engines.DeleteAsync(tenant.Uid, EngineName, name, null) == 0)
            {
                throw KeywardErrors.EngineNotFound(name);
            }
        });
        _targets.Forget(tenant.Uid, name);
    }

    /// <summary>
    /// Gives Keyward's own login a new random password that no person has seen. The new password is stored as pending
    /// first, then set on the database, then made current: a crash in between leaves the pending one, which the next
    /// connection tries (and adopts) when the database refuses the old one.
    /// </summary>
    public async Task<PostgresConnectionView> RotateRootAsync(Principal caller, string? name, AuditDraft audit, CancellationToken cancellationToken)
    {
        var tenant = caller.RequireAdmin();
        name = Names.RequireName("Connection name", name);
        audit.Path = "engines/postgres/" + name;
        var loaded = await LoadAsync(tenant.Uid, name, cancellationToken);
        var fresh = RandomNumberGenerator.GetString(PasswordAlphabet, PasswordLength);
        await using (await ConnectAsync(loaded, cancellationToken))
        {
            // Keyward can log in now: only then is a new password staged.
        }

        // That login may have finished an interrupted rotation (adopting its staged password): stage from what is stored now.
        loaded = await LoadAsync(tenant.Uid, name, cancellationToken);
        var staged = await ReplaceSecretsAsync(loaded, new PostgresConnectionSecrets(loaded.Secrets.Password, fresh), loaded.Settings, null);
        try
        {
            await OnTargetAsync(loaded, connection => PostgresTargets.SetOwnPasswordAsync(connection, name, fresh, cancellationToken), cancellationToken);
        }
        catch (KeywardException)
        {
            // Not changed on the database: drop the pending password again (a connection still works with the old one).
            await ReplaceSecretsAsync(staged, loaded.Secrets, loaded.Settings, null);
            throw;
        }

        var settings = loaded.Settings with { RootRotatedAt = _time.GetUtcNow() };
        var done = await ReplaceSecretsAsync(staged, new PostgresConnectionSecrets(fresh, null), settings, audit);
        _targets.Forget(tenant.Uid, name);
        return View(done.Config, settings);
    }

    // ---- roles (tenant admin) ----

    public async Task<PostgresRoleView> PutRoleAsync(
        Principal caller, string? name, string? role, IReadOnlyList<string>? creation, IReadOnlyList<string>? revocation, TimeSpan? defaultTtl, TimeSpan? maxTtl,
        AuditDraft audit)
    {
        var tenant = caller.RequireAdmin();
        name = Names.RequireName("Connection name", name);
        role = Names.RequireName("Role name", role);
        audit.Path = $"engines/postgres/{name}/roles/{role}";
        var settings = PostgresRoleSettings.Create(creation, revocation, defaultTtl, maxTtl);
        var now = _time.GetUtcNow();
        return await _committer.ExecuteAsync(audit, async session =>
        {
            _ = await session.Engines.GetAsync(tenant.Uid, EngineName, name, "") ?? throw KeywardErrors.EngineNotFound(name);
            var existing = await session.Engines.GetAsync(tenant.Uid, EngineName, name, RoleItemPrefix + role);
            var config = new EngineConfig(tenant.Uid, EngineName, name, RoleItemPrefix + role, EngineJson.Write(settings), 0, null,
                (existing?.Version ?? 0) + 1, existing?.CreatedAt ?? now, now);
            await session.Engines.UpsertAsync(config);
            return RoleView(config, settings);
        });
    }

    public async Task<PostgresRoleView> GetRoleAsync(Principal caller, string? name, string? role, AuditDraft audit, CancellationToken cancellationToken)
    {
        var config = await GetItemAsync(caller, name, role, RoleItemPrefix, "roles", audit, cancellationToken);
        return RoleView(config, EngineJson.Read<PostgresRoleSettings>(config.Settings));
    }

    /// <summary>One item of a connection (a role, a static role), for its tenant's admin; 404 <c>engine_role_not_found</c> when absent.</summary>
    private async Task<EngineConfig> GetItemAsync(
        Principal caller, string? name, string? role, string itemPrefix, string routeSegment, AuditDraft audit, CancellationToken cancellationToken)
    {
        var tenant = caller.RequireAdmin();
        name = Names.RequireName("Connection name", name);
        role = Names.RequireName("Role name", role);
        audit.Path = $"engines/postgres/{name}/{routeSegment}/{role}";
        await using var session = await _store.ReadAsync(cancellationToken);
        return await session.Engines.GetAsync(tenant.Uid, EngineName, name, itemPrefix + role, cancellationToken) ?? throw KeywardErrors.EngineRoleNotFound(name, role);
    }

    public async Task<IReadOnlyList<PostgresRoleView>> ListRolesAsync(Principal caller, string? name, CancellationToken cancellationToken)
    {
        var items = await ListItemsAsync(caller, name, RoleItemPrefix, cancellationToken);
        return [.. items.Select(i => RoleView(i, EngineJson.Read<PostgresRoleSettings>(i.Settings)))];
    }

    /// <summary>A connection's items of one kind (roles, static roles), for its tenant's admin; 404 for a connection that is not there.</summary>
    private async Task<IEnumerable<EngineConfig>> ListItemsAsync(Principal caller, string? name, string itemPrefix, CancellationToken cancellationToken)
    {
        var tenant = caller.RequireAdmin();
        name = Names.RequireName("Connection name", name);
        await using var session = await _store.ReadAsync(cancellationToken);
        _ = await session.Engines.GetAsync(tenant.Uid, EngineName, name, "", cancellationToken) ?? throw KeywardErrors.EngineNotFound(name);
        var items = await session.Engines.ListAsync(tenant.Uid, EngineName, name, cancellationToken);
        return items.Where(i => i.Item.StartsWith(itemPrefix, StringComparison.Ordinal));
    }

    public async Task DeleteRoleAsync(Principal caller, string? name, string? role, AuditDraft audit)
    {
        var tenant = caller.RequireAdmin();
        name = Names.RequireName("Connection name", name);
        role = Names.RequireName("Role name", role);
        audit.Path = $"engines/postgres/{name}/roles/{role}";
        await _committer.ExecuteAsync(audit, async session =>
        {
            await RequireNoLeasesAsync(session, tenant.Uid, $"{PathPrefix}{name}/{role}", $"{name}/roles/{role}");
            if (await session.Engines.DeleteAsync(tenant.Uid, EngineName, name, RoleItemPrefix + role) == 0)
            {
                throw KeywardErrors.EngineRoleNotFound(name, role);
            }
        });
    }

    // ---- credentials (capability read on creds/postgres/NAME/ROLE) ----

    /// <summary>
    /// Creates a login. The lease is made durable first, so a crash or failure after it can never leave a login
    /// nobody will drop; a failure then revokes the lease at once (its clean-up drops whatever may exist). Once the login
    /// exists, a second transaction (which carries the issuance's audit record) keeps it only if the lease is still live
    /// and the tenant still open: a lockdown, an offboarding or a revocation that committed while the login was being
    /// created may have run the lease's clean-up already — before the login existed — so the clean-up is scheduled again
    /// and the login dropped at once, and the caller gets nothing.
    /// </summary>
    public async Task<IssuedLogin> IssueAsync(Principal caller, string? name, string? role, AuditDraft audit, CancellationToken cancellationToken)
    {
        name = Names.RequireName("Connection name", name);
        role = Names.RequireName("Role name", role);
        var path = $"{PathPrefix}{name}/{role}";
        audit.Path = path;
        var tenant = caller.Require(path, Capability.Read);
        var loaded = await LoadAsync(tenant.Uid, name, cancellationToken, role);
        var roleSettings = loaded.Role!;

        var username = NewUsername(role);
        var password = RandomNumberGenerator.GetString(PasswordAlphabet, PasswordLength);
        var now = _time.GetUtcNow();
        var maxTtl = caller.ExpiresAt is { } callerExpiry && callerExpiry - now < roleSettings.MaxTtl ? callerExpiry - now : roleSettings.MaxTtl;
        var lease = LeaseRecord.Issue(caller.Token, EngineName, path, roleSettings.Ttl, maxTtl, username, now);
        if (AfterIssueLoad is { } hook)
        {
            await hook();
        }

        var gate = caller.Gate;
        await _committer.ExecuteAsync(
            null,
            async session =>
            {
                // The login is made on the target loaded above; its lease must be cleaned up there. So the connection must
                // still point there as the lease commits (a re-pointing PUT reads the leases after locking this row).
                var current = await session.Engines.GetAsync(tenant.Uid, EngineName, name, "") ?? throw KeywardErrors.EngineNotFound(name);
                if (!EngineJson.Read<PostgresConnectionSettings>(current.Settings).SameTarget(loaded.Settings.ConnectionUrl, loaded.Settings.Username))
                {
                    throw ChangedMeanwhile(name);
                }

                if (loaded.Settings.MaxOpenLeases is { } limit
                    && (await session.Leases.ListAsync(tenant.Uid, null, PathPrefix + name, includeRevoked: false, limit)).Count >= limit)
                {
                    throw KeywardErrors.LeaseLimitReached(name, limit);
                }

                await session.Leases.InsertAsync(lease);
            },
            gate);

        try
        {
            await OnTargetAsync(loaded, connection =>
                PostgresTargets.CreateLoginAsync(connection, name, roleSettings.CreationStatements, username, password, lease.ExpiresAt, cancellationToken), cancellationToken);
        }
        catch (Exception failure) when (failure is KeywardException or OperationCanceledException)
        {
            await _committer.ExecuteAsync(null, session => session.Leases.RevokeAsync([lease.LeaseId], _time.GetUtcNow(), [EngineName]));
            throw;
        }

        audit.AddDetail("lease_id", lease.LeaseId);
        audit.AddDetail("username", username);
        try
        {
            // The caller's gate runs first (the audit draft's): a kill switch since the request was authorized refuses.
            await _committer.ExecuteAsync(
                audit,
                async session =>
                {
                    if ((await session.Leases.GetAsync(lease.LeaseId))?.RevokedAt is not null)
                    {
                        throw KeywardErrors.LeaseRevokedDuringIssue();
                    }
                },
                gate);
        }
        catch (KeywardException)
        {
            await DropUnissuedAsync(loaded, lease, name, roleSettings, username);
            throw;
        }

        return new IssuedLogin(username, password, lease);
    }

    /// <summary>
    /// A login created after its lease ended: the lease's clean-up is scheduled again (it may have run before the login
    /// existed) and the login dropped right now, with the connection already loaded (an offboarded tenant's keys may be
    /// gone once its clean-ups looked done). The sweeper retries if this drop fails.
    /// </summary>
    private async Task DropUnissuedAsync(Loaded loaded, LeaseRecord lease, string name, PostgresRoleSettings role, string username)
    {
        await _committer.ExecuteAsync(null, session => session.Leases.RescheduleCleanupAsync(lease.LeaseId, _time.GetUtcNow()));
        try
        {
            await OnTargetAsync(loaded, connection => PostgresTargets.DropLoginAsync(connection, name, username, role.RevocationStatements, CancellationToken.None), CancellationToken.None);
            await _committer.ExecuteAsync(null, session => session.Leases.RecordCleanupAsync(lease.LeaseId, true, null, null));
        }
        catch (KeywardException)
        {
            // Pending: the sweeper drops it.
        }
    }

    // ---- the lease engine ----

    /// <summary>Drops the lease's login (terminating its sessions); idempotent, retried by the sweeper until it succeeds.</summary>
    public async Task CleanUpAsync(LeaseRecord lease, CancellationToken cancellationToken)
    {
        var (name, role, username) = Parse(lease);
        var loaded = await LoadAsync(lease.TenantUid, name, cancellationToken, role, roleOptional: true);
        await OnTargetAsync(loaded, connection => PostgresTargets.DropLoginAsync(connection, name, username, loaded.Role?.RevocationStatements, cancellationToken), cancellationToken);
    }

    public async Task ExtendAsync(LeaseRecord lease, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        var (name, _, username) = Parse(lease);
        var loaded = await LoadAsync(lease.TenantUid, name, cancellationToken);
        await OnTargetAsync(loaded, connection => PostgresTargets.ExtendAsync(connection, name, username, expiresAt, cancellationToken), cancellationToken);
    }

    public ValueTask DisposeAsync() => _targets.DisposeAsync();

    // ---- pieces ----

    private sealed record Loaded(EngineConfig Config, PostgresConnectionSettings Settings, PostgresConnectionSpec Spec, PostgresConnectionSecrets Secrets, PostgresRoleSettings? Role);

    private async Task<Loaded?> LoadOptionalAsync(string tenantUid, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await LoadAsync(tenantUid, name, cancellationToken);
        }
        catch (KeywardException missing) when (missing.Code == "engine_not_found")
        {
            return null;
        }
    }

    private async Task<Loaded> LoadAsync(string tenantUid, string name, CancellationToken cancellationToken, string? role = null, bool roleOptional = false)
    {
        EngineConfig? config;
        EngineConfig? roleConfig = null;
        await using (var session = await _store.ReadAsync(cancellationToken))
        {
            config = await session.Engines.GetAsync(tenantUid, EngineName, name, "", cancellationToken);
            if (config is not null && role is not null)
            {
                roleConfig = await session.Engines.GetAsync(tenantUid, EngineName, name, RoleItemPrefix + role, cancellationToken);
            }
        }

        if (config is null)
        {
            throw KeywardErrors.EngineNotFound(name);
        }

        if (role is not null && roleConfig is null && !roleOptional)
        {
            throw KeywardErrors.EngineRoleNotFound(name, role);
        }

        var ring = await _rings.GetAsync(tenantUid, cancellationToken);
        var plaintext = EngineSecrets.Open(ring, config);
        try
        {
            var settings = EngineJson.Read<PostgresConnectionSettings>(config.Settings);
            return new Loaded(config, settings, PostgresConnectionSpec.Parse(settings.ConnectionUrl), EngineJson.Read<PostgresConnectionSecrets>(plaintext),
                roleConfig is null ? null : EngineJson.Read<PostgresRoleSettings>(roleConfig.Settings));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>Logs in as the connection's user; finishes an interrupted rotate-root when the database already has the new password.</summary>
    private async Task<NpgsqlConnection> ConnectAsync(Loaded loaded, CancellationToken cancellationToken)
    {
        var (uid, name) = (loaded.Config.TenantUid, loaded.Config.Name);
        try
        {
            return await _targets.OpenAsync(uid, name, loaded.Config.Version, loaded.Spec, loaded.Settings.Username, loaded.Secrets.Password, cancellationToken);
        }
        catch (LoginRefusedException) when (loaded.Secrets.PendingPassword is { } pending)
        {
            NpgsqlConnection connection;
            try
            {
                connection = await _targets.OpenAsync(uid, name, loaded.Config.Version, loaded.Spec, loaded.Settings.Username, pending, cancellationToken);
            }
            catch (LoginRefusedException)
            {
                throw RefusedLogin(name);
            }

            await ReplaceSecretsAsync(loaded, new PostgresConnectionSecrets(pending, null), loaded.Settings with { RootRotatedAt = _time.GetUtcNow() }, null);
            return connection;
        }
        catch (LoginRefusedException)
        {
            throw RefusedLogin(name);
        }
    }

    /// <summary>Runs statements on the connection's database, retried on concurrent catalog updates (see <see cref="PostgresTargets.RetryingAsync"/>).</summary>
    private Task OnTargetAsync(Loaded loaded, Func<NpgsqlConnection, Task> operation, CancellationToken cancellationToken) =>
        PostgresTargets.RetryingAsync(token => ConnectAsync(loaded, token), operation, cancellationToken);

    private async Task<Loaded> ReplaceSecretsAsync(Loaded loaded, PostgresConnectionSecrets secrets, PostgresConnectionSettings settings, AuditDraft? audit)
    {
        var (uid, name) = (loaded.Config.TenantUid, loaded.Config.Name);
        var version = loaded.Config.Version + 1;
        var config = await SealAsync(uid, name, "", version, EngineJson.Write(settings), secrets, loaded.Config.CreatedAt, _time.GetUtcNow());
        await _committer.ExecuteAsync(audit, async session =>
        {
            var current = await session.Engines.GetAsync(uid, EngineName, name, "");
            if (current?.Version != loaded.Config.Version)
            {
                throw ChangedMeanwhile(name);
            }

            await session.Engines.UpsertAsync(config);
        });
        return loaded with { Config = config, Settings = settings, Secrets = secrets };
    }

    private async Task<EngineConfig> SealAsync(
        string tenantUid, string name, string item, long version, string settings, PostgresConnectionSecrets secrets, DateTimeOffset createdAt, DateTimeOffset now)
    {
        var ring = await _rings.GetAsync(tenantUid);
        var plaintext = Encoding.UTF8.GetBytes(EngineJson.Write(secrets));
        try
        {
            return new EngineConfig(tenantUid, EngineName, name, item, settings, ring.CurrentVersion,
                EngineSecrets.Seal(ring, tenantUid, EngineName, name, item, version, plaintext), version, createdAt, now);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    private static async Task RequireNoLeasesAsync(IStoreSession session, string tenantUid, string prefix, string what)
    {
        var leases = await session.Leases.ListAsync(tenantUid, null, prefix, includeRevoked: true, LeaseService.MaxRevokePrefix);
        var open = leases.Count(l => l.RevokedAt is null || l.Cleanup == CleanupState.Pending);
        if (open > 0)
        {
            throw KeywardErrors.EngineInUse(what, open);
        }
    }

    /// <summary><c>kw_</c>, the role name folded to <c>[a-z0-9_]</c> (at most 20), <c>_</c>, 16 random characters: at most 40 bytes.</summary>
    internal static string NewUsername(string role)
    {
        var folded = new string([.. role.ToLowerInvariant().Select(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) ? c : '_').Take(20)]);
        return $"kw_{folded}_{RandomNumberGenerator.GetString(NameAlphabet, 16)}";
    }

    private static (string Name, string? Role, string Username) Parse(LeaseRecord lease)
    {
        var segments = lease.Path.Split('/');
        if (segments.Length != 4 || !lease.Path.StartsWith(PathPrefix, StringComparison.Ordinal) || lease.External is not { } username || !UsernameRegex().IsMatch(username))
        {
            throw new InvalidOperationException("Not a PostgreSQL credential lease.");
        }

        return (segments[2], segments[3], username);
    }

    private static PostgresConnectionView View(EngineConfig config, PostgresConnectionSettings settings) =>
        new(config.Name, settings.ConnectionUrl, settings.Username, settings.MaxOpenLeases, config.CreatedAt, config.UpdatedAt, settings.RootRotatedAt);

    private static PostgresRoleView RoleView(EngineConfig config, PostgresRoleSettings settings) =>
        new(config.Name, config.Item[RoleItemPrefix.Length..], settings.CreationStatements, settings.RevocationStatements, settings.DefaultTtlSeconds,
            settings.MaxTtlSeconds, config.CreatedAt, config.UpdatedAt);

    private static KeywardException ChangedMeanwhile(string name) =>
        KeywardErrors.Conflict("engine_changed", $"Connection '{name}' was changed at the same time; read it again and retry.");

    private static KeywardException RefusedLogin(string name) =>
        KeywardErrors.EngineUnavailable(name, "it refused Keyward's login (check the username and password: PUT the connection again).");

    [GeneratedRegex(@"\Akw_[a-z0-9_]{1,60}\z", RegexOptions.CultureInvariant)]
    private static partial Regex UsernameRegex();
}
