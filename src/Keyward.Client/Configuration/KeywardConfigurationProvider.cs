using Microsoft.Extensions.Configuration;

namespace Keyward.Client.Configuration;

/// <summary>
/// Configuration values taken from secrets: each configuration key maps to a field of a secret, read through an agent
/// session's <see cref="SecretCache"/>. When the cache drops a mapped path (a new version written, a promotion, a
/// deletion, a reset) the provider reads the mapped secrets again and, if a value changed, fires its reload token
/// (<c>IConfiguration.GetReloadToken()</c>, <c>ChangeToken.OnChange</c>).
/// </summary>
/// <remarks>
/// Values live in the configuration as strings (that is what configuration holds; they cannot be zeroed). A failed
/// reload keeps the last values (see <see cref="LastReloadError"/>): a revoked session keeps serving what was loaded,
/// and its cache refuses to fetch more.
/// </remarks>
public sealed class KeywardConfigurationProvider : ConfigurationProvider, IDisposable
{
    private readonly KeywardConfigurationSource _source;
    private readonly HashSet<string> _paths;
    private readonly CancellationTokenSource _stopping = new();
    private int _dirty;
    private int _running;
    private volatile Exception? _lastReloadError;

    public KeywardConfigurationProvider(KeywardConfigurationSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(source.Cache);
        ArgumentNullException.ThrowIfNull(source.Map);
        _source = source;
        _paths = new HashSet<string>(source.Map.Values.Select(m => m.Path), StringComparer.Ordinal);
        source.Cache.Invalidated += OnInvalidated;
    }

    /// <summary>The last background reload's failure, or null after a successful one.</summary>
    public Exception? LastReloadError => _lastReloadError;

    /// <summary>Reads every mapped field (blocking; at start-up). A missing secret or field throws unless the source is optional.</summary>
    public override void Load() => Data = ReadAsync(CancellationToken.None).GetAwaiter().GetResult();

    public void Dispose()
    {
        _source.Cache.Invalidated -= OnInvalidated;
        _stopping.Cancel();
        _stopping.Dispose();
    }

    /// <summary>Describes the provider without values.</summary>
    public override string ToString() => $"KeywardConfigurationProvider ({_source.Map.Count} keys)";

    private void OnInvalidated(object? sender, SecretInvalidatedEventArgs e)
    {
        if (e.Reason == SecretInvalidationReason.Disposed || (e.Path is { } path && !_paths.Contains(path)))
        {
            return;
        }

        Volatile.Write(ref _dirty, 1);
        if (Interlocked.CompareExchange(ref _running, 1, 0) == 0)
        {
            _ = Task.Run(ReloadLoopAsync);
        }
    }

    private async Task ReloadLoopAsync()
    {
        while (true)
        {
            while (Interlocked.Exchange(ref _dirty, 0) == 1)
            {
                try
                {
                    var data = await ReadAsync(_stopping.Token).ConfigureAwait(false);
                    _lastReloadError = null;
                    if (!Same(data, Data))
                    {
                        Data = data;
                        OnReload();
                    }
                }
#pragma warning disable CA1031 // A failed reload keeps the last values; it must never crash the process from a background task.
                catch (Exception error)
#pragma warning restore CA1031
                {
                    _lastReloadError = error;
                    if (_stopping.IsCancellationRequested)
                    {
                        return;
                    }
                }
            }

            Volatile.Write(ref _running, 0);
            if (Volatile.Read(ref _dirty) == 0 || Interlocked.CompareExchange(ref _running, 1, 0) != 0)
            {
                return;
            }
        }
    }

    private async Task<Dictionary<string, string?>> ReadAsync(CancellationToken cancellationToken)
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, (path, field)) in _source.Map)
        {
            SecretValue value;
            try
            {
                value = await _source.Cache.GetAsync(path, cancellationToken).ConfigureAwait(false);
            }
            catch (KeywardRequestFailedException missing) when (missing.Status == 404 && _source.Optional)
            {
                continue;
            }

            // The value may be evicted between the read and the copy: read again (a newer version is what we want).
            string? text = null;
            for (var attempt = 0; attempt < 3; attempt++)
            {
                try
                {
                    if (!value.TryGetField(field, out text) && !_source.Optional)
                    {
                        throw new InvalidOperationException($"Configuration key '{key}': the secret '{path}' has no field '{field}'.");
                    }

                    break;
                }
                catch (ObjectDisposedException) when (attempt < 2)
                {
                    value = await _source.Cache.GetAsync(path, cancellationToken).ConfigureAwait(false);
                }
            }

            if (text is not null)
            {
                data[key] = text;
            }
        }

        return data;
    }

    private static bool Same(Dictionary<string, string?> next, IDictionary<string, string?> current) =>
        next.Count == current.Count && next.All(pair => current.TryGetValue(pair.Key, out var value) && string.Equals(value, pair.Value, StringComparison.Ordinal));
}

/// <summary>Where <see cref="KeywardConfigurationProvider"/> reads from: a cache and the map configuration key → (path, field).</summary>
public sealed class KeywardConfigurationSource : IConfigurationSource
{
    /// <summary>The cache the values are read through (an agent session's <see cref="AgentSession.Secrets"/>).</summary>
    public required SecretCache Cache { get; init; }

    /// <summary>Configuration key (such as <c>Database:Password</c>) → the secret's path and field.</summary>
    public required IReadOnlyDictionary<string, (string Path, string Field)> Map { get; init; }

    /// <summary>Skip keys whose secret (404) or field is missing instead of failing the load.</summary>
    public bool Optional { get; init; }

    public IConfigurationProvider Build(IConfigurationBuilder builder) => new KeywardConfigurationProvider(this);
}

/// <summary><c>builder.Configuration.AddKeyward(session, map)</c>.</summary>
public static class KeywardConfigurationExtensions
{
    /// <summary>
    /// Adds configuration values read from secrets through <paramref name="session"/>'s cache, reloaded when a mapped
    /// secret changes. <paramref name="map"/>: configuration key → (secret path, field).
    /// <code>
    /// builder.Configuration.AddKeyward(session, new Dictionary&lt;string, (string, string)&gt;
    /// {
    ///     ["Database:Password"] = ("app/db", "password"),
    /// });
    /// </code>
    /// </summary>
    public static IConfigurationBuilder AddKeyward(
        this IConfigurationBuilder builder, AgentSession session, IReadOnlyDictionary<string, (string Path, string Field)> map, bool optional = false)
    {
        ArgumentNullException.ThrowIfNull(session);
        return builder.AddKeyward(session.Secrets, map, optional);
    }

    /// <summary>Adds configuration values read from secrets through <paramref name="cache"/>; see the session overload.</summary>
    public static IConfigurationBuilder AddKeyward(
        this IConfigurationBuilder builder, SecretCache cache, IReadOnlyDictionary<string, (string Path, string Field)> map, bool optional = false)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(map);
        return builder.Add(new KeywardConfigurationSource { Cache = cache, Map = map, Optional = optional });
    }
}
