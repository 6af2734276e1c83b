using Keyward.Core.Errors;
using Keyward.Crypto.Keys;

namespace Keyward.Core.Seal;

public enum SealState
{
    Uninitialized,
    Sealed,
    Unsealed,
}

/// <summary>
/// Holds the root key (and through it every derived key) while the server is unsealed, and nothing otherwise.
/// Everything that needs key material asks here and gets <c>503 sealed</c> when there is none.
/// </summary>
public sealed class KeyHierarchy
{
    private readonly Lock _gate = new();
    private volatile RootKey? _root;
    private volatile SealConfig? _config;
    private int _inFlight;

    /// <summary>Read on every request, so lock-free: the fields are volatile and only ever swapped whole.</summary>
    public SealState State => _config is null ? SealState.Uninitialized : _root is null ? SealState.Sealed : SealState.Unsealed;

    public SealConfig? Config => _config;

    /// <summary>Raised after the keys are wiped, so that caches of derived material (tenant key rings) drop theirs.</summary>
    public event Action? Sealed;

    public RootKey Require() =>
        _root ?? throw (_config is null ? KeywardErrors.NotInitialized() : KeywardErrors.Sealed());

    internal void SetConfig(SealConfig? config)
    {
        lock (_gate)
        {
            _config = config;
        }
    }

    internal void Install(SealConfig config, RootKey root)
    {
        lock (_gate)
        {
            var previous = _root;
            _config = config;
            _root = root;
            previous?.Dispose();
        }
    }

    /// <summary>Tracks requests running against unsealed keys so that sealing can let them finish first.</summary>
    public InFlightScope? TryEnter()
    {
        // Count first, then look: a seal that nulls the key after this increment waits for us; one before it is seen.
        Interlocked.Increment(ref _inFlight);
        if (_root is null)
        {
            Interlocked.Decrement(ref _inFlight);
            return null;
        }

        return new InFlightScope(this);
    }

    /// <summary>
    /// Stops handing out keys, waits (bounded) for in-flight requests other than the caller's own, then zeroes
    /// every key with <c>CryptographicOperations.ZeroMemory</c>.
    /// </summary>
    internal async Task SealAsync(int ownRequests, TimeSpan drainTimeout, TimeProvider time)
    {
        RootKey? root;
        lock (_gate)
        {
            root = _root;
            _root = null;
        }

        // _root is null from here on: new requests back out of TryEnter; the ones counted before are waited for.

        if (root is null)
        {
            return;
        }

        var deadline = time.GetTimestamp() + (long)(drainTimeout.TotalSeconds * time.TimestampFrequency);
        while (Volatile.Read(ref _inFlight) > ownRequests && time.GetTimestamp() < deadline)
        {
            await Task.Delay(5, CancellationToken.None);
        }

        Sealed?.Invoke();
        root.Dispose();
    }

    public sealed class InFlightScope : IDisposable
    {
        private KeyHierarchy? _owner;

        internal InFlightScope(KeyHierarchy owner) => _owner = owner;

        public void Dispose()
        {
            var owner = Interlocked.Exchange(ref _owner, null);
            if (owner is not null)
            {
                Interlocked.Decrement(ref owner._inFlight);
            }
        }
    }
}
