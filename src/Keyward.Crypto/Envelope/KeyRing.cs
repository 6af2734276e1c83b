using Keyward.Crypto.Keys;

namespace Keyward.Crypto.Envelope;

/// <summary>
/// A read-only set of key versions with one current (the newest): new ciphertexts use the current key,
/// old ones are opened with the version named in their header. Owns its keys and zeroes them on dispose.
/// </summary>
public sealed class KeyRing : IDisposable
{
    private readonly Dictionary<int, SecretKey> _keys;

    public KeyRing(IReadOnlyDictionary<int, SecretKey> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Count == 0)
        {
            throw new ArgumentException("A key ring needs at least one key.", nameof(keys));
        }

        _keys = new Dictionary<int, SecretKey>(keys);
        CurrentVersion = _keys.Keys.Max();
    }

    public int CurrentVersion { get; }

    public SecretKey Current => _keys[CurrentVersion];

    public IReadOnlyCollection<int> Versions => _keys.Keys;

    public bool TryGet(int version, out SecretKey key) => _keys.TryGetValue(version, out key!);

    public void Dispose()
    {
        foreach (var key in _keys.Values)
        {
            key.Dispose();
        }
    }
}
