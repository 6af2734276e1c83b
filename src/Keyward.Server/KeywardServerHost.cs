using System.Security.Cryptography.X509Certificates;
using Keyward.Core;
using Keyward.Core.Audit;
using Keyward.Core.Diagnostics;
using Keyward.Core.Engines;
using Keyward.Core.Leases;
using Keyward.Core.Rotation;
using Keyward.Core.Seal;
using Keyward.Core.Storage;
using Keyward.Server.Endpoints;
using Keyward.Server.Hosting;
using Keyward.Server.Http;
using Keyward.Storage.Postgres;
using Keyward.Storage.Sqlite;
using Keyward.Engines.Postgres;
using Keyward.Gateway;
using Keyward.Gateway.Egress;
using Npgsql;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Keyward.Server;

/// <summary>What the operator is told once the broker listens.</summary>
public sealed record StartupReport(string Address, string DataDirectory, SealState State, string? RootToken, string? DevKeyFile);

/// <summary>
/// The broker's host: builds the ASP.NET Core application (Kestrel, guards, endpoints, OpenAPI), opens the store,
/// unseals (dev mode, key file) and only then opens the listener.
/// </summary>
public sealed class KeywardServerHost : IAsyncDisposable
{
    private readonly KeywardServerOptions _options;
    private readonly string? _temporaryDirectory;

    private KeywardServerHost(KeywardServerOptions options, WebApplication app, string dataDirectory, string? temporaryDirectory)
    {
        _options = options;
        App = app;
        DataDirectory = dataDirectory;
        _temporaryDirectory = temporaryDirectory;
    }

    public WebApplication App { get; }

    public string DataDirectory { get; }

    public IServiceProvider Services => App.Services;

    /// <summary>Builds the application. <paramref name="configure"/> lets tests swap in a test server or capture logs.</summary>
    public static KeywardServerHost Create(KeywardServerOptions options, Action<WebApplicationBuilder>? configure = null)
    {
        var listen = ServerOptionsValidator.Validate(options);
        string? temporary = null;
        var dataDirectory = options.DataDirectory;
        if (dataDirectory is null)
        {
            // Random name, created owner-only: nobody can pre-create or predict it in a shared temp folder.
            temporary = Directory.CreateTempSubdirectory("keyward-dev-").FullName;
            dataDirectory = temporary;
        }

        dataDirectory = Path.GetFullPath(dataDirectory);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            EnvironmentName = "Production",
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });

        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        builder.Logging.SetMinimumLevel(LogLevel.Information);

        // Request-level framework logs would print request targets (and a refused token in a query string).
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("System", LogLevel.Warning);

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = KeywardServerLimits.MaxRequestBodyBytes;
            kestrel.Limits.MaxRequestHeadersTotalSize = KeywardServerLimits.MaxRequestHeadersBytes;
            kestrel.Limits.MaxRequestLineSize = KeywardServerLimits.MaxRequestLineBytes;
            kestrel.Listen(listen.Address, listen.Port, endpoint =>
            {
                if (options.TlsCertificateFile is not null && options.TlsKeyFile is not null)
                {
                    endpoint.UseHttps(X509Certificate2.CreateFromPemFile(options.TlsCertificateFile, options.TlsKeyFile));
                }
            });
        });

        builder.Services.AddKeywardCore();
        builder.Services.AddSingleton(CreateStore(options, dataDirectory));
        builder.Services.AddSingleton<Audited>();
        builder.Services.AddSingleton<ResponseWrapping>();
        builder.Services.AddSingleton(CreateEngineHosts(options));
        builder.Services.AddSingleton<PostgresEngine>();
        builder.Services.AddSingleton<ILeaseEngine>(sp => sp.GetRequiredService<PostgresEngine>());
        builder.Services.AddSingleton<IPromotionGuard>(sp => sp.GetRequiredService<PostgresEngine>());
        builder.Services.AddKeywardGateway(CreateUpstreamAddresses(options));
        builder.Services.ConfigureHttpJsonOptions(json => KeywardJson.Configure(json.SerializerOptions));
        builder.Services.AddOpenApi(openApi => openApi.AddJsonBodies());
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseKeywardRequestGuards();
        app.MapKeywardEndpoints();
        return new KeywardServerHost(options, app, dataDirectory, temporary);
    }

    /// <summary>The store the options name (not opened yet): SQLite in the data directory, or PostgreSQL.</summary>
    private static Func<IServiceProvider, IKeywardStore> CreateStore(KeywardServerOptions options, string dataDirectory)
    {
        if (options.Storage != KeywardServerOptions.PostgresStorage)
        {
            return sp => SqliteStore.InDirectory(dataDirectory, sp.GetRequiredService<ILogger<SqliteStore>>());
        }

        try
        {
            // Parsed now, so a malformed connection string is refused before anything starts.
            PostgresStore.Validate(options.PostgresConnectionString!);
        }
        catch (ArgumentException refused)
        {
            throw new ServerStartupException("--pg: " + refused.Message);
        }

        return sp => PostgresStore.Create(options.PostgresConnectionString!, sp.GetRequiredService<ILogger<PostgresStore>>());
    }

    /// <summary>
    /// Where engines may connect: the operator's list, loopback too in dev mode, and never this server's own
    /// PostgreSQL store (its host and port, by name and by address).
    /// </summary>
    private static UpstreamAddresses CreateUpstreamAddresses(KeywardServerOptions options)
    {
        try
        {
            return new UpstreamAddresses(options.GatewayAllowCidr, allowLoopback: options.Dev || options.GatewayAllowLoopback);
        }
        catch (ArgumentException refused)
        {
            throw new ServerStartupException("--gateway-allow-cidr: " + refused.Message);
        }
    }

    private static EngineHosts CreateEngineHosts(KeywardServerOptions options)
    {
        var own = new List<(string Host, int Port)>();
        if (options.Storage == KeywardServerOptions.PostgresStorage && options.PostgresConnectionString is { } pg)
        {
            var store = new NpgsqlConnectionStringBuilder(pg);
            foreach (var host in (store.Host ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var colon = host.LastIndexOf(':');
                own.Add(colon > 0 && !host.EndsWith(']') && int.TryParse(host[(colon + 1)..], out var port) ? (host[..colon], port) : (host.Trim('[', ']'), store.Port));
            }
        }

        try
        {
            return new EngineHosts(options.EngineAllowHosts, allowLoopback: options.Dev, own);
        }
        catch (ArgumentException refused)
        {
            throw new ServerStartupException("--engine-allow-hosts: " + refused.Message);
        }
    }

    /// <summary>The store this server runs on, for the start-up report: the data directory, or PostgreSQL's target without its password.</summary>
    public string StoreDescription => Services.GetRequiredService<IKeywardStore>() switch
    {
        PostgresStore postgres => "postgres " + postgres.Target,
        var other => $"{other.Engine} in {DataDirectory}",
    };

    /// <summary>Opens the store, unseals if configured to, then starts listening.</summary>
    public async Task<StartupReport> StartAsync(CancellationToken cancellationToken = default)
    {
        var services = App.Services;
        try
        {
            await services.GetRequiredService<IKeywardStore>().OpenAsync(cancellationToken);
        }
        catch (StoreInUseException inUse)
        {
            throw new ServerStartupException(inUse.Message);
        }

        services.GetRequiredService<NodeCoherence>().Start();
        services.GetRequiredService<StoreProbe>().Start();
        var seal = services.GetRequiredService<SealService>();
        var keys = services.GetRequiredService<KeyHierarchy>();
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Keyward.Server");
        await seal.LoadAsync(cancellationToken);

        string? rootToken = null;
        string? devKeyFile = null;
        if (_options.Dev)
        {
            rootToken = await DevMode.BootstrapAsync(seal, keys, DataDirectory, _options.DevRootToken);
            devKeyFile = Path.Combine(DataDirectory, UnsealKeyFile.DevFileName);
        }
        else if (_options.UnsealKeyFile is { } keyFile && keys.State == SealState.Sealed)
        {
            await seal.UnsealWithSharesAsync(UnsealKeyFile.Read(keyFile), new AuditDraft(Ids.NewRequestId(), "sys.unseal") { Actor = new AuditActor("key-file") });
            KeywardLog.UnsealedFromFile(logger, keyFile);
        }

        services.GetRequiredService<Keyward.Core.Leases.Sweeper>().Start(_options.SweepInterval);
        services.GetRequiredService<Keyward.Core.Rotation.RotationScheduler>().Start(_options.RotationInterval);
        await App.StartAsync(cancellationToken);
        var address = App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? _options.Listen;
        KeywardLog.Listening(logger, address);
        return new StartupReport(address, DataDirectory, keys.State, rootToken, devKeyFile);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await App.StopAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        await App.DisposeAsync();
        if (_temporaryDirectory is not null && Directory.Exists(_temporaryDirectory))
        {
            Directory.Delete(_temporaryDirectory, recursive: true);
        }
    }
}
