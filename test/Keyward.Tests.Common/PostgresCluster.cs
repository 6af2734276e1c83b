using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Npgsql;

namespace Keyward.Tests.Common;

/// <summary>
/// A throwaway PostgreSQL cluster for tests: one per test process, started on first use (<see cref="GetAsync"/>) with
/// <c>initdb</c> into a temporary directory and <c>pg_ctl start</c> on a free loopback port, stopped
/// (<c>pg_ctl stop -m fast</c>) and removed when the process exits. Each test or store gets a fresh database of its
/// own (<see cref="CreateDatabaseAsync"/>), so tests stay independent and may run in parallel.
/// </summary>
/// <remarks>
/// Authentication: the test superuser <see cref="Superuser"/> is trusted on loopback; every other role must give its
/// password (<c>scram-sha-256</c>, or the method a private cluster is started with), so a wrong password really fails. initdb refuses to run as root: when the tests run
/// as root, the binaries run as <c>postgres</c> through <c>runuser</c> and the directory is given to that user. The
/// cluster's default collation is ICU <c>en-US</c> (PostgreSQL 15 and later), not "C", so a store that relied on the
/// database's collation for ordinal ordering would fail here. A machine without PostgreSQL's server binaries fails
/// every test that asks for the cluster, naming the package to install; nothing is skipped.
/// </remarks>
public sealed class PostgresCluster
{
    /// <summary>The trusted test superuser (no password on loopback).</summary>
    public const string Superuser = "keyward_test";

    /// <summary>Bounds every step: initdb, start, stop, each statement.</summary>
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(90);

    private static readonly Lazy<Task<PostgresCluster>> Shared = new(StartAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly string _binDirectory;
    private readonly string _directory;
    private readonly bool _asPostgresUser;
    private readonly bool _logConnections;
    private int _stopped;

    private PostgresCluster(string binDirectory, string directory, bool asPostgresUser, int port, bool logConnections)
    {
        _binDirectory = binDirectory;
        _directory = directory;
        _asPostgresUser = asPostgresUser;
        _logConnections = logConnections;
        Port = port;
    }

    /// <summary>The server's log (what <c>log_statement</c> records, for tests that look at what reached the database).</summary>
    public string LogFile => Path.Combine(_directory, "server.log");

    /// <summary>The loopback port the server listens on.</summary>
    public int Port { get; }

    private string DataDirectory => Path.Combine(_directory, "data");

    /// <summary>The cluster of this test process, started on first call; fails (never skips) when PostgreSQL is missing.</summary>
    public static Task<PostgresCluster> GetAsync() => Shared.Value;

    /// <summary>
    /// A cluster of the caller's own (to stop and start under it); <see cref="Stop"/> it when done.
    /// <paramref name="passwordMethod"/> is the <c>pg_hba.conf</c> method for every role but the superuser
    /// (<c>password</c>: the server asks for the password in cleartext); <paramref name="logConnections"/> has the server
    /// log each connection and each successful authentication (<c>connection authorized: user=…</c>) in <see cref="LogFile"/>.
    /// </summary>
    public static Task<PostgresCluster> StartPrivateAsync(string passwordMethod = "scram-sha-256", bool logConnections = false) =>
        StartAsync(passwordMethod, logConnections);

    /// <summary>Stops the server (fast: sessions ended), keeping its data, so that <see cref="StartServerAsync"/> brings it back on the same port.</summary>
    public Task StopServerAsync() => PgCtlAsync("stop", "-w", "-t", "30", "-m", "fast");

    public Task StartServerAsync() => PgCtlAsync(
        "start", "-w", "-t", "60", "-l", Path.Combine(_directory, "server.log"), "-o", ServerOptions(_directory, Port, _logConnections));

    private static string ServerOptions(string directory, int port, bool logConnections) =>
        $"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={directory} -c fsync=on -c max_connections=300" +
        (logConnections ? " -c log_connections=on" : "");

    /// <summary>A connection string to <paramref name="database"/>, as the trusted superuser unless a user is given.</summary>
    public string ConnectionString(string database, string user = Superuser, string? password = null)
    {
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Database = database,
            Username = user,
            Password = password,
            Timeout = 30,
            CommandTimeout = 60,
        };
        return builder.ConnectionString;
    }

    /// <summary>A new empty database (<c>kw_&lt;random&gt;</c>); returns its name.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "kw_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        await ExecuteAsync($"CREATE DATABASE {name}");
        return name;
    }

    /// <summary>Drops a database made by <see cref="CreateDatabaseAsync"/>, closing any connection still on it.</summary>
    public Task DropDatabaseAsync(string name)
    {
        if (!name.StartsWith("kw_", StringComparison.Ordinal) || !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
        {
            throw new ArgumentException("Not a test database name.", nameof(name));
        }

        return ExecuteAsync($"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    }

    /// <summary>Runs one statement as the superuser on <paramref name="database"/> (the maintenance database by default).</summary>
    public async Task ExecuteAsync(string sql, string database = "postgres") => await ScalarAsync(sql, database);

    /// <summary>Runs one statement as the superuser on <paramref name="database"/>; its first column of its first row.</summary>
    public async Task<object?> ScalarAsync(string sql, string database)
    {
        using var timeout = new CancellationTokenSource(StepTimeout);
        await using var connection = new NpgsqlConnection(ConnectionString(database) + ";Pooling=false");
        await connection.OpenAsync(timeout.Token);
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync(timeout.Token);
    }

    private static Task<PostgresCluster> StartAsync() => StartAsync("scram-sha-256", logConnections: false);

    private static async Task<PostgresCluster> StartAsync(string passwordMethod, bool logConnections)
    {
        if (passwordMethod is not ("scram-sha-256" or "md5" or "password"))
        {
            throw new ArgumentException("One of scram-sha-256, md5, password.", nameof(passwordMethod));
        }

        var bin = FindBinDirectory() ?? throw new InvalidOperationException(
            "PostgreSQL's server binaries (initdb, pg_ctl) were not found in /usr/lib/postgresql/15/bin, `pg_config --bindir` or " +
            "/usr/lib/postgresql/*/bin. The PostgreSQL store's tests need them: install them with `apt-get install -y postgresql` " +
            "(./test.sh does this when it can).");
        var asPostgres = Environment.IsPrivilegedProcess;
        var directory = Path.Combine(Path.GetTempPath(), "keyward-pg-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
        Directory.CreateDirectory(directory);
        try
        {
            if (asPostgres)
            {
                await RunAsync("chown", ["postgres:postgres", directory], asPostgres: false);
            }

            var initdb = new List<string>
            {
                "-D", Path.Combine(directory, "data"), "-U", Superuser, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
            };
            if (await MajorVersionAsync(bin, asPostgres) >= 15)
            {
                initdb.AddRange(["--locale-provider=icu", "--icu-locale=en-US"]);
            }

            await RunAsync(Path.Combine(bin, "initdb"), initdb, asPostgres);
            await File.WriteAllTextAsync(Path.Combine(directory, "data", "pg_hba.conf"),
                $"""
                local all all trust
                host all {Superuser} 127.0.0.1/32 trust
                host all all 127.0.0.1/32 {passwordMethod}
                """ + "\n");

            // A free port can be taken between probing and binding: try a few.
            for (var attempt = 1; ; attempt++)
            {
                var port = FreePort();
                var cluster = new PostgresCluster(bin, directory, asPostgres, port, logConnections);
                try
                {
                    await cluster.PgCtlAsync(
                        "start", "-w", "-t", "60", "-l", Path.Combine(directory, "server.log"),
                        "-o", ServerOptions(directory, port, logConnections));
                }
                catch (InvalidOperationException) when (attempt < 3)
                {
                    continue;
                }

                cluster.StartWatchdog();
                AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.Stop();
                return cluster;
            }
        }
        catch (Exception error)
        {
            var log = Path.Combine(directory, "server.log");
            var tail = File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(20)) : "(no server log)";
            TryDelete(directory);
            throw new InvalidOperationException($"The test PostgreSQL cluster did not start: {error.Message}\n{tail}", error);
        }
    }

    /// <summary>
    /// Stops the server (fast shutdown: sessions are ended) and removes its directory; bounded, safe to call twice. Runs
    /// on process exit, synchronously (a test host may be ended soon after its exit handlers start: the watchdog started
    /// with the cluster finishes the job if this one is cut short, or if the process is killed outright).
    /// </summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        try
        {
            Run(Path.Combine(_binDirectory, "pg_ctl"), ["-D", DataDirectory, "stop", "-w", "-t", "30", "-m", "fast"], _asPostgresUser);
        }
        catch (Exception error) when (error is InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            Console.Error.WriteLine($"PostgresCluster: pg_ctl stop failed: {error.Message}");
        }

        TryDelete(_directory);
    }

    /// <summary>
    /// A detached shell (its own session, so killing this process's tree leaves it) that waits for this process to end,
    /// however it ends, then stops the server if it still runs and removes the directory. The server itself is detached
    /// by pg_ctl and would otherwise outlive a killed test host.
    /// </summary>
    private void StartWatchdog()
    {
        var pgCtl = Path.Combine(_binDirectory, "pg_ctl");
        var stop = (_asPostgresUser ? "runuser -u postgres -- " : "") + $"'{pgCtl}' -D '{DataDirectory}' stop -w -t 30 -m fast";
        var script =
            $"while kill -0 {Environment.ProcessId} 2>/dev/null; do sleep 1; done; " +
            $"if [ -f '{DataDirectory}/postmaster.pid' ]; then {stop} >/dev/null 2>&1; fi; rm -rf '{_directory}'";
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])["-f", "sh", "-c", script])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the cluster's watchdog.");
        process.WaitForExit(10_000);
    }

    private Task PgCtlAsync(params string[] arguments) =>
        RunAsync(Path.Combine(_binDirectory, "pg_ctl"), ["-D", DataDirectory, .. arguments], _asPostgresUser);

    /// <summary>Like <see cref="RunAsync"/>, blocking (for process exit handlers).</summary>
    private static void Run(string file, IReadOnlyList<string> arguments, bool asPostgres)
    {
        using var process = Process.Start(StartInfo(file, arguments, asPostgres)) ?? throw new InvalidOperationException($"Could not start {file}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(StepTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{Path.GetFileName(file)} did not finish within {StepTimeout.TotalSeconds} s.");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} exited with {process.ExitCode}: {stderr.GetAwaiter().GetResult()}{stdout.GetAwaiter().GetResult()}");
        }
    }

    private static ProcessStartInfo StartInfo(string file, IReadOnlyList<string> arguments, bool asPostgres)
    {
        var start = asPostgres ? new ProcessStartInfo("runuser") : new ProcessStartInfo(file);
        if (asPostgres)
        {
            foreach (var argument in (string[])["-u", "postgres", "--", file])
            {
                start.ArgumentList.Add(argument);
            }
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        start.WorkingDirectory = Path.GetTempPath();
        return start;
    }

    private static string? FindBinDirectory()
    {
        static bool HasServer(string? dir) => dir is not null && File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"));

        if (HasServer("/usr/lib/postgresql/15/bin"))
        {
            return "/usr/lib/postgresql/15/bin";
        }

        try
        {
            var configured = Capture("pg_config", "--bindir");
            if (HasServer(configured))
            {
                return configured;
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No pg_config on PATH.
        }

        if (!Directory.Exists("/usr/lib/postgresql"))
        {
            return null;
        }

        return Directory.GetDirectories("/usr/lib/postgresql")
            .Select(d => (Directory: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0))
            .Where(c => HasServer(c.Directory))
            .OrderByDescending(c => c.Version)
            .Select(c => c.Directory)
            .FirstOrDefault();
    }

    private static string? Capture(string file, string argument)
    {
        using var process = Process.Start(new ProcessStartInfo(file, argument) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        var output = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(10_000))
        {
            process.Kill(entireProcessTree: true);
            return null;
        }

        return process.ExitCode == 0 ? output.GetAwaiter().GetResult().Trim() : null;
    }

    private static async Task<int> MajorVersionAsync(string bin, bool asPostgres)
    {
        // "initdb (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        var output = await RunAsync(Path.Combine(bin, "initdb"), ["--version"], asPostgres);
        var version = output.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(w => w.Length > 0 && char.IsAsciiDigit(w[0])) ?? "0";
        return int.TryParse(version.Split('.')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major) ? major : 0;
    }

    /// <summary>Runs a program (as <c>postgres</c> through runuser when asked), bounded by <see cref="StepTimeout"/>; throws on failure.</summary>
    private static async Task<string> RunAsync(string file, IReadOnlyList<string> arguments, bool asPostgres)
    {
        using var process = Process.Start(StartInfo(file, arguments, asPostgres)) ?? throw new InvalidOperationException($"Could not start {file}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(StepTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', arguments)} did not finish within {StepTimeout.TotalSeconds} s.");
        }

        var output = await stdout;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await stderr}{output}");
        }

        return output;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // Best effort.
        }
    }
}
