using Keyward.Core.Audit;
using Keyward.Core.Events;
using Keyward.Core.Leases;
using Keyward.Core.Auth.Jwt;
using Keyward.Core.Policies;
using Keyward.Core.Seal;
using Keyward.Core.Secrets;
using Keyward.Core.Tenants;
using Keyward.Core.Tokens;

namespace Keyward.Core.Storage;

/// <summary>
/// A storage engine (SQLite embedded, PostgreSQL shared). No engine type crosses this interface: the core sees
/// sessions exposing the per-feature ports. Durable means committed with a full sync (SQLite WAL
/// <c>synchronous=FULL</c>, PostgreSQL <c>synchronous_commit=on</c>).
/// </summary>
public interface IKeywardStore : IAsyncDisposable
{
    /// <summary>"sqlite" or "postgres".</summary>
    string Engine { get; }

    /// <summary>Opens the store and applies pending schema migrations.</summary>
    Task OpenAsync(CancellationToken cancellationToken = default);

    /// <summary>A read-only session on a consistent snapshot.</summary>
    ValueTask<IStoreSession> ReadAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// A read-only session for exactly one statement: one port call that every engine answers with a single query
    /// (<see cref="ISecretStore.ReadAsync"/>, for one). A single statement sees one consistent state by itself, so an
    /// engine may run it without opening a transaction (PostgreSQL saves the <c>BEGIN</c> and <c>ROLLBACK</c> round
    /// trip, and refuses a second statement in it). Use <see cref="ReadAsync"/> when several reads must agree.
    /// </summary>
    ValueTask<IStoreSession> ReadOneStatementAsync(CancellationToken cancellationToken = default) => ReadAsync(cancellationToken);

    /// <summary>
    /// One secret read outside any session, as <see cref="ISecretStore.ReadAsync"/> in a
    /// <see cref="ReadOneStatementAsync"/> session answers it (which the default does). An engine may answer the reads
    /// of concurrent callers together (PostgreSQL: one statement for all of them), as long as each read's statement
    /// starts after the read was asked for: a read sees every commit that preceded it.
    /// </summary>
    async Task<(SecretMetadata Metadata, SecretVersion? Version)?> ReadSecretAsync(
        string tenantUid, string path, long? version, SecretStage stage, CancellationToken cancellationToken = default)
    {
        await using var session = await ReadOneStatementAsync(cancellationToken);
        return await session.Secrets.ReadAsync(tenantUid, path, version, stage, cancellationToken);
    }

    /// <summary>A write transaction. Nothing it does is visible or durable until <see cref="IWriteSession.CommitAsync"/>.</summary>
    ValueTask<IWriteSession> WriteAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// After key material was deleted: make sure no copy lingers in free pages or logs of the engine
    /// (SQLite: secure_delete is always on; this forces a WAL checkpoint and truncation).
    /// </summary>
    Task PurgeDeletedDataAsync(CancellationToken cancellationToken = default);
}

/// <summary>The store is held by another Keyward process (an embedded store serves one process at a time).</summary>
public sealed class StoreInUseException : InvalidOperationException
{
    public StoreInUseException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// A store other Keyward nodes write to as well (PostgreSQL). Each node keeps caches; <see cref="NodeCoherence"/>
/// drops them when the store reports another node's commit, and bounds their age, so that nothing another node
/// changed is hidden for long (see docs/designs/0008-several-nodes.md).
/// </summary>
public interface ISharedStore : IKeywardStore
{
    /// <summary>
    /// Raised (on any thread, after the commit) when another node committed a write, and when notifications were
    /// interrupted (a reconnect: something may have been missed). Handlers must be cheap.
    /// </summary>
    event Action? ChangedElsewhere;

    /// <summary>This node's name in the store (rotation claims, notifications).</summary>
    string NodeId { get; }

    /// <summary>Whether notifications from other nodes are being received right now.</summary>
    bool Listening { get; }

    /// <summary>
    /// Becomes the one node doing <paramref name="role"/> (the sweeper's pass, whose clean-ups act outside the store),
    /// or returns null when another node is. Held until disposed or until the holder's connection to the store is lost
    /// (then another node can take it): check <see cref="IStoreLeadership.StillHeldAsync"/> before each piece of work.
    /// </summary>
    Task<IStoreLeadership?> TryLeadAsync(string role, CancellationToken cancellationToken = default);

    /// <summary>
    /// <see cref="IKeywardStore.ReadSecretAsync"/> with the store's secret generation as of the same statement: a counter
    /// that every transaction changing a secret or a version moves, on any node, whatever wrote it (the engine moves it
    /// itself). A row read under generation G is still the stored row for as long as the generation is G, which is how
    /// a node may answer from a row it cached: the read's audit record is written only if the generation still is G
    /// (<see cref="IWriteSession.CommitAuditedAsync"/>), else the read is done again from the store.
    /// </summary>
    Task<((SecretMetadata Metadata, SecretVersion? Version)? Row, long Generation)> ReadSecretWithGenerationAsync(
        string tenantUid, string path, long? version, SecretStage stage, CancellationToken cancellationToken = default);
}

/// <summary>One node's exclusive hold on a role among the nodes of a shared store (see <see cref="ISharedStore.TryLeadAsync"/>).</summary>
public interface IStoreLeadership : IAsyncDisposable
{
    /// <summary>Whether the hold is still this node's (false once its connection to the store was lost).</summary>
    Task<bool> StillHeldAsync(CancellationToken cancellationToken = default);
}

public interface IStoreSession : IAsyncDisposable
{
    ISealStore Seal { get; }

    ITenantStore Tenants { get; }

    ITenantKeyStore TenantKeys { get; }

    ITokenStore Tokens { get; }

    IRoleStore Roles { get; }

    ISecretStore Secrets { get; }

    IAuditStore Audit { get; }

    ILeaseStore Leases { get; }

    IEventStore Events { get; }

    ITenantSettingsStore TenantSettings { get; }

    IJwtIssuerStore JwtIssuers { get; }

    Engines.IEngineConfigStore Engines { get; }

    Wrapping.IWrapStore Wraps { get; }

    Budgets.IBudgetStore Budgets { get; }
}

public interface IWriteSession : IStoreSession
{
    /// <summary>
    /// What the statements this session ran so far change for node caches (<see cref="StoreStatements.Changes"/>), rolled-back
    /// savepoints included (an extra invalidation is harmless). An engine that cannot tell answers <see cref="StoreChanges.All"/>.
    /// </summary>
    StoreChanges Changes => StoreChanges.All;

    /// <summary>Starts a nested scope so one operation of a group commit can roll back alone.</summary>
    Task SavepointAsync(CancellationToken cancellationToken = default);

    Task RollbackToSavepointAsync(CancellationToken cancellationToken = default);

    Task ReleaseSavepointAsync(CancellationToken cancellationToken = default);

    Task CommitAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Closes a group-commit batch: appends its audit <paramref name="records"/> and <paramref name="checkpoint"/> (if
    /// any), moves the chain head to <paramref name="head"/>, reads the newest event id and commits — durable on return,
    /// as <see cref="CommitAsync"/>. Returns that event id. An engine that talks to its database in round trips sends
    /// these steps as one (PostgreSQL); by default they run one after another. A failure of any step commits nothing.
    /// </summary>
    /// <param name="records">The batch's records, chained onto the head they follow.</param>
    /// <param name="checkpoint">A checkpoint of the new head, or null.</param>
    /// <param name="head">The head after <paramref name="records"/>.</param>
    /// <param name="from">The head the records chain onto when the session did not read it (null when it did, under its
    /// lock): the head moves only if it still is <paramref name="from"/>, checked under the head's lock before anything
    /// else is written. If it is not, nothing is written and the result is null. Only for a session that changed
    /// nothing else.</param>
    /// <param name="secretGeneration">With <paramref name="from"/>: the head moves (and anything is written) only if the
    /// store's secret generation (<see cref="ISharedStore.ReadSecretWithGenerationAsync"/>) is this too, read by the same
    /// statement that moves the head. For a batch whose records vouch for rows read from a cache.</param>
    /// <param name="cancellationToken">Cancels the call (what was sent may still commit).</param>
    /// <returns>The newest event id (null when nothing was written) and the secret generation the batch saw (0 on an
    /// engine without one).</returns>
    async Task<AuditedCommit> CommitAuditedAsync(
        IReadOnlyList<AuditEntry> records, AuditCheckpoint? checkpoint, AuditHead head, AuditHead? from = null,
        long? secretGeneration = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        var generation = await SecretGenerationAsync(cancellationToken);
        if (from is { } expected)
        {
            var current = await Audit.GetHeadAsync(cancellationToken);
            if (current.Seq != expected.Seq || !current.Hash.AsSpan().SequenceEqual(expected.Hash)
                || (secretGeneration is { } wanted && wanted != generation))
            {
                return new AuditedCommit(null, generation);
            }
        }

        if (records.Count > 0)
        {
            await Audit.AppendAsync(records, cancellationToken);
        }

        if (checkpoint is not null)
        {
            await Audit.AppendCheckpointAsync(checkpoint, cancellationToken);
        }

        await Audit.SetHeadAsync(head, cancellationToken);
        var latestEventId = await Events.LatestIdAsync(cancellationToken);
        await CommitAsync(cancellationToken);
        return new AuditedCommit(latestEventId, generation);
    }

    /// <summary>
    /// The store's secret generation as this transaction sees it (see
    /// <see cref="ISharedStore.ReadSecretWithGenerationAsync"/>); 0 on an engine that keeps none (an embedded store has
    /// no other writer to detect).
    /// </summary>
    Task<long> SecretGenerationAsync(CancellationToken cancellationToken = default) => Task.FromResult(0L);
}

/// <summary>
/// The result of <see cref="IWriteSession.CommitAuditedAsync"/>: the newest event id, or null when nothing was written
/// (the head or the secret generation was not the one assumed), and the secret generation the batch saw.
/// </summary>
public readonly record struct AuditedCommit(long? LatestEventId, long SecretGeneration);
