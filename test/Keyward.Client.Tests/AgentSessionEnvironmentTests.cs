namespace Keyward.Client.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentCollection
{
    /// <summary>Tests that change this process's environment variables run alone.</summary>
    public const string Name = "process environment";
}

/// <summary><see cref="AgentSession.FromEnvironmentAsync"/>: the bootstrap token leaves the environment the moment it is read.</summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class AgentSessionEnvironmentTests : IClassFixture<ServerFixture>, IDisposable
{
    private readonly ServerFixture _server;
    private readonly string? _savedAddress = Environment.GetEnvironmentVariable(AgentSession.AddressVariable);

    public AgentSessionEnvironmentTests(ServerFixture server) => _server = server;

    public void Dispose()
    {
        Environment.SetEnvironmentVariable(AgentSession.BootstrapTokenVariable, null);
        Environment.SetEnvironmentVariable(AgentSession.AddressVariable, _savedAddress);
    }

    [Fact]
    public async Task FromEnvironmentAsync_ValidBootstrap_ExchangesAndRemovesTheVariable()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var bootstrap = await world.BootstrapAsync("env-agent", "run-env");
        Environment.SetEnvironmentVariable(AgentSession.BootstrapTokenVariable, bootstrap.BootstrapToken);

        await using var session = await AgentSession.FromEnvironmentAsync(world.Options());

        Assert.Null(Environment.GetEnvironmentVariable(AgentSession.BootstrapTokenVariable));
        Assert.False(Environment.GetEnvironmentVariables().Contains(AgentSession.BootstrapTokenVariable));
        Assert.Equal("env-agent", session.AgentId);
        Assert.Equal("env-agent", (await session.Client.GetSelfAsync()).AgentId);
    }

    [Fact]
    public async Task FromEnvironmentAsync_ChildProcess_DoesNotInheritTheBootstrapToken()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var bootstrap = await world.BootstrapAsync("env-agent", "run-env-child");
        Environment.SetEnvironmentVariable(AgentSession.BootstrapTokenVariable, bootstrap.BootstrapToken);
        await using var session = await AgentSession.FromEnvironmentAsync(world.Options());

        var start = new System.Diagnostics.ProcessStartInfo("/usr/bin/env") { RedirectStandardOutput = true, UseShellExecute = false };
        using var child = System.Diagnostics.Process.Start(start)!;
        var environment = await child.StandardOutput.ReadToEndAsync();
        await child.WaitForExitAsync();

        Assert.DoesNotContain(AgentSession.BootstrapTokenVariable, environment, StringComparison.Ordinal);
        Assert.DoesNotContain(bootstrap.BootstrapToken, environment, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FromEnvironmentAsync_ReplayedBootstrap_ThrowsAndStillRemovesTheVariable()
    {
        var world = await AgentWorld.CreateAsync(_server);
        var bootstrap = await world.BootstrapAsync("env-agent", "run-env-replay");
        await using var first = await AgentSession.ExchangeAsync(world.Options(), bootstrap.BootstrapToken);
        Environment.SetEnvironmentVariable(AgentSession.BootstrapTokenVariable, bootstrap.BootstrapToken);

        var error = await Clients.FailsAsync(() => AgentSession.FromEnvironmentAsync(world.Options()), 409, "bootstrap_replayed");

        Assert.Null(Environment.GetEnvironmentVariable(AgentSession.BootstrapTokenVariable));
        Assert.DoesNotContain(bootstrap.BootstrapToken, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FromEnvironmentAsync_UnknownBootstrap_ThrowsAndStillRemovesTheVariable()
    {
        var world = await AgentWorld.CreateAsync(_server);
        Environment.SetEnvironmentVariable(AgentSession.BootstrapTokenVariable, "kwb_never-issued-0123456789abcdefghijklmnopq");

        var error = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => AgentSession.FromEnvironmentAsync(world.Options()));

        Assert.Equal(401, error.Status);
        Assert.Null(Environment.GetEnvironmentVariable(AgentSession.BootstrapTokenVariable));
    }

    [Fact]
    public async Task FromEnvironmentAsync_NoAddress_ThrowsAndStillRemovesTheVariable()
    {
        Environment.SetEnvironmentVariable(AgentSession.BootstrapTokenVariable, "kwb_some-token-0123456789abcdefghijklmnopqrstu");
        Environment.SetEnvironmentVariable(AgentSession.AddressVariable, null);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => AgentSession.FromEnvironmentAsync());

        Assert.Null(Environment.GetEnvironmentVariable(AgentSession.BootstrapTokenVariable));
        Assert.Contains(AgentSession.AddressVariable, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("kwb_", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromEnvironment_RemoteHttpAddress_ThrowsAndStillRemovesTheVariable()
    {
        Environment.SetEnvironmentVariable(AgentSession.BootstrapTokenVariable, "kwb_some-token-0123456789abcdefghijklmnopqrstu");
        Environment.SetEnvironmentVariable(AgentSession.AddressVariable, "http://keyward.example.com:8210");

        Assert.Throws<ArgumentException>(() => AgentSession.FromEnvironment());

        Assert.Null(Environment.GetEnvironmentVariable(AgentSession.BootstrapTokenVariable));
    }

    [Fact]
    public async Task FromEnvironmentAsync_NoBootstrapVariable_ThrowsInvalidOperation()
    {
        Environment.SetEnvironmentVariable(AgentSession.BootstrapTokenVariable, null);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => AgentSession.FromEnvironmentAsync());

        Assert.Contains(AgentSession.BootstrapTokenVariable, error.Message, StringComparison.Ordinal);
    }
}
