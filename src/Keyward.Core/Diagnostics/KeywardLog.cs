using Microsoft.Extensions.Logging;

namespace Keyward.Core.Diagnostics;

/// <summary>
/// Every log message of the broker, source-generated, with stable event ids. Messages carry ids, paths, counts
/// and codes — never a secret value, a token string or key material.
/// </summary>
public static partial class KeywardLog
{
    // 1xxx: seal and keys
    [LoggerMessage(1001, LogLevel.Information, "Initialized with {Shares} key shares, threshold {Threshold}")]
    public static partial void Initialized(ILogger logger, int shares, int threshold);

    [LoggerMessage(1002, LogLevel.Information, "Unsealed")]
    public static partial void Unsealed(ILogger logger);

    [LoggerMessage(1003, LogLevel.Warning, "Sealed: keys wiped from memory")]
    public static partial void SealedNow(ILogger logger);

    [LoggerMessage(1004, LogLevel.Warning, "Unseal attempt failed: {Reason}")]
    public static partial void UnsealFailed(ILogger logger, string reason);

    [LoggerMessage(1005, LogLevel.Warning, "Root tokens revoked: {Count}")]
    public static partial void RootTokensRevoked(ILogger logger, int count);

    [LoggerMessage(1006, LogLevel.Warning, "A new root token was generated from a threshold of key shares")]
    public static partial void RootTokenGenerated(ILogger logger);

    // 2xxx: storage and commit
    [LoggerMessage(2001, LogLevel.Error, "Commit of a batch of {Items} operations failed; none was acknowledged")]
    public static partial void CommitFailed(ILogger logger, int items, Exception exception);

    [LoggerMessage(2002, LogLevel.Error, "Operation {Operation} failed unexpectedly and was rolled back")]
    public static partial void OperationFailed(ILogger logger, string operation, Exception exception);

    [LoggerMessage(2003, LogLevel.Information, "Store opened: {Engine} at schema version {Version}")]
    public static partial void StoreOpened(ILogger logger, string engine, int version);

    [LoggerMessage(2004, LogLevel.Warning, "Background WAL checkpoint failed with SQLite error {Code}; the next one will retry")]
    public static partial void CheckpointFailed(ILogger logger, int code);

    /// <summary>Where a shared store lives: its connection string with the password removed, never with it.</summary>
    [LoggerMessage(2005, LogLevel.Information, "Store target: {Engine} at {Target}")]
    public static partial void StoreTarget(ILogger logger, string engine, string target);

    [LoggerMessage(2007, LogLevel.Warning, "The store is unreachable ({Error}); health answers 503 until it is back")]
    public static partial void StoreUnreachable(ILogger logger, string error);

    [LoggerMessage(2006, LogLevel.Warning, "Lost the store's change notifications ({Error}); reconnecting. Caches are dropped meanwhile and expire within a second")]
    public static partial void StoreNotificationsLost(ILogger logger, string error);

    // 3xxx: audit
    /// <summary>
    /// A checkpoint, complete enough to serve as an anchor for <c>keyward operator audit verify --anchor</c> (the line is
    /// parsed by <see cref="Audit.AuditAnchors"/>; its MAC covers seq, hash and time, so all three are here).
    /// </summary>
    [LoggerMessage(3001, LogLevel.Information, "Audit checkpoint seq={Seq} hash={Hash} mac={Mac} time={Time}")]
    public static partial void AuditCheckpoint(ILogger logger, long seq, string hash, string mac, string time);

    [LoggerMessage(3002, LogLevel.Error, "Audit verification failed: first bad seq {FirstBadSeq}, truncated after {TruncatedAfter}")]
    public static partial void AuditVerifyFailed(ILogger logger, long? firstBadSeq, long? truncatedAfter);

    [LoggerMessage(3003, LogLevel.Warning, "The audit head at seq {Seq} {State}; this commit chains on it and MACs it. Unless the store was just upgraded from a version without head MACs, the head was rewritten and records after it may have been cut off: verify with an anchor (keyward operator audit verify --anchor)")]
    public static partial void AuditHeadUnauthenticated(ILogger logger, long seq, string state);

    // 4xxx: tenants and keys
    [LoggerMessage(4001, LogLevel.Information, "Tenant {TenantId} created")]
    public static partial void TenantCreated(ILogger logger, string tenantId);

    [LoggerMessage(4002, LogLevel.Warning, "Tenant {TenantId} deleted: {Tokens} tokens revoked, {Keys} key versions destroyed, id retired")]
    public static partial void TenantDeleted(ILogger logger, string tenantId, int tokens, int keys);

    [LoggerMessage(4003, LogLevel.Information, "Tenant {TenantId} key rotated to version {KeyVersion}")]
    public static partial void TenantKeyRotated(ILogger logger, string tenantId, int keyVersion);

    [LoggerMessage(4004, LogLevel.Information, "Rewrap {JobId} of tenant {TenantId}: {Done}/{Total} done, {Failed} failed, state {State}")]
    public static partial void RewrapProgress(ILogger logger, string jobId, string tenantId, long done, long total, long failed, string state);

    [LoggerMessage(4005, LogLevel.Error, "Rewrap {JobId} of tenant {TenantId} stopped")]
    public static partial void RewrapFailed(ILogger logger, string jobId, string tenantId, Exception exception);

    [LoggerMessage(4006, LogLevel.Warning, "Tenant {TenantId} locked down (incident {IncidentId}): {Tokens} tokens and {Leases} leases revoked in {Milliseconds} ms")]
    public static partial void TenantLockedDown(ILogger logger, string tenantId, string incidentId, int tokens, int leases, double milliseconds);

    [LoggerMessage(4007, LogLevel.Warning, "Lease {LeaseId} clean-up outside Keyward failed (attempt {Attempt}, {ErrorType}); retrying at {NextAt}")]
    public static partial void LeaseCleanupFailed(ILogger logger, string leaseId, int attempt, string errorType, DateTimeOffset nextAt);

    [LoggerMessage(4008, LogLevel.Error, "Background sweep failed ({ErrorType}); retrying on the next tick")]
    public static partial void SweepFailed(ILogger logger, string errorType);

    // 5xxx: requests and hosting
    // 6xxx: rotation
    [LoggerMessage(6001, LogLevel.Information, "Scheduled rotation of {Path} (tenant {TenantUid}): version {Version} is current, epoch {Epoch}")]
    public static partial void ScheduledRotation(ILogger logger, string tenantUid, string path, long version, long epoch);

    [LoggerMessage(6002, LogLevel.Warning, "Scheduled rotation of {Path} (tenant {TenantUid}) failed ({ErrorType} {Code}); retried once its claim lapses")]
    public static partial void ScheduledRotationFailed(ILogger logger, string tenantUid, string path, string errorType, string? code);

    [LoggerMessage(6003, LogLevel.Error, "Rotation scheduler pass failed ({ErrorType}); retrying on the next tick")]
    public static partial void RotationPassFailed(ILogger logger, string errorType);

    [LoggerMessage(5001, LogLevel.Error, "Unhandled error on {Method} {Route} (request {RequestId})")]
    public static partial void UnhandledError(ILogger logger, string method, string route, string requestId, Exception exception);

    [LoggerMessage(5002, LogLevel.Information, "Keyward listening on {Address}")]
    public static partial void Listening(ILogger logger, string address);

    [LoggerMessage(5003, LogLevel.Warning, "Request refused: {Status} {Code} on {Method} {Route}")]
    public static partial void RequestRefused(ILogger logger, int status, string code, string method, string route);

    [LoggerMessage(5004, LogLevel.Warning, "Unattended unseal from key file {File}: keep this file as safe as the root key")]
    public static partial void UnsealedFromFile(ILogger logger, string file);

    [LoggerMessage(7001, LogLevel.Error, "The gateway.complete record of request {RequestId} could not be committed ({ErrorType}); its gateway.request record stands")]
    public static partial void GatewayCompleteNotRecorded(ILogger logger, string requestId, string errorType);
}
