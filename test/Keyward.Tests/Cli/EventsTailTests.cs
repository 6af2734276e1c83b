using System.Diagnostics;
using System.Text;
using Keyward.Tests.Common;

namespace Keyward.Tests.Cli;

public sealed class EventsTailTests : IClassFixture<CliServerFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private readonly CliServerFixture _fixture;

    public EventsTailTests(CliServerFixture fixture) => _fixture = fixture;

    private KeywardProcess Server => _fixture.Server;

    [Fact]
    public async Task EventsTail_ReplaysFromAnId_PrintsNewEvents_EndsWhenTheTenantIsLockedDown()
    {
        var (tenant, admin) = await _fixture.TenantAsync();
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "app/one", "k=value-one-secret"));
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "ops/other", "k=value-ops-secret"));
        using var tail = new Tail(["events", "tail", "--prefix", "app", "--last-event-id", "0"], Server.Env(admin));

        try
        {
            await tail.WaitForLineAsync("app/one");
            CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "app/two", "k=value-two-secret"));
            await tail.WaitForLineAsync("app/two");
            CliAssert.Ok(await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "lockdown", tenant, "--reason", "events tail test"));
            var exitCode = await tail.WaitForExitAsync();

            var lines = tail.Lines;
            Assert.True(exitCode == 0, tail.ToString());
            Assert.Matches(@"^\d+  secret\.written  \{""path"":""app/one"",""version"":1", lines[0]);
            Assert.Matches(@"^\d+  secret\.written  \{""path"":""app/two"",""version"":1", lines[1]);
            Assert.Matches(@"^\d+  tenant\.lockdown  \{", lines[^1]);
            Assert.DoesNotContain(lines, l => l.Contains("ops/other", StringComparison.Ordinal) || l.Contains("value-", StringComparison.Ordinal));
        }
        finally
        {
            tail.Kill();
        }
    }

    [Fact]
    public async Task EventsTail_ResumeFromAnUnknownId_PrintsAReset_JsonFormatIsOneDocumentPerLine()
    {
        var (_, admin) = await _fixture.TenantAsync();
        using var tail = new Tail(["events", "tail", "--last-event-id", "999999999", "--format", "json"], Server.Env(admin));

        try
        {
            await tail.WaitForLineAsync("reset");

            Assert.Equal("""{"id":null,"type":"reset","data":{}}""", tail.Lines[0]);
        }
        finally
        {
            tail.Kill();
        }
    }

    [Fact]
    public async Task EventsTail_HumanReset_IsPrintedClearly()
    {
        var (_, admin) = await _fixture.TenantAsync();
        using var tail = new Tail(["events", "tail", "--last-event-id", "999999999"], Server.Env(admin));

        try
        {
            await tail.WaitForLineAsync("reset");

            Assert.StartsWith("-  reset  (events were missed for good", tail.Lines[0], StringComparison.Ordinal);
        }
        finally
        {
            tail.Kill();
        }
    }

    /// <summary>A running <c>keyward events tail</c> whose stdout lines are collected.</summary>
    private sealed class Tail : IDisposable
    {
        private readonly Process _process;
        private readonly List<string> _lines = [];
        private readonly StringBuilder _stderr = new();

        public Tail(IEnumerable<string> args, IReadOnlyDictionary<string, string?> environment)
        {
            _process = Process.Start(KeywardExecutable.StartInfo(args, environment)) ?? throw new InvalidOperationException("keyward did not start");
            _process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    lock (_lines)
                    {
                        _lines.Add(e.Data);
                    }
                }
            };
            _process.ErrorDataReceived += (_, e) =>
            {
                lock (_stderr)
                {
                    _stderr.AppendLine(e.Data);
                }
            };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (_lines)
                {
                    return [.. _lines];
                }
            }
        }

        public async Task WaitForLineAsync(string containing)
        {
            using var timeout = new CancellationTokenSource(Wait);
            while (!Lines.Any(l => l.Contains(containing, StringComparison.Ordinal)))
            {
                if (_process.HasExited)
                {
                    Assert.Fail($"keyward exited before printing '{containing}'; {this}");
                }

                await Task.Delay(50, timeout.Token);
            }
        }

        public async Task<int> WaitForExitAsync()
        {
            using var timeout = new CancellationTokenSource(Wait);
            await _process.WaitForExitAsync(timeout.Token);
            return _process.ExitCode;
        }

        public void Kill()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(15_000);
            }
        }

        public void Dispose() => _process.Dispose();

        public override string ToString()
        {
            lock (_stderr)
            {
                return $"--- stdout ---\n{string.Join('\n', Lines)}\n--- stderr ---\n{_stderr}";
            }
        }
    }
}
