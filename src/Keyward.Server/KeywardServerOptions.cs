namespace Keyward.Server;

/// <summary>How <c>keyward server</c> was asked to run. Validated once, at start-up, by <see cref="Hosting.ServerOptionsValidator"/>.</summary>
public sealed record KeywardServerOptions
{
    public const string DefaultListen = "127.0.0.1:8210";

    /// <summary>Initialize and unseal automatically with one share kept in the data directory (unsafe; development only).</summary>
    public bool Dev { get; init; }

    /// <summary>The root token to use in dev mode (kwr_ and at least 32 of [A-Za-z0-9_-]).</summary>
    public string? DevRootToken { get; init; }

    /// <summary><c>host:port</c>; an IP literal or localhost.</summary>
    public string Listen { get; init; } = DefaultListen;

    public const string SqliteStorage = "sqlite";

    public const string PostgresStorage = "postgres";

    /// <summary>
    /// Where the SQLite store lives (and, in dev mode, the dev unseal key whatever the store). Required outside dev
    /// mode with SQLite; dev mode uses a fresh temporary directory without it.
    /// </summary>
    public string? DataDirectory { get; init; }

    /// <summary><see cref="SqliteStorage"/> (embedded, the default) or <see cref="PostgresStorage"/> (shared by several nodes).</summary>
    public string Storage { get; init; } = SqliteStorage;

    /// <summary>With <see cref="PostgresStorage"/>: the Npgsql connection string (<c>Host=…;Database=…;Username=…;Password=…</c>).</summary>
    public string? PostgresConnectionString { get; init; }

    /// <summary>
    /// Where tenants' database engines may connect (<c>--engine-allow-hosts</c>): host names, <c>*.domain</c>, IP addresses
    /// or CIDR ranges. Empty: nowhere (in dev mode: loopback only). Keyward's own store is refused whatever is listed.
    /// </summary>
    public IReadOnlyList<string> EngineAllowHosts { get; init; } = [];

    /// <summary>
    /// Address ranges the gateway may reach besides public addresses (<c>--gateway-allow-cidr</c>): private, CGNAT or
    /// link-local ranges are refused unless listed here.
    /// </summary>
    public IReadOnlyList<string> GatewayAllowCidr { get; init; } = [];

    /// <summary>Integrations may use <c>allow_insecure_loopback</c> (plain http to loopback) outside dev mode (<c>--gateway-allow-loopback</c>).</summary>
    public bool GatewayAllowLoopback { get; init; }

    /// <summary>Unattended mode: unseal at start with the key shares in this file (one per line).</summary>
    public string? UnsealKeyFile { get; init; }

    public string? TlsCertificateFile { get; init; }

    public string? TlsKeyFile { get; init; }

    /// <summary>Allow a non-loopback listener without TLS (only behind something that terminates TLS).</summary>
    public bool InsecureNoTls { get; init; }

    /// <summary>How often the background sweeper expires leases, deletes dead tokens and runs pending clean-ups.</summary>
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the rotation scheduler looks for secrets whose period elapsed (at most 10 s).</summary>
    public TimeSpan RotationInterval { get; init; } = Keyward.Core.Rotation.RotationScheduler.DefaultInterval;
}
