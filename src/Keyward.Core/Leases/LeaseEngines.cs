namespace Keyward.Core.Leases;

/// <summary>
/// Something that hands out leased credentials and must undo them outside Keyward when a lease ends (the PostgreSQL
/// engine drops the login). Revocation never waits for it: the lease is marked revoked with its clean-up pending,
/// and the background sweeper calls <see cref="CleanUpAsync"/> until it succeeds.
/// </summary>
public interface ILeaseEngine
{
    /// <summary>The lease record's <c>engine</c> column.</summary>
    string Name { get; }

    /// <summary>
    /// Undoes the credential outside Keyward. Must be idempotent (it may run again after a crash). Throwing means
    /// "retry later"; the exception's message is not recorded (it may quote data), only its type.
    /// </summary>
    Task CleanUpAsync(LeaseRecord lease, CancellationToken cancellationToken);

    /// <summary>
    /// Extends the credential outside Keyward to <paramref name="expiresAt"/> before a renewal commits (a login's
    /// <c>VALID UNTIL</c>). Throwing refuses the renewal; the lease keeps its expiry.
    /// </summary>
    Task ExtendAsync(LeaseRecord lease, DateTimeOffset expiresAt, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>The registered engines. Leases of the built-in <see cref="TokenEngine"/> need no clean-up outside.</summary>
public sealed class LeaseEngines
{
    /// <summary>Agent sessions are leases too: renewing or revoking the lease renews or revokes the token.</summary>
    public const string TokenEngine = "token";

    private readonly Dictionary<string, ILeaseEngine> _engines;

    public LeaseEngines(IEnumerable<ILeaseEngine> engines)
    {
        _engines = engines.ToDictionary(e => e.Name, StringComparer.Ordinal);
        External = _engines.Keys.ToArray();
    }

    /// <summary>Engines whose revoked leases need a clean-up outside Keyward.</summary>
    public IReadOnlyCollection<string> External { get; }

    public ILeaseEngine? Find(string name) => _engines.GetValueOrDefault(name);
}
