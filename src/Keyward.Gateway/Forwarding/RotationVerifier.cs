using System.Diagnostics;
using Keyward.Core;
using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Core.Rotation;
using Keyward.Core.Secrets;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;
using Keyward.Gateway.Budgets;
using Keyward.Gateway.Egress;
using Keyward.Gateway.Integrations;

namespace Keyward.Gateway.Forwarding;

/// <summary>
/// The gateway's <see cref="IPromotionVerifier"/>. Separate from <see cref="GatewayForwarder"/>: the rotation service
/// calls it, and the forwarder reads secrets through services that depend on the rotation service.
/// </summary>
public sealed class RotationVerifier : IPromotionVerifier
{
    /// <summary>Who the verification call's records name: the rotation lifecycle, not an agent.</summary>
    public static readonly AuditActor Actor = new("rotation");

    /// <summary>Whose rate-limit bucket the scheduler's verification calls take from (no token's accessor looks like it).</summary>
    internal const string SchedulerBucket = "rotation";

    private readonly IntegrationService _integrations;
    private readonly UpstreamHandlers _handlers;
    private readonly GroupCommitter _committer;
    private readonly TenantDirectory _tenants;
    private readonly RunBudgets _budgets;
    private readonly AgentRateLimits _rates;

    public RotationVerifier(
        IntegrationService integrations, UpstreamHandlers handlers, GroupCommitter committer, TenantDirectory tenants, RunBudgets budgets, AgentRateLimits rates)
    {
        _integrations = integrations;
        _handlers = handlers;
        _committer = committer;
        _tenants = tenants;
        _budgets = budgets;
        _rates = rates;
    }

    /// <summary>
    /// <c>rotation.verify</c>: the policy's call through its integration with the pending value injected (no agent, no
    /// body); the promotion goes ahead only on the expected status. The integration must inject this very secret, and
    /// its allow-list and address rules apply as to any call. The response body is discarded unread. Like any call the
    /// gateway makes with a credential, it has a durable <c>gateway.request</c> record (detail <c>purpose</c>
    /// <c>rotation.verify</c>, the pending version) before the first byte goes upstream, and a <c>gateway.complete</c>.
    /// And like any call it is counted: it takes from <paramref name="promoter"/>'s <c>per_agent_rps</c> bucket (the
    /// scheduler's calls from one bucket of their own) and, when the promoter belongs to a run, from that run's budget and
    /// its slices, in the transaction that makes the record durable — 429 <c>gateway_rate_limited</c> or
    /// <c>run_budget_exhausted</c> otherwise, and nothing goes upstream.
    /// </summary>
    public async Task VerifyAsync(string tenantUid, string path, long version, RotationVerify verify, ReadOnlyMemory<byte> pending, Principal? promoter, CancellationToken cancellationToken)
    {
        Integration integration;
        try
        {
            integration = await _integrations.ResolveAsync(tenantUid, verify.Integration, cancellationToken);
        }
        catch (KeywardException)
        {
            throw KeywardErrors.RotationVerificationFailed(path, $"integration '{verify.Integration}' does not exist.");
        }

        if (integration.SecretPath != path)
        {
            throw KeywardErrors.RotationVerificationFailed(path, $"integration '{integration.Name}' injects '{integration.SecretPath}', not this secret.");
        }

        UpstreamPath.Validate(verify.Path);
        if (!integration.Allows(verify.Method, verify.Path))
        {
            throw KeywardErrors.RotationVerificationFailed(path, $"integration '{integration.Name}' does not allow {verify.Method} {verify.Path}.");
        }

        var audit = new AuditDraft(Ids.NewRequestId(), "gateway.request")
        {
            TenantId = (await _tenants.GetByUidAsync(tenantUid, cancellationToken))?.Id,
            Actor = Actor,
            Path = path,
            Version = version,
        };
        GatewayForwarder.DescribeCall(audit, integration.Name, verify.Method, verify.Path);
        audit.AddDetail("purpose", "rotation.verify");
        if (integration.Limits.PerAgentRps is { } rps)
        {
            _rates.Take(tenantUid, integration.Name, promoter?.Token.Accessor ?? SchedulerBucket, rps);
        }

        if (promoter is null)
        {
            await _committer.AuditAsync(audit);
        }
        else
        {
            audit.AddDetail("promoter", promoter.Token.Accessor);
            audit.Succeeded();
            await _budgets.CommitRequestAsync(promoter, integration.Name, integration.Limits.RunBudget, audit, cancellationToken);
        }

        var complete = GatewayForwarder.CompletionOf(audit, integration.Name);
        complete.AddDetail("purpose", "rotation.verify");
        var started = Stopwatch.GetTimestamp();
        var value = GatewayForwarder.FieldOf(pending, integration);
        try
        {
            using var request = GatewayForwarder.BuildRequest(integration, verify.Method, verify.Path, "", value, null, null, out _);
            int status;
            try
            {
                using var response = await GatewayForwarder.SendUpstreamAsync(_handlers, integration, request, cancellationToken);
                status = (int)response.StatusCode;
                complete.SuccessStatus = status;
                complete.Succeeded();
            }
            catch (KeywardException failed)
            {
                complete.Failed(failed);
                throw KeywardErrors.RotationVerificationFailed(path, failed.Message);
            }

            if (status != verify.ExpectStatus)
            {
                throw KeywardErrors.RotationVerificationFailed(path, $"{verify.Method} {verify.Path} through '{integration.Name}' answered {status}, not {verify.ExpectStatus}.");
            }
        }
        finally
        {
            SecretService.Wipe(value);
            complete.AddDetail("duration_ms", (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            await _committer.AuditAsync(complete);
        }
    }
}
