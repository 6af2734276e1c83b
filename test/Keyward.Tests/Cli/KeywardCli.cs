using System.Diagnostics;
using Keyward.Tests.Common;

namespace Keyward.Tests.Cli;

/// <summary>What one run of the <c>keyward</c> executable did.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs the built <c>keyward</c> CLI as a child process, every wait bounded.</summary>
public static class KeywardCli
{
    // A bound for a hung process, not a performance check: a migration of the test source under the full suite's load on
    // two cores took over a minute once (12-07).
    public static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);

    public static async Task<CliResult> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null, string? stdin = null)
    {
        using var process = Process.Start(KeywardExecutable.StartInfo(args, environment)) ?? throw new InvalidOperationException("keyward did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(RunTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"keyward {string.Join(' ', args)} did not finish within {RunTimeout}.");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>The environment a CLI run needs to reach <paramref name="server"/> with <paramref name="token"/>.</summary>
    public static Dictionary<string, string?> Env(this KeywardProcess server, string? token = KeywardTestHost.RootToken) =>
        new() { ["KEYWARD_ADDR"] = server.AddressText, ["KEYWARD_TOKEN"] = token };

    /// <summary>Runs the CLI against <paramref name="server"/> as <paramref name="token"/>.</summary>
    public static Task<CliResult> RunAsync(this KeywardProcess server, string? token, params string[] args) => RunAsync(args, server.Env(token));
}
