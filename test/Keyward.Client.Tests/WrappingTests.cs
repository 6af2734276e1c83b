using Keyward.Client.Models;

namespace Keyward.Client.Tests;

public sealed class WrappingTests : IClassFixture<ServerFixture>
{
    private readonly ServerFixture _server;

    public WrappingTests(ServerFixture server) => _server = server;

    [Fact]
    public async Task GetSecretWrappedAsync_ThenUnwrapSecretAsync_ReturnsTheSecretOnce()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "sdk-wrapped" });
            await client.PutSecretAsync("app/db", new Dictionary<string, string> { ["password"] = "sdk-wrapped-2" });

            var info = await client.GetSecretWrappedAsync("app/db", TimeSpan.FromMinutes(2), version: 1);
            using var anonymous = _server.Client(token: null);
            var secret = await anonymous.UnwrapSecretAsync(info.Token);
            var again = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => anonymous.UnwrapAsync(info.Token));

            Assert.StartsWith("kww_", info.Token, StringComparison.Ordinal);
            Assert.Equal(TimeSpan.FromMinutes(2), info.Ttl);
            Assert.Equal("app/db", info.CreationPath);
            Assert.Equal(1, secret.Version);
            Assert.Equal("sdk-wrapped", secret.Data.GetProperty("password").GetString());
            Assert.Equal(404, again.Status);
            Assert.Equal("wrap_token_used", again.ErrorCode);
            Assert.DoesNotContain(info.Token, info.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain(info.Token[4..], again.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task GetSecretWrappedAsync_Stage_WrapsThatStage()
    {
        var (_, _, client) = await _server.TenantAsync();
        using (client)
        {
            await client.PutSecretAsync("app/x", new Dictionary<string, string> { ["v"] = "one" });
            var info = await client.GetSecretWrappedAsync("app/x", TimeSpan.FromSeconds(30), stage: SecretStages.Current);

            var secret = await client.UnwrapSecretAsync(info.Token);

            Assert.Equal("one", secret.Data.GetProperty("v").GetString());
            Assert.Equal(SecretStages.Current, secret.Stage);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(601)]
    public async Task GetSecretWrappedAsync_TtlOutOfRange_ThrowsBeforeSending(int seconds)
    {
        using var client = _server.Client();

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetSecretWrappedAsync("app/db", TimeSpan.FromSeconds(seconds)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetSecretWrappedAsync("app/db", TimeSpan.FromMilliseconds(1500)));
    }

    [Theory]
    [InlineData("kwa_notawrappingtoken0123456789")]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("kww_has space")]
    public async Task UnwrapAsync_NotAWrappingToken_ThrowsArgumentException(string token)
    {
        using var client = _server.Client(token: null);

        await Assert.ThrowsAnyAsync<ArgumentException>(() => client.UnwrapAsync(token));
    }

    [Fact]
    public async Task UnwrapAsync_UnknownWrappingToken_401InvalidToken()
    {
        using var client = _server.Client(token: null);

        var refused = await Assert.ThrowsAsync<KeywardRequestFailedException>(() => client.UnwrapAsync("kww_" + new string('A', 43)));

        Assert.Equal(401, refused.Status);
        Assert.Equal("invalid_token", refused.ErrorCode);
    }
}
