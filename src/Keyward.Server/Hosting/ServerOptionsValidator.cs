namespace Keyward.Server.Hosting;

/// <summary>Refuses unsafe or inconsistent start-up options before anything listens. Messages name the flag to change.</summary>
public static class ServerOptionsValidator
{
    public static ListenAddress Validate(KeywardServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!ListenAddress.TryParse(options.Listen, out var listen, out var reason))
        {
            throw new ServerStartupException($"--listen '{options.Listen}' {reason}.");
        }

        var tls = options.TlsCertificateFile is not null || options.TlsKeyFile is not null;
        if (tls && (options.TlsCertificateFile is null || options.TlsKeyFile is null))
        {
            throw new ServerStartupException("--tls-cert and --tls-key go together.");
        }

        if (tls && !File.Exists(options.TlsCertificateFile))
        {
            throw new ServerStartupException($"--tls-cert: no file at {options.TlsCertificateFile}.");
        }

        if (tls && !File.Exists(options.TlsKeyFile))
        {
            throw new ServerStartupException($"--tls-key: no file at {options.TlsKeyFile}.");
        }

        if (options.Dev)
        {
            if (!listen!.IsLoopback)
            {
                throw new ServerStartupException("--dev refuses a non-loopback --listen: dev mode keeps its unseal key next to the data.");
            }

            if (options.DevRootToken is not null && !Core.Tokens.TokenHasher.IsValidDevRootToken(options.DevRootToken))
            {
                throw new ServerStartupException("--dev-root-token must be kwr_ followed by at least 32 characters of [A-Za-z0-9_-].");
            }

            if (options.UnsealKeyFile is not null)
            {
                throw new ServerStartupException("--dev keeps its own key in DIR/dev-unseal.key; do not combine it with --unseal-key-file.");
            }
        }
        else
        {
            if (options.DevRootToken is not null)
            {
                throw new ServerStartupException("--dev-root-token needs --dev.");
            }

            if (options.Storage == KeywardServerOptions.SqliteStorage && string.IsNullOrWhiteSpace(options.DataDirectory))
            {
                throw new ServerStartupException("--data DIR is required (outside --dev): it is where the store lives.");
            }
        }

        switch (options.Storage)
        {
            case KeywardServerOptions.SqliteStorage when options.PostgresConnectionString is not null:
                throw new ServerStartupException("--pg (or KEYWARD_PG) needs --storage postgres.");
            case KeywardServerOptions.SqliteStorage:
                break;
            case KeywardServerOptions.PostgresStorage when string.IsNullOrWhiteSpace(options.PostgresConnectionString):
                throw new ServerStartupException(
                    "--storage postgres needs a connection string: --pg \"Host=…;Database=…;Username=…\" or, to keep the password out of the process list, KEYWARD_PG.");
            case KeywardServerOptions.PostgresStorage:
                break;
            default:
                throw new ServerStartupException($"--storage must be sqlite or postgres, not '{options.Storage}'.");
        }

        if (!listen!.IsLoopback && !tls && !options.InsecureNoTls)
        {
            throw new ServerStartupException(
                $"Refusing to listen on {listen} without TLS: give --tls-cert and --tls-key, or --insecure-no-tls if something in front terminates TLS.");
        }

        return listen;
    }
}

/// <summary>A start-up refusal with a message for the operator (printed, exit code 2).</summary>
public sealed class ServerStartupException : Exception
{
    public ServerStartupException(string message)
        : base(message)
    {
    }

    public ServerStartupException()
    {
    }

    public ServerStartupException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
