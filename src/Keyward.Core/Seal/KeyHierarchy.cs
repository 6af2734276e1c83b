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
    private RootKey? _root;
    private SealConfig? _config;
    private int _inFlight;

    public SealState State
    {
        get
        {
            lock (_gate)
            {
                return _config is null ? SealState.Uninitialized : _root is null ? SealState.Sealed : SealState.Unsealed;
            }
        }
    }

    public SealConfig? Config
    {
        get
        {
            lock (_gate)
            {
                return _config;
            }
        }
    }

    /// <summary>Raised after the keys are wiped, so that caches of derived material (tenant key rings) drop theirs.</summary>
    public event Action? Sealed;

    public RootKey Require()
    {
        lock (_gate)
        {
            if (_root is { } root)
            {
                return root;
            }

            throw _config is null ? KeywardErrors.NotInitialized() : KeywardErrors.Sealed();
        }
    }

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
            _root?.Dispose();
            _config = config;
            _root = root;
        }
    }

    /// <summary>Tracks requests running against unsealed keys so that sealing can let them finish first.</summary>
    public InFlightScope? TryEnter()
    {
        lock (_gate)
        {
            if (_root is null)
            {
                return null;
            }

            _inFlight++;
            return new InFlightScope(this);
        }
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
