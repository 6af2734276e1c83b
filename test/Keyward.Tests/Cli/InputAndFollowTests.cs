using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Keyward.Tests.Common;

namespace Keyward.Tests.Cli;

public sealed class InputAndFollowTests : IClassFixture<CliServerFixture>
{
    private readonly CliServerFixture _fixture;

    public InputAndFollowTests(CliServerFixture fixture) => _fixture = fixture;

    private KeywardProcess Server => _fixture.Server;

    [Fact]
    public async Task SecretsPutJsonFile_AndRolesPutFile_ReadTheirFiles()
    {
        var (_, admin) = await _fixture.TenantAsync();
        using var directory = new TempDirectory();
        await File.WriteAllTextAsync(directory.File("data.json"), """{"password":"from-file","port":5432}""");
        await File.WriteAllTextAsync(directory.File("role.json"), """{"rules":[{"path":"app/**","capabilities":["read","list"]}],"max_ttl":"15m","may_spawn":["helper"]}""");

        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "app/db", "--json-file", directory.File("data.json")));
        var role = CliAssert.Ok(await Server.RunAsync(admin, "roles", "put", "worker", "--file", directory.File("role.json")));

        Assert.Equal("5432\n", CliAssert.Ok(await Server.RunAsync(admin, "secrets", "get", "app/db", "--field", "port")).Stdout);
        Assert.Equal("from-file\n", CliAssert.Ok(await Server.RunAsync(admin, "secrets", "get", "app/db", "--field", "password")).Stdout);
        CliAssert.Field(role, "Max TTL", "15m");
        CliAssert.Field(role, "May spawn", "helper");
        var missingField = CliAssert.Exit(3, await Server.RunAsync(admin, "secrets", "get", "app/db", "--field", "nope"));
        Assert.DoesNotContain("from-file", missingField.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SecretsPut_JsonFromStdin_IsWritten()
    {
        var (_, admin) = await _fixture.TenantAsync();

        CliAssert.Ok(await KeywardCli.RunAsync(["secrets", "put", "app/stdin", "--json-file", "-"], Server.Env(admin), stdin: """{"k":"piped"}"""));

        Assert.Equal("piped\n", CliAssert.Ok(await Server.RunAsync(admin, "secrets", "get", "app/stdin", "--field", "k")).Stdout);
    }

    [Fact]
    public async Task TenantsToken_Orchestrator_PrintsKwoTokenInJson()
    {
        var (tenant, _) = await _fixture.TenantAsync();

        var result = CliAssert.Ok(await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "token", tenant, "--kind", "orchestrator", "--ttl", "10m", "--format", "json"));

        using var json = JsonDocument.Parse(result.Stdout);
        Assert.StartsWith("kwo_", json.RootElement.GetProperty("token").GetString(), StringComparison.Ordinal);
        Assert.Equal("orchestrator", json.RootElement.GetProperty("kind").GetString());
        var expires = json.RootElement.GetProperty("expires_at").GetDateTimeOffset();
        Assert.InRange(expires, DateTimeOffset.UtcNow.AddMinutes(8), DateTimeOffset.UtcNow.AddMinutes(12));
    }

    [Fact]
    public async Task AuditTailFollow_NewWrite_IsPrintedWhileRunning()
    {
        var (_, admin) = await _fixture.TenantAsync();
        var info = KeywardExecutable.StartInfo(["audit", "tail", "--follow", "--limit", "1", "--interval", "1s"], Server.Env(admin));
        using var follow = Process.Start(info) ?? throw new InvalidOperationException("keyward did not start");
        var output = new StringBuilder();
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        follow.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (output)
            {
                output.AppendLine(e.Data);
            }

            if (e.Data.Contains("app/followed", StringComparison.Ordinal))
            {
                seen.TrySetResult();
            }
        };
        follow.BeginOutputReadLine();
        try
        {
            // Act: a write after the tail started.
            await Task.Delay(TimeSpan.FromSeconds(1));
            CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "app/followed", "k=v"));

            // Assert: it shows up without restarting the tail.
            var first = await Task.WhenAny(seen.Task, Task.Delay(TimeSpan.FromSeconds(30)));
            Assert.True(first == seen.Task, $"the followed write never appeared; output so far:\n{output}");
            Assert.False(follow.HasExited);
        }
        finally
        {
            follow.Kill(entireProcessTree: true);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await follow.WaitForExitAsync(timeout.Token);
        }
    }
}
