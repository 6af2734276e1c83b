using Keyward.Core.Errors;
using Keyward.Core.Rotation;
using Keyward.Core.Secrets;
using Keyward.Gateway.Egress;
using Keyward.Gateway.Integrations;

namespace Keyward.Gateway.Forwarding;

/// <summary>
/// The gateway's <see cref="IPromotionVerifier"/>. Separate from <see cref="GatewayForwarder"/>: the rotation service
/// calls it, and the forwarder reads secrets through services that depend on the rotation service.
/// </summary>
public sealed class RotationVerifier : IPromotionVerifier
{
    private readonly IntegrationService _integrations;
    private readonly UpstreamHandlers _handlers;

    public RotationVerifier(IntegrationService integrations, UpstreamHandlers handlers)
    {
        _integrations = integrations;
        _handlers = handlers;
    }

    /// <summary>
    /// <c>rotation.verify</c>: the policy's call through its integration with the pending value injected (no agent, no
    /// body); the promotion goes ahead only on the expected status. The integration must inject this very secret, and
    /// its allow-list and address rules apply as to any call. The response body is discarded unread.
    /// </summary>
    public async Task VerifyAsync(string tenantUid, string path, RotationVerify verify, ReadOnlyMemory<byte> pending, CancellationToken cancellationToken)
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

        var value = GatewayForwarder.FieldOf(pending, integration);
        try
        {
            using var request = GatewayForwarder.BuildRequest(integration, verify.Method, verify.Path, "", value, null, null, out _);
            int status;
            try
            {
                using var response = await GatewayForwarder.SendUpstreamAsync(_handlers, integration, request, cancellationToken);
                status = (int)response.StatusCode;
            }
            catch (KeywardException failed)
            {
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
        }
    }
}
