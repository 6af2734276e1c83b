using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Keyward.Client.Logging;

/// <summary>Wraps another provider's loggers in <see cref="ScrubbingLogger"/>s (scopes kept by the logger factory included).</summary>
public sealed class ScrubbingLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private readonly ILoggerProvider _inner;
    private readonly SecretScrubber _scrubber;

    public ScrubbingLoggerProvider(ILoggerProvider inner, SecretScrubber scrubber)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(scrubber);
        _inner = inner;
        _scrubber = scrubber;
    }

    public ILogger CreateLogger(string categoryName) => new ScrubbingLogger(_inner.CreateLogger(categoryName), _scrubber);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider)
    {
        if (_inner is ISupportExternalScope external)
        {
            external.SetScopeProvider(new ScrubbingScopeProvider(scopeProvider, _scrubber));
        }
    }

    public void Dispose() => _inner.Dispose();

    /// <summary>Scopes the factory keeps for the inner provider reach it scrubbed.</summary>
    private sealed class ScrubbingScopeProvider(IExternalScopeProvider inner, SecretScrubber scrubber) : IExternalScopeProvider
    {
        public void ForEachScope<TState>(Action<object?, TState> callback, TState state) =>
            inner.ForEachScope((scope, s) => callback(scope is null ? null : ScrubbedState.FromScope(scope, scrubber), s), state);

        public IDisposable Push(object? state) => inner.Push(state);
    }
}

/// <summary>Scrubbing for Microsoft.Extensions.Logging.</summary>
public static class ScrubbingLoggingExtensions
{
    /// <summary>This logger, with everything it logs scrubbed by <paramref name="scrubber"/> (default <see cref="SecretScrubber.Shared"/>).</summary>
    public static ILogger WithKeywardScrubbing(this ILogger logger, SecretScrubber? scrubber = null) =>
        new ScrubbingLogger(logger, scrubber ?? SecretScrubber.Shared);

    /// <summary>
    /// Wraps every logger provider registered so far in a <see cref="ScrubbingLoggerProvider"/> (default scrubber:
    /// <see cref="SecretScrubber.Shared"/>, which every client, session and cache registers with). Call it after adding the
    /// providers (console, OpenTelemetry, …): providers added later are not wrapped.
    /// </summary>
    public static ILoggingBuilder AddKeywardScrubbing(this ILoggingBuilder builder, SecretScrubber? scrubber = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var with = scrubber ?? SecretScrubber.Shared;
        var services = builder.Services;
        for (var i = 0; i < services.Count; i++)
        {
            var descriptor = services[i];
            if (descriptor.ServiceType != typeof(ILoggerProvider) || descriptor.IsKeyedService)
            {
                continue;
            }

            services[i] = ServiceDescriptor.Describe(
                typeof(ILoggerProvider), provider => new ScrubbingLoggerProvider(Inner(provider, descriptor), with), descriptor.Lifetime);
        }

        return builder;
    }

    private static ILoggerProvider Inner(IServiceProvider provider, ServiceDescriptor descriptor) =>
        (ILoggerProvider)(descriptor.ImplementationInstance
            ?? descriptor.ImplementationFactory?.Invoke(provider)
            ?? ActivatorUtilities.CreateInstance(provider, descriptor.ImplementationType!));
}
