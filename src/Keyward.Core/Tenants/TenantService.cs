using Keyward.Core.Audit;
using Keyward.Core.Diagnostics;
using Keyward.Core.Errors;
using Keyward.Core.Events;
using Keyward.Core.Leases;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;
using Keyward.Core.Validation;
using Microsoft.Extensions.Logging;

namespace Keyward.Core.Tenants;

/// <summary>Tenant lifecycle (root token): onboarding, tenant tokens, key rotation and rewrap, offboarding.</summary>
public sealed class TenantService
{
    /// <summary>Tenant admin and orchestrator tokens live one hour unless asked otherwise…</summary>
    public static readonly TimeSpan DefaultTenantTokenTtl = TimeSpan.FromHours(1);

    /// <summary>…and never longer than 30 days: long-lived credentials are the ones that leak.</summary>
    public static readonly TimeSpan MaxTenantTokenTtl = TimeSpan.FromDays(30);

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly TenantKeyRings _rings;
    private readonly TokenService _tokens;
    private readonly Secrets.SecretRowCache _rows;
    private readonly RewrapJobs _rewrap;
    private readonly LeaseEngines _engines;
    private readonly LockdownRevocations _revocations;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public TenantService(
        IKeywardStore store,
        GroupCommitter committer,
        TenantKeyRings rings,
        TokenService tokens,
        Secrets.SecretRowCache rows,
        RewrapJobs rewrap,
        LeaseEngines engines,
        LockdownRevocations revocations,
        TimeProvider time,
        ILogger<TenantService> logger)
    {
        _store = store;
        _committer = committer;
        _rings = rings;
        _tokens = tokens;
        _rows = rows;
        _rewrap = rewrap;
        _engines = engines;
        _revocations = revocations;
        _time = time;
        _logger = logger;
    }

    public async Task<Tenant> CreateAsync(Principal caller, string? id, string? name, AuditDraft audit)
    {
        caller.RequireRoot();
        id = Names.RequireTenantId(id);
        audit.TenantId = id;
        if (name is { Length: > 256 })
        {
            throw KeywardErrors.InvalidField("name", "at most 256 characters");
        }

        var now = _time.GetUtcNow();
        var tenant = new Tenant(Ids.NewTenantUid(), id, name, TenantState.Active, now, now);
        var (wrapped, key) = _rings.NewVersion(tenant.Uid, 1);
        key.Dispose();
        await _committer.ExecuteAsync(audit, async session =>
        {
            var existing = await session.Tenants.GetByIdAsync(id);
            if (existing is not null)
            {
                throw existing.State == TenantState.Retired ? KeywardErrors.TenantRetired(id) : KeywardErrors.TenantExists(id);
            }

            if (!await session.Tenants.TryInsertAsync(tenant))
            {
                throw KeywardErrors.TenantExists(id);
            }

            await session.TenantKeys.InsertAsync(wrapped);
        });
        KeywardLog.TenantCreated(_logger, id);
        return tenant;
    }

    public async Task<IReadOnlyList<Tenant>> ListAsync(Principal caller, CancellationToken cancellationToken = default)
    {
        caller.RequireRoot();
        await using var session = await _store.ReadAsync(cancellationToken);
        return await session.Tenants.ListAsync(cancellationToken);
    }

    public async Task<Tenant> GetAsync(Principal caller, string id, AuditDraft audit, CancellationToken cancellationToken = default)
    {
        caller.RequireRoot();
        audit.TenantId = id;
        await using var session = await _store.ReadAsync(cancellationToken);
        return await session.Tenants.GetByIdAsync(id, cancellationToken) ?? throw KeywardErrors.TenantNotFound(id);
    }

    /// <summary>
    /// Offboarding, in this order and in one transaction: lock the tenant, revoke every token and lease, destroy its key
    /// material, retire the id for good. Then the engine purges the deleted key pages. Ciphertexts stay, unreadable
    /// even to the operator; audit records stay, readable by root. When revoked leases still wait for a clean-up
    /// outside Keyward (a database login to drop, with a password sealed under the tenant's key), the keys are kept
    /// until the last is done (<c>pending_external</c>); then <see cref="DestroyRetainedKeysAsync"/> destroys them.
    /// </summary>
    public async Task DeleteAsync(Principal caller, string id, AuditDraft audit)
    {
        caller.RequireRoot();
        audit.TenantId = id;
        string? uid = null;
        var (revoked, destroyed) = await _committer.ExecuteAsync(audit, async session =>
                {
                    var tenant = await session.Tenants.GetByIdAsync(id);
                    if (tenant is null || tenant.State == TenantState.Retired)
                    {
                        throw KeywardErrors.TenantNotFound(id);
                    }

                    uid = tenant.Uid;
                    var now = _time.GetUtcNow();
                    await session.Tenants.UpdateStateAsync(tenant.Uid, TenantState.Locked, now);
                    var tokens = await session.Tokens.RevokeTenantAsync(tenant.Uid, now, RevocationReasons.TenantDeleted);
                    var leases = await session.Leases.RevokeTenantAsync(tenant.Uid, now, _engines.External);
                    audit.AddDetail("revoked_leases", leases);
                    audit.AddDetail("revoked_wraps", await session.Wraps.RevokeTenantAsync(tenant.Uid));
                    var pending = await session.Leases.CountPendingCleanupsAsync(tenant.Uid);
                    audit.AddDetail("pending_external", pending);
                    var keys = pending == 0 ? await session.TenantKeys.DeleteAllAsync(tenant.Uid) : 0;
                    await session.Tenants.UpdateStateAsync(tenant.Uid, TenantState.Retired, now);
                    audit.AddDetail("revoked_tokens", tokens);
                    audit.AddDetail("destroyed_key_versions", keys);
                    return (tokens, keys);
                });

        if (uid is not null)
        {
            _rings.Remove(uid);
            _rows.RemoveTenant(uid);
        }

        await _store.PurgeDeletedDataAsync();
        KeywardLog.TenantDeleted(_logger, id, revoked, destroyed);
    }

    /// <summary>
    /// Destroys the keys offboarding kept for clean-ups outside Keyward, of every retired tenant whose clean-ups are
    /// all done (the sweeper calls this after its clean-ups); each destruction is audited. Returns how many tenants.
    /// </summary>
    public async Task<int> DestroyRetainedKeysAsync(CancellationToken cancellationToken = default)
    {
        IReadOnlyList<string> holders;
        await using (var session = await _store.ReadAsync(cancellationToken))
        {
            holders = await session.TenantKeys.ListRetiredHoldersAsync(cancellationToken);
        }

        var destroyedTenants = 0;
        foreach (var uid in holders)
        {
            var audit = new AuditDraft(Ids.NewRequestId(), "tenant.keys_destroyed") { Actor = new AuditActor("sweeper") };
            var destroyed = await _committer.ExecuteAsync(audit, async session =>
            {
                var tenant = await session.Tenants.GetByUidAsync(uid);
                audit.TenantId = tenant?.Id;
                if (tenant?.State != TenantState.Retired || await session.Leases.CountPendingCleanupsAsync(uid) > 0)
                {
                    return 0;
                }

                var keys = await session.TenantKeys.DeleteAllAsync(uid);
                audit.AddDetail("destroyed_key_versions", keys);
                return keys;
            });

            if (destroyed > 0)
            {
                _rings.Remove(uid);
                destroyedTenants++;
                KeywardLog.TenantDeleted(_logger, audit.TenantId ?? uid, 0, destroyed);
            }
        }

        if (destroyedTenants > 0)
        {
            await _store.PurgeDeletedDataAsync(cancellationToken);
        }

        return destroyedTenants;
    }

    public async Task<(string Token, TokenRecord Record)> CreateTokenAsync(
        Principal caller, string id, string? kind, TimeSpan? ttl, string? displayName, AuditDraft audit)
    {
        caller.RequireRoot();
        audit.TenantId = id;
        if (!TokenKinds.TryParseName(kind, out var tokenKind) || tokenKind is not (TokenKind.Admin or TokenKind.Orchestrator))
        {
            throw KeywardErrors.InvalidField("kind", "must be \"admin\" or \"orchestrator\"");
        }

        var lifetime = ttl ?? DefaultTenantTokenTtl;
        if (lifetime > MaxTenantTokenTtl)
        {
            throw KeywardErrors.TtlExceedsLimit($"Tenant tokens live at most {Durations.Format(MaxTenantTokenTtl)}.");
        }

        if (displayName is { Length: > 128 })
        {
            throw KeywardErrors.InvalidField("display_name", "at most 128 characters");
        }

        // While locked down, root may still mint admin tokens: they can read the audit log and nothing else.
        var tenant = await RequireActiveAsync(id, allowLocked: tokenKind == TokenKind.Admin);
        var minted = _tokens.Mint(tokenKind, tenant.Uid, lifetime, caller.Token.Accessor, displayName);
        audit.AddDetail("minted_accessor", minted.Record.Accessor);
        audit.AddDetail("minted_kind", TokenKinds.Name(tokenKind));
        await _committer.ExecuteAsync(audit, async session =>
        {
            var current = await session.Tenants.GetByUidAsync(tenant.Uid);
            if (current?.State is not (TenantState.Active or TenantState.Locked) || (current.State == TenantState.Locked && tokenKind != TokenKind.Admin))
            {
                throw KeywardErrors.TenantNotFound(id);
            }

            await session.Tokens.InsertAsync(minted.Record);
        });
        return minted;
    }

    /// <summary>Starts a new key version: new writes use it, old versions stay readable until rewrapped.</summary>
    public async Task<int> RotateKeyAsync(Principal caller, string id, AuditDraft audit)
    {
        caller.RequireRoot();
        audit.TenantId = id;
        var tenant = await RequireActiveAsync(id);
        var ring = await _rings.GetAsync(tenant.Uid);
        var version = ring.CurrentVersion + 1;
        var (wrapped, key) = _rings.NewVersion(tenant.Uid, version);
        try
        {
            audit.AddDetail("key_version", version);
            await _committer.ExecuteAsync(audit, async session =>
            {
                var stored = await session.TenantKeys.ListAsync(tenant.Uid);
                if (stored.Count == 0 || stored.Max(k => k.Version) != version - 1)
                {
                    throw KeywardErrors.Conflict("key_rotation_conflict", "Another key rotation of this tenant ran at the same time; retry.");
                }

                await session.TenantKeys.InsertAsync(wrapped);
            });
        }
        catch
        {
            key.Dispose();
            throw;
        }

        await _rings.AdoptAsync(tenant.Uid, version, key);
        KeywardLog.TenantKeyRotated(_logger, id, version);
        return version;
    }

    public async Task<RewrapJob> StartRewrapAsync(Principal caller, string id, AuditDraft audit)
    {
        caller.RequireRoot();
        audit.TenantId = id;
        var tenant = await RequireActiveAsync(id);
        var ring = await _rings.GetAsync(tenant.Uid);
        var job = _rewrap.Start(tenant, ring.CurrentVersion, caller.Actor);
        audit.AddDetail("job_id", job.Id);
        audit.AddDetail("key_version", ring.CurrentVersion);
        return job;
    }

    public RewrapJob GetRewrapJob(Principal caller, string id, string jobId, AuditDraft audit)
    {
        caller.RequireRoot();
        audit.TenantId = id;
        return _rewrap.Get(jobId) is { } job && job.TenantId == id ? job : throw KeywardErrors.JobNotFound(jobId);
    }

    /// <summary>
    /// The kill switch: in one transaction the tenant is locked and every token and lease of it is marked revoked
    /// (clean-ups outside Keyward continue in the background, counted as <c>pending_external</c>); an incident is
    /// recorded in the audit log and a <c>tenant.lockdown</c> event published. From the commit on, every request of
    /// the tenant answers 423 — caches are invalidated before and after it.
    /// </summary>
    public async Task<LockdownIncident> LockdownAsync(Principal caller, string id, string? reason, AuditDraft audit)
    {
        caller.RequireRoot();
        audit.TenantId = id;
        if (string.IsNullOrWhiteSpace(reason))
        {
            throw KeywardErrors.MissingField("reason");
        }

        if (reason.Length > 512)
        {
            throw KeywardErrors.InvalidField("reason", "at most 512 characters");
        }

        var started = _time.GetTimestamp();
        var incidentId = Ids.NewIncidentId();
        string? lockedUid = null;
        var incident = await _committer.ExecuteAsync(audit, async session =>
                {
                    var tenant = await session.Tenants.GetByIdAsync(id);
                    if (tenant is null || tenant.State is TenantState.Retired or TenantState.Deleting)
                    {
                        throw KeywardErrors.TenantNotFound(id);
                    }

                    // One row: the revocation epoch. Every token and lease issued up to now is revoked from this commit
                    // on (authentication checks the epoch); the rows are marked in batches right after.
                    var now = _time.GetUtcNow();
                    await session.Tenants.UpdateStateAsync(tenant.Uid, TenantState.Locked, now);
                    await session.Tenants.SetRevokedBeforeAsync(tenant.Uid, now);
                    var tokens = await session.Tokens.CountLiveAsync(tenant.Uid, now);
                    var (leases, pending) = await session.Leases.CountLiveAsync(tenant.Uid, now, _engines.External);
                    // Outstanding wrapped responses are erased at once (at most 10 minutes' worth, one statement).
                    var wraps = await session.Wraps.RevokeTenantAsync(tenant.Uid);
                    lockedUid = tenant.Uid;
                    var took = _time.GetElapsedTime(started);
                    var result = new LockdownIncident(incidentId, tokens, leases, pending, took);
                    await EventLog.AppendAsync(session, tenant.Uid, EventTypes.TenantLockdown, now,
                        new { incident_id = incidentId, reason, revoked_tokens = tokens, revoked_leases = leases, pending_external = pending });
                    audit.AddDetail("incident_id", incidentId);
                    audit.AddDetail("reason", reason);
                    audit.AddDetail("revoked_tokens", tokens);
                    audit.AddDetail("revoked_leases", leases);
                    audit.AddDetail("pending_external", pending);
                    audit.AddDetail("revoked_wraps", wraps);
                    audit.AddDetail("revoke_ms", took.TotalMilliseconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture));
                    return result;
                });

        incident = incident with { Took = _time.GetElapsedTime(started) };
        _ = MarkRevokedAsync(lockedUid!);
        KeywardLog.TenantLockedDown(_logger, id, incidentId, incident.RevokedTokens, incident.RevokedLeases, incident.Took.TotalMilliseconds);
        return incident;
    }

    /// <summary>Marks the lockdown's rows in the background; a failure is logged and the sweeper resumes it.</summary>
    private async Task MarkRevokedAsync(string tenantUid)
    {
        try
        {
            await _revocations.MaterializeAsync(tenantUid);
        }
        catch (Exception error)
        {
            KeywardLog.SweepFailed(_logger, error.GetType().Name);
        }
    }

    /// <summary>
    /// Lifts a lockdown. Tokens and leases it revoked stay revoked: agents start over with new bootstraps. The
    /// lockdown's rows are all marked revoked before the tenant is let in again.
    /// </summary>
    public async Task UnlockAsync(Principal caller, string id, AuditDraft audit)
    {
        caller.RequireRoot();
        audit.TenantId = id;
        await using (var session = await _store.ReadAsync())
        {
            if (await session.Tenants.GetByIdAsync(id) is { RevocationPending: true } pending)
            {
                await _revocations.MaterializeAsync(pending.Uid);
            }
        }

        await _committer.ExecuteAsync(audit, async session =>
        {
            var tenant = await session.Tenants.GetByIdAsync(id);
            if (tenant is null || tenant.State is TenantState.Retired or TenantState.Deleting)
            {
                throw KeywardErrors.TenantNotFound(id);
            }

            if (tenant.State != TenantState.Locked)
            {
                throw KeywardErrors.TenantNotLocked(id);
            }

            var now = _time.GetUtcNow();
            await session.Tenants.UpdateStateAsync(tenant.Uid, TenantState.Active, now);
            await EventLog.AppendAsync(session, tenant.Uid, EventTypes.TenantUnlocked, now, new { tenant = id });
        });
    }

    private async Task<Tenant> RequireActiveAsync(string id, bool allowLocked = false)
    {
        await using var session = await _store.ReadAsync();
        var tenant = await session.Tenants.GetByIdAsync(id);
        return tenant switch
        {
            null or { State: TenantState.Retired or TenantState.Deleting } => throw KeywardErrors.TenantNotFound(id),
            { State: TenantState.Locked } when !allowLocked => throw KeywardErrors.TenantLocked(id),
            _ => tenant,
        };
    }
}
