using System.CommandLine;
using Keyward.Cli.Cli;
using Keyward.Server;
using Keyward.Server.Hosting;
using Microsoft.Extensions.Hosting;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward server</c>: runs the broker in this process.</summary>
internal static class ServerCommand
{
    public static Command Create()
    {
        var dev = new Option<bool>("--dev") { Description = "Initialize and unseal automatically with one key share kept in DIR/dev-unseal.key, and print the root token. Unsafe: development only; loopback only." };
        var devRootToken = new Option<string?>("--dev-root-token") { Description = "With --dev: use this root token (kwr_ and at least 32 of [A-Za-z0-9_-]) instead of a random one." };
        var listen = new Option<string>("--listen") { Description = "host:port to listen on (an IP literal or localhost).", DefaultValueFactory = _ => KeywardServerOptions.DefaultListen };
        var data = new Option<string?>("--data") { Description = "Data directory (the SQLite store). Required outside --dev; --dev uses a fresh temporary directory without it, and reuses DIR with it." };
        var unsealKeyFile = new Option<string?>("--unseal-key-file") { Description = "Unattended mode: unseal at start with the key shares in this file (one per line, mode 0600). Less safe: the file unseals the store." };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM certificate for TLS." };
        var tlsKey = new Option<string?>("--tls-key") { Description = "PEM private key for TLS." };
        var insecure = new Option<bool>("--insecure-no-tls") { Description = "Allow a non-loopback --listen without TLS (only behind a proxy that terminates TLS)." };
        var storage = new Option<string>("--storage")
        {
            Description = "sqlite (embedded in --data, the default) or postgres (one database shared by several nodes; needs --pg or KEYWARD_PG).",
            DefaultValueFactory = _ => KeywardServerOptions.SqliteStorage,
        };
        var pg = new Option<string?>("--pg")
        {
            Description = $"With --storage postgres: the Npgsql connection string (Host=…;Port=…;Database=…;Username=…). Put the password in {PostgresVariable} instead to keep it out of the process list.",
        };

        var engineAllowHosts = new Option<string[]>("--engine-allow-hosts")
        {
            Description = "Hosts that tenants' database engines may connect to: host names, *.domain, IP addresses or CIDR ranges (comma-separated or repeated). " +
                "None by default; loopback only with --dev; never Keyward's own store.",
            AllowMultipleArgumentsPerToken = true,
        };

        var gatewayAllowCidr = new Option<string[]>("--gateway-allow-cidr")
        {
            Description = "Address ranges the gateway may reach besides public addresses (comma-separated or repeated), e.g. 10.20.0.0/16. " +
                "Private, CGNAT, link-local (cloud metadata) and loopback addresses are refused unless listed.",
            AllowMultipleArgumentsPerToken = true,
        };
        var gatewayAllowLoopback = new Option<bool>("--gateway-allow-loopback")
        {
            Description = "Let integrations with allow_insecure_loopback reach plain http on loopback (always allowed with --dev).",
        };

        var command = new Command("server", "Run the Keyward broker.")
        {
            dev, devRootToken, listen, data, unsealKeyFile, tlsCert, tlsKey, insecure, storage, pg, engineAllowHosts, gatewayAllowCidr, gatewayAllowLoopback,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new KeywardServerOptions
            {
                Dev = parse.GetValue(dev),
                DevRootToken = parse.GetValue(devRootToken),
                Listen = parse.GetValue(listen)!,
                DataDirectory = parse.GetValue(data),
                UnsealKeyFile = parse.GetValue(unsealKeyFile),
                TlsCertificateFile = parse.GetValue(tlsCert),
                TlsKeyFile = parse.GetValue(tlsKey),
                InsecureNoTls = parse.GetValue(insecure),
                Storage = parse.GetValue(storage)!,
                PostgresConnectionString = parse.GetValue(pg)
                    ?? (parse.GetValue(storage) == KeywardServerOptions.PostgresStorage ? NonEmpty(Environment.GetEnvironmentVariable(PostgresVariable)) : null),
                EngineAllowHosts = SplitList(parse.GetValue(engineAllowHosts)),
                GatewayAllowCidr = SplitList(parse.GetValue(gatewayAllowCidr)),
                GatewayAllowLoopback = parse.GetValue(gatewayAllowLoopback),
            };
            return await RunAsync(options, cancellationToken);
        });
        return command;
    }

    /// <summary>The connection string when <c>--pg</c> is not given (keeps a password out of the process list).</summary>
    public const string PostgresVariable = "KEYWARD_PG";

    /// <summary>A repeated option whose values may also be comma-separated.</summary>
    private static string[] SplitList(string[]? values) =>
        [.. (values ?? []).SelectMany(h => h.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    private static async Task<int> RunAsync(KeywardServerOptions options, CancellationToken cancellationToken)
    {
        KeywardServerHost host;
        try
        {
            host = KeywardServerHost.Create(options);
        }
        catch (ServerStartupException refused)
        {
            await Console.Error.WriteLineAsync("keyward server: " + refused.Message);
            return ExitCodes.Usage;
        }

        await using (host)
        {
            StartupReport report;
            try
            {
                report = await host.StartAsync(cancellationToken);
            }
            catch (ServerStartupException refused)
            {
                await Console.Error.WriteLineAsync("keyward server: " + refused.Message);
                return ExitCodes.Usage;
            }

            var scheme = options.TlsCertificateFile is null ? "http" : "https";
            var address = report.Address.Contains("://", StringComparison.Ordinal) ? report.Address : $"{scheme}://{report.Address}";
            Console.WriteLine($"Keyward server listening on {address}");
            Console.WriteLine($"  store:          {host.StoreDescription}");
            Console.WriteLine($"  state:          {report.State.ToString().ToLowerInvariant()}");
            if (report.DevKeyFile is not null)
            {
                Console.WriteLine($"  dev unseal key: {report.DevKeyFile} (UNSAFE: anyone who can read it can unseal this store; development only)");
            }

            if (report.RootToken is not null)
            {
                Console.WriteLine($"  root token:     {report.RootToken}");
                Console.WriteLine();
                Console.WriteLine($"  export KEYWARD_ADDR={address}");
                Console.WriteLine($"  export KEYWARD_TOKEN={report.RootToken}");
            }

            await host.App.WaitForShutdownAsync(cancellationToken);
        }

        return ExitCodes.Ok;
    }
}
