using System.Collections.Concurrent;
using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Events;
using Keyward.Core.Rotation;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;

namespace Keyward.Core.Agents;

/// <summary>
/// Anomaly signals: recorded on the request's audit record and published as an <c>anomaly</c> event in the same
/// transaction. Denied requests are counted per agent; a tenant can turn "N denied in M seconds" (and bootstrap
/// replay, see <see cref="AgentService"/>) into an automatic lockdown of the offending subtree.
/// </summary>
public sealed class Anomalies
{
    public const string BootstrapReplay = "bootstrap_replay";
    public const string OutOfScope = "out_of_scope";
    public const string UseAfterRunComplete = "use_after_run_complete";
    public const string RenewAfterRevoke = "renew_after_revoke";

    /// <summary>A wrapping token presented after it was unwrapped: someone else had it.</summary>
    public const string WrapReuse = "wrap_reuse";

    /// <summary>Tracked agents per node; beyond this the oldest windows are dropped.</summary>
    private const int MaxTracked = 100_000;

    private readonly IKeywardStore _store;
    private readonly GroupCommitter _committer;
    private readonly TokenTree _tree;
    private readonly ExposureRotation _exposure;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, DenyWindow> _denied = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (AnomalySettings Settings, long At)> _settings = new(StringComparer.Ordinal);

    public Anomalies(IKeywardStore store, GroupCommitter committer, TokenTree tree, ExposureRotation exposure, TimeProvider time)
    {
        _store = store;
        _committer = committer;
        _tree = tree;
        _exposure = exposure;
        _time = time;
    }

    /// <summary>Marks the audit record with an anomaly and queues its event for the same commit.</summary>
    public static void Flag(AuditDraft audit, string tenantUid, string anomaly, TokenRecord? subject, DateTimeOffset at)
    {
        audit.Anomaly = anomaly;
        var data = new
        {
            anomaly,
            accessor = subject?.Accessor,
            agent_id = subject?.AgentId,
            run_id = subject?.RunId,
            operation = audit.Operation,
            request_id = audit.RequestId,
        };
        audit.AddEvent(EventLog.Record(tenantUid, EventTypes.Anomaly, at, data, audit.Path, subject?.Accessor));
    }

    /// <summary>
    /// Classifies a refused authentication of a known token: a token revoked by its run's completion, or a renewal
    /// with a revoked token.
    /// </summary>
    public void OnRefusedToken(AuditDraft audit, TokenRecord token)
    {
        if (token.TenantUid is not { } tenantUid || token.RevokedAt is null)
        {
            return;
        }

        if (audit.Operation == "auth.renew")
        {
            Flag(audit, tenantUid, RenewAfterRevoke, token, _time.GetUtcNow());
        }
        else if (token.RevokedReason == RevocationReasons.RunComplete)
        {
            Flag(audit, tenantUid, UseAfterRunComplete, token, _time.GetUtcNow());
        }
    }

    /// <summary>
    /// A request of an agent (or a token derived from one) was refused for lack of rights: flagged
    /// <c>out_of_scope</c>, counted, and — when the tenant asks for it and the threshold is reached — the agent's
    /// subtree is revoked before the refusal is answered. Denials through a derived token count against that token,
    /// not its session: the threshold revokes the derived token (and what was derived from it) and flags the session,
    /// which is revoked only when the tenant's <c>derived_denials_lock</c> is <c>session</c>.
    /// </summary>
    public async Task OnDeniedAsync(Principal caller, AuditDraft audit, KeywardException refusal)
    {
        if (!refusal.IsOutOfScope || caller.Tenant is not { } tenant || caller.Kind is not (TokenKind.Agent or TokenKind.Derived))
        {
            return;
        }

        var now = _time.GetUtcNow();
        Flag(audit, tenant.Uid, OutOfScope, caller.Token, now);
        var settings = await SettingsAsync(tenant.Uid);
        var counted = caller.Attenuation?.Id ?? caller.Token.Accessor;
        var count = Count(counted, now, settings.DenyThreshold?.Window ?? TimeSpan.FromMinutes(1));
        audit.AddDetail("denied_in_window", count);
        if (settings.DenyThreshold is not { } threshold || count < threshold.Count)
        {
            return;
        }

        if (caller.Attenuation is { } derived)
        {
            await RevokeDerivedAsync(caller, derived, audit, count);
            if (settings.DerivedDenialsLock != DerivedDenialsLock.Session)
            {
                return;
            }
        }

        await LockdownSubtreeAsync(caller, audit, count, settings.RotateExposed);
    }

    /// <summary>The deny threshold reached through a derived token: that token is revoked (and what was derived from it); its session is flagged.</summary>
    private async Task RevokeDerivedAsync(Principal caller, Tokens.Derived.Attenuation derived, AuditDraft trigger, int count)
    {
        var revocation = new AuditDraft(trigger.RequestId, "anomaly.revoke_derived")
        {
            TenantId = trigger.TenantId,
            Actor = trigger.Actor,
            Path = trigger.Path,
            Anomaly = OutOfScope,
        };
        revocation.AddDetail("denied_in_window", count);
        revocation.AddDetail("derived_id", derived.Id);
        revocation.AddDetail("flagged_session", caller.Token.Accessor);
        var hash = derived.Id[(derived.Id.IndexOf('.', StringComparison.Ordinal) + 1)..];
        await _committer.ExecuteAsync(revocation, session =>
            TokenTree.RevokeDerivedAsync(session, caller.Token, hash, RevocationReasons.Anomaly, _time.GetUtcNow()));
        _denied.TryRemove(derived.Id, out _);
        trigger.AddDetail("auto_lockdown", "derived_token");
    }

    private async Task LockdownSubtreeAsync(Principal caller, AuditDraft trigger, int count, bool rotateExposed)
    {
        var lockdown = new AuditDraft(trigger.RequestId, "anomaly.lockdown")
        {
            TenantId = trigger.TenantId,
            Actor = trigger.Actor,
            Path = trigger.Path,
            Anomaly = OutOfScope,
        };
        lockdown.AddDetail("denied_in_window", count);
        await _committer.ExecuteAsync(lockdown, async session =>
        {
            var token = await session.Tokens.GetByAccessorAsync(caller.Token.Accessor);
            if (token is null)
            {
                return RevocationCounts.Zero;
            }

            var now = _time.GetUtcNow();
            var counts = await _tree.RevokeSubtreeAsync(session, token, RevocationReasons.Anomaly, now);
            counts.AddTo(lockdown);
            if (rotateExposed && caller.Tenant is { } tenant)
            {
                // The subtree's tokens hold at most the agent's rules (children and derived tokens only narrow them).
                await _exposure.RotateAsync(session, tenant.Uid, [token.EffectiveRules], now, lockdown);
            }

            return counts;
        });
        _denied.TryRemove(caller.Token.Accessor, out _);
        trigger.AddDetail("auto_lockdown", "subtree");
    }

    /// <summary>The tenant's settings, cached for a second on this node (a PUT drops the entry at once).</summary>
    public async Task<AnomalySettings> SettingsAsync(string tenantUid)
    {
        if (_settings.TryGetValue(tenantUid, out var cached) && _time.GetElapsedTime(cached.At) < TimeSpan.FromSeconds(1))
        {
            return cached.Settings;
        }

        AnomalySettings settings;
        await using (var session = await _store.ReadAsync())
        {
            settings = await session.TenantSettings.GetAnomalySettingsAsync(tenantUid) ?? AnomalySettings.Default;
        }

        _settings[tenantUid] = (settings, _time.GetTimestamp());
        return settings;
    }

    /// <summary><c>PUT /v1/settings/anomalies</c> (tenant admin).</summary>
    public async Task<AnomalySettings> PutSettingsAsync(Principal caller, AnomalySettings settings, AuditDraft audit)
    {
        var tenant = caller.RequireAdmin();
        audit.Path = "settings/anomalies";
        await _committer.ExecuteAsync(audit, session => session.TenantSettings.PutAnomalySettingsAsync(tenant.Uid, settings, _time.GetUtcNow()));
        _settings.TryRemove(tenant.Uid, out _);
        return settings;
    }

    public Task<AnomalySettings> GetSettingsAsync(Principal caller) => SettingsAsync(caller.RequireAdmin().Uid);

    private int Count(string accessor, DateTimeOffset now, TimeSpan window)
    {
        if (_denied.Count >= MaxTracked)
        {
            _denied.Clear();
        }

        var entry = _denied.GetOrAdd(accessor, _ => new DenyWindow());
        return entry.Add(now, window);
    }

    /// <summary>Denial times of one agent within the window.</summary>
    private sealed class DenyWindow
    {
        private readonly Queue<DateTimeOffset> _times = new();

        public int Add(DateTimeOffset now, TimeSpan window)
        {
            lock (_times)
            {
                _times.Enqueue(now);
                while (_times.Count > 0 && _times.Peek() <= now - window)
                {
                    _times.Dequeue();
                }

                while (_times.Count > DenyThreshold.MaxCount)
                {
                    _times.Dequeue();
                }

                return _times.Count;
            }
        }
    }
}
