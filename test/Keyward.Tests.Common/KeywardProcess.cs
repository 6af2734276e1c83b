using System.Diagnostics;
using System.Net;
using System.Text;

namespace Keyward.Tests.Common;

/// <summary>
/// The real <c>keyward</c> executable running <c>keyward server</c> as a child process on a free loopback port,
/// for tests that need a real Kestrel, a real process boundary, or a real kill -9. Output is captured; the
/// process is killed on dispose.
/// </summary>
public sealed class KeywardProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TempDirectory? _ownedDirectory;

    private KeywardProcess(Process process, int port, string dataDirectory, TempDirectory? ownedDirectory)
    {
        _process = process;
        Port = port;
        DataDirectory = dataDirectory;
        _ownedDirectory = ownedDirectory;
        Address = new Uri($"http://127.0.0.1:{port}");
    }

    public int Port { get; }

    public Uri Address { get; }

    /// <summary>The address as <c>KEYWARD_ADDR</c> takes it: <c>http://127.0.0.1:PORT</c>.</summary>
    public string AddressText => Address.GetLeftPart(UriPartial.Authority);

    public string DataDirectory { get; }

    /// <summary>Dev mode's key file in the data directory.</summary>
    public string UnsealKeyFile => Path.Combine(DataDirectory, "dev-unseal.key");

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static int FreePort() => KeywardExecutable.FreePort();

    /// <summary>
    /// Starts <c>keyward server --dev</c> and waits until it answers health. Without <paramref name="dataDirectory"/>
    /// it uses a fresh one, removed on dispose.
    /// </summary>
    public static async Task<KeywardProcess> StartDevAsync(string? dataDirectory = null, string rootToken = KeywardTestHost.RootToken, int? port = null)
    {
        var owned = dataDirectory is null ? new TempDirectory("keyward-process-") : null;
        try
        {
            return await StartAsync(dataDirectory ?? owned!.Path, port ?? FreePort(), ["--dev", "--dev-root-token", rootToken], owned: owned);
        }
        catch
        {
            owned?.Dispose();
            throw;
        }
    }

    public static async Task<KeywardProcess> StartAsync(
        string dataDirectory, int port, IEnumerable<string> extraArguments, bool waitForHealth = true, TempDirectory? owned = null)
    {
        var info = KeywardExecutable.StartInfo(["server", "--listen", $"127.0.0.1:{port}", "--data", dataDirectory, .. extraArguments]);
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start keyward.");
        var server = new KeywardProcess(process, port, dataDirectory, owned);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (waitForHealth)
        {
            try
            {
                await server.WaitForHealthAsync();
            }
            catch
            {
                server.KillHard();
                throw;
            }
        }

        return server;
    }

    public async Task WaitForHealthAsync()
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + StartTimeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"keyward exited with {_process.ExitCode} before answering:\n{Output}");
            }

            try
            {
                using var response = await client.GetAsync(new Uri(Address, "/v1/sys/health"));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"keyward did not answer health within {StartTimeout}:\n{Output}");
    }

    /// <summary>SIGKILL: no shutdown, no flush — what a crash or power cut looks like to the process.</summary>
    public void KillHard()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.WaitForExit(10_000);
    }

    /// <summary>Kills the server (so its data can be inspected or reopened) and waits for it to be gone.</summary>
    public Task StopAsync() => Task.Run(KillHard);

    public HttpClient Client(string? token = KeywardTestHost.RootToken)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public ValueTask DisposeAsync()
    {
        KillHard();
        _process.Dispose();
        _ownedDirectory?.Dispose();
        return ValueTask.CompletedTask;
    }
}
