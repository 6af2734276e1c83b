using System.Diagnostics;
using System.Text;
using Keyward.Tests.Common;

namespace Keyward.Tests.Cli;

/// <summary>
/// A real <c>keyward server --dev</c> process on a free loopback port with its own data directory. Killed (with its
/// process tree) on dispose; start-up is bounded by a timeout.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    public const string RootToken = "kwr_cli-test-root-token-0123456789abcdefghijkl";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(45);

    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly TempDirectory? _ownedDirectory;

    private ServerProcess(Process process, string address, string dataDirectory, TempDirectory? ownedDirectory)
    {
        _process = process;
        Address = address;
        DataDirectory = dataDirectory;
        _ownedDirectory = ownedDirectory;
    }

    public string Address { get; }

    public string DataDirectory { get; }

    public string UnsealKeyFile => Path.Combine(DataDirectory, "dev-unseal.key");

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The environment a CLI run needs to reach this server with <paramref name="token"/>.</summary>
    public Dictionary<string, string?> Env(string? token = RootToken) => new() { ["KEYWARD_ADDR"] = Address, ["KEYWARD_TOKEN"] = token };

    public Task<CliResult> RunAsync(string? token, params string[] args) => KeywardCli.RunAsync(args, Env(token));

    public static async Task<ServerProcess> StartAsync()
    {
        var directory = new TempDirectory("keyward-cli-test-");
        var port = KeywardCli.FreePort();
        var address = $"http://127.0.0.1:{port}";
        var info = KeywardCli.StartInfo(["server", "--dev", "--listen", $"127.0.0.1:{port}", "--data", directory.Path, "--dev-root-token", RootToken]);
        var process = Process.Start(info) ?? throw new InvalidOperationException("keyward server did not start");
        var server = new ServerProcess(process, address, directory.Path, directory);
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(object sender, DataReceivedEventArgs e)
        {
            if (e.Data is null)
            {
                return;
            }

            lock (server._log)
            {
                server._log.AppendLine(e.Data);
            }

            if (e.Data.Contains("listening on", StringComparison.OrdinalIgnoreCase))
            {
                listening.TrySetResult();
            }
        }

        process.OutputDataReceived += OnLine;
        process.ErrorDataReceived += OnLine;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var exited = process.WaitForExitAsync();
            var first = await Task.WhenAny(listening.Task, exited, Task.Delay(StartTimeout));
            if (first != listening.Task)
            {
                throw new InvalidOperationException($"keyward server did not start listening within {StartTimeout}:\n{server.Log}");
            }
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>Stops the process (kill, like a crash or an operator's SIGKILL) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await _process.WaitForExitAsync(timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (Exception error) when (error is InvalidOperationException or OperationCanceledException)
        {
            // Already gone, or would not die in time: nothing more a test can do.
        }

        _process.Dispose();
        _ownedDirectory?.Dispose();
    }
}
