using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
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

    private KeywardProcess(Process process, int port, string dataDirectory)
    {
        _process = process;
        Port = port;
        DataDirectory = dataDirectory;
        Address = new Uri($"http://127.0.0.1:{port}");
    }

    public int Port { get; }

    public Uri Address { get; }

    public string DataDirectory { get; }

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

    /// <summary>The built <c>keyward.dll</c> next to the test assembly (the test project references src/Keyward).</summary>
    public static string KeywardDll
    {
        get
        {
            var path = Path.Combine(AppContext.BaseDirectory, "keyward.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("keyward.dll is not next to the test assembly; reference src/Keyward from the test project.", path);
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts <c>keyward server --dev</c> on <paramref name="dataDirectory"/> and waits until it answers health.</summary>
    public static Task<KeywardProcess> StartDevAsync(string dataDirectory, string rootToken = KeywardTestHost.RootToken, int? port = null) =>
        StartAsync(dataDirectory, port ?? FreePort(), ["--dev", "--dev-root-token", rootToken]);

    public static async Task<KeywardProcess> StartAsync(string dataDirectory, int port, IEnumerable<string> extraArguments, bool waitForHealth = true)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(KeywardDll);
        info.ArgumentList.Add("server");
        info.ArgumentList.Add("--listen");
        info.ArgumentList.Add($"127.0.0.1:{port}");
        info.ArgumentList.Add("--data");
        info.ArgumentList.Add(dataDirectory);
        foreach (var argument in extraArguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start keyward.");
        var server = new KeywardProcess(process, port, dataDirectory);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (waitForHealth)
        {
            await server.WaitForHealthAsync();
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
        return ValueTask.CompletedTask;
    }
}
