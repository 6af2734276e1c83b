using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Core.Seal;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests;

/// <summary>Init, unseal, seal, root token retirement and regeneration, against a real store on an uninitialized server.</summary>
public sealed class SealLifecycleTests
{
    private static Task<KeywardTestHost> StartUninitializedAsync(string? dataDirectory = null, Action<IServiceCollection>? services = null) =>
        KeywardTestHost.StartAsync(new KeywardServerOptions { DataDirectory = dataDirectory }, services);

    private static async Task<(string[] Keys, string RootToken)> InitAsync(KeywardTestHost host, int shares, int threshold)
    {
        using var client = host.Client(token: null);
        var body = await Problems.JsonAsync(await client.PostAsJsonAsync("/v1/sys/init", new { shares, threshold }));
        var keys = body.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).ToArray();
        return (keys, body.GetProperty("root_token").GetString()!);
    }

    private static async Task<JsonElement> UnsealAsync(HttpClient client, string key, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var response = await client.PostAsJsonAsync("/v1/sys/unseal", new { key });
        return expected == HttpStatusCode.OK
            ? await Problems.JsonAsync(response)
            : await Problems.AssertProblemAsync(response, expected, "unseal_failed");
    }

    private static async Task SealAsync(KeywardTestHost host, string rootToken)
    {
        using var root = host.Client(rootToken);
        Assert.Equal(HttpStatusCode.NoContent, (await root.PostAsync("/v1/sys/seal", null)).StatusCode);
    }

    [Fact]
    public async Task AnAuthenticatedAnswer_ThatCannotBeAuditedBecauseTheServerSealedMeanwhile_Is503()
    {
        // Arrange: a dev server; a tenant admin token; a request whose handler is still running when the server seals
        await using var host = await KeywardTestHost.StartAsync();
        var admin = await host.CreateTenantAsync("acme");
        var http = new Microsoft.AspNetCore.Http.DefaultHttpContext { RequestServices = host.Services };
        http.Request.Headers.Authorization = "Bearer " + admin;
        var audited = host.Services.GetRequiredService<Keyward.Server.Http.Audited>();

        // Act: the handler has its answer (a value it read with keys it held) only once the seal has wiped the keys
        var result = await audited.InvokeAsync(
            Keyward.Server.Http.AuditedOperation.Authenticated("secret.read"),
            Microsoft.AspNetCore.Http.EndpointFilterInvocationContext.Create(http),
            async _ =>
            {
                await SealAsync(host, KeywardTestHost.RootToken);
                return Microsoft.AspNetCore.Http.TypedResults.Ok(new { data = new { password = "must-not-leave" } });
            });

        // Assert: no answer without its durable record — 503, not the value
        var problem = Assert.IsType<Keyward.Server.Http.ProblemResult>(result);
        Assert.Equal((503, "sealed"), (problem.Error.Status, problem.Error.Code));
    }

    [Fact]
    public async Task Uninitialized_AnswersHealthAndRefusesEverythingElseWith503()
    {
        await using var host = await StartUninitializedAsync();
        using var client = host.Client(token: null);

        var health = await Problems.JsonAsync(await client.GetAsync("/v1/sys/health"), HttpStatusCode.ServiceUnavailable);
        Assert.False(health.GetProperty("initialized").GetBoolean());
        Assert.True(health.GetProperty("sealed").GetBoolean());
        await Problems.AssertProblemAsync(await client.GetAsync("/v1/tenants"), HttpStatusCode.ServiceUnavailable, "not_initialized");
        await Problems.AssertProblemAsync(await client.GetAsync("/v1/secrets/a/b"), HttpStatusCode.ServiceUnavailable, "not_initialized");
        await Problems.AssertProblemAsync(await client.GetAsync("/openapi/v1.json"), HttpStatusCode.ServiceUnavailable, "not_initialized");
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(3, 4)]
    [InlineData(3, 1)]
    [InlineData(256, 2)]
    public async Task Init_InvalidShareConfiguration_Is400AndStaysUninitialized(int shares, int threshold)
    {
        await using var host = await StartUninitializedAsync();
        using var client = host.Client(token: null);

        await Problems.AssertProblemAsync(await client.PostAsJsonAsync("/v1/sys/init", new { shares, threshold }), HttpStatusCode.BadRequest, "invalid_field");

        Assert.Equal(SealState.Uninitialized, host.Services.GetRequiredService<KeyHierarchy>().State);
    }

    [Fact]
    public async Task Init_ReturnsSharesOnceAndRootToken_SecondInitIs409()
    {
        await using var host = await StartUninitializedAsync();
        var (keys, rootToken) = await InitAsync(host, 5, 3);
        using var client = host.Client(token: null);

        Assert.Equal(5, keys.Length);
        Assert.Equal(5, keys.Distinct().Count());
        Assert.StartsWith("kwr_", rootToken, StringComparison.Ordinal);
        await Problems.AssertProblemAsync(await client.PostAsJsonAsync("/v1/sys/init", new { shares = 1, threshold = 1 }), HttpStatusCode.Conflict, "already_initialized");
        var health = await Problems.JsonAsync(await client.GetAsync("/v1/sys/health"));
        Assert.False(health.GetProperty("sealed").GetBoolean());
    }

    [Fact]
    public async Task Seal_WipesKeysAndAnswers503_UnsealWithThresholdRestoresData()
    {
        await using var host = await StartUninitializedAsync();
        var (keys, rootToken) = await InitAsync(host, 3, 2);
        using (var root = host.Client(rootToken))
        {
            (await root.PostAsJsonAsync("/v1/tenants", new { id = "acme" })).EnsureSuccessStatusCode();
        }

        var admin = await MintAsync(host, rootToken, "acme");
        await host.PutSecretAsync(admin, "app/db", new { password = "before-seal" });
        var hierarchy = host.Services.GetRequiredService<KeyHierarchy>();
        var rootKey = hierarchy.Require();

        await SealAsync(host, rootToken);

        Assert.Equal(SealState.Sealed, hierarchy.State);
        Assert.True(rootKey.TenantKeyWrapping.IsDisposed);
        Assert.True(rootKey.AuditChain.IsDisposed);
        using var client = host.Client(admin);
        await Problems.AssertProblemAsync(await client.GetAsync("/v1/secrets/app/db"), HttpStatusCode.ServiceUnavailable, "sealed");

        var first = await UnsealAsync(client, keys[2]);
        Assert.True(first.GetProperty("sealed").GetBoolean());
        Assert.Equal(1, first.GetProperty("progress").GetInt32());
        Assert.Equal(2, first.GetProperty("threshold").GetInt32());
        var second = await UnsealAsync(client, keys[0]);
        Assert.False(second.GetProperty("sealed").GetBoolean());

        var read = await Problems.JsonAsync(await client.GetAsync("/v1/secrets/app/db"));
        Assert.Equal("before-seal", read.GetProperty("data").GetProperty("password").GetString());
    }

    [Fact]
    public async Task Unseal_SameShareTwice_IsRefusedAndProgressUnchanged()
    {
        await using var host = await StartUninitializedAsync();
        var (keys, rootToken) = await InitAsync(host, 3, 2);
        await SealAsync(host, rootToken);
        using var client = host.Client(token: null);

        await UnsealAsync(client, keys[1]);
        await UnsealAsync(client, keys[1], HttpStatusCode.BadRequest);

        var status = await UnsealAsync(client, keys[2]);
        Assert.False(status.GetProperty("sealed").GetBoolean());
    }

    [Fact]
    public async Task Unseal_ShareOfAnotherInitialization_IsRefusedProgressClearedAndStaysSealed()
    {
        await using var other = await StartUninitializedAsync();
        var (foreignKeys, _) = await InitAsync(other, 3, 2);
        await using var host = await StartUninitializedAsync();
        var (keys, rootToken) = await InitAsync(host, 3, 2);
        await SealAsync(host, rootToken);
        using var client = host.Client(token: null);

        await UnsealAsync(client, keys[0]);
        var refusal = await UnsealAsync(client, foreignKeys[1], HttpStatusCode.BadRequest);

        Assert.Contains("different initialization", refusal.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var status = await UnsealAsync(client, keys[1]);
        Assert.True(status.GetProperty("sealed").GetBoolean());
        Assert.Equal(1, status.GetProperty("progress").GetInt32());
    }

    [Fact]
    public async Task Unseal_TamperedShareReachingThreshold_IsRefusedAndStaysSealed()
    {
        await using var host = await StartUninitializedAsync();
        var (keys, rootToken) = await InitAsync(host, 3, 2);
        await SealAsync(host, rootToken);
        using var client = host.Client(token: null);
        var bytes = Convert.FromBase64String(keys[1]);
        bytes[^1] ^= 0x01;
        var tampered = Convert.ToBase64String(bytes);

        await UnsealAsync(client, keys[0]);
        var refusal = await UnsealAsync(client, tampered, HttpStatusCode.BadRequest);

        Assert.DoesNotContain(tampered, refusal.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(SealState.Sealed, host.Services.GetRequiredService<KeyHierarchy>().State);
        var status = await Problems.JsonAsync(await client.PostAsJsonAsync("/v1/sys/unseal", new { reset = true }));
        Assert.Equal(0, status.GetProperty("progress").GetInt32());
    }

    [Theory]
    [InlineData("not base64 !!")]
    [InlineData("AAAA")]
    [InlineData("")]
    public async Task Unseal_MalformedShare_Is400UnsealFailed(string key)
    {
        await using var host = await StartUninitializedAsync();
        var (_, rootToken) = await InitAsync(host, 1, 1);
        await SealAsync(host, rootToken);
        using var client = host.Client(token: null);

        await UnsealAsync(client, key, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Unseal_ResetClearsProgress()
    {
        await using var host = await StartUninitializedAsync();
        var (keys, rootToken) = await InitAsync(host, 3, 2);
        await SealAsync(host, rootToken);
        using var client = host.Client(token: null);
        await UnsealAsync(client, keys[0]);

        var reset = await Problems.JsonAsync(await client.PostAsJsonAsync("/v1/sys/unseal", new { reset = true }));
        var after = await UnsealAsync(client, keys[1]);

        Assert.Equal(0, reset.GetProperty("progress").GetInt32());
        Assert.True(after.GetProperty("sealed").GetBoolean());
        Assert.Equal(1, after.GetProperty("progress").GetInt32());
    }

    [Fact]
    public async Task Unseal_ProgressOlderThanTenMinutes_IsForgotten()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await StartUninitializedAsync(services: s => s.AddSingleton<TimeProvider>(clock));
        var (keys, rootToken) = await InitAsync(host, 3, 2);
        await SealAsync(host, rootToken);
        using var client = host.Client(token: null);

        await UnsealAsync(client, keys[0]);
        clock.Advance(SealService.UnsealProgressLifetime + TimeSpan.FromSeconds(1));
        var status = await UnsealAsync(client, keys[1]);

        Assert.True(status.GetProperty("sealed").GetBoolean());
        Assert.Equal(1, status.GetProperty("progress").GetInt32());
    }

    [Fact]
    public async Task Seal_NeedsTheRootToken()
    {
        await using var host = await KeywardTestHost.StartAsync();
        var admin = await host.CreateTenantAsync("acme");

        await Problems.AssertProblemAsync(await host.Client(admin).PostAsync("/v1/sys/seal", null), HttpStatusCode.Forbidden, "root_token_required");
        await Problems.AssertProblemAsync(await host.Client(token: null).PostAsync("/v1/sys/seal", null), HttpStatusCode.Unauthorized, "missing_token");
        Assert.Equal(SealState.Unsealed, host.Services.GetRequiredService<KeyHierarchy>().State);
    }

    [Fact]
    public async Task RootTokenRevoke_ThenGenerateRootFromThreshold_ReplacesTheRootToken()
    {
        await using var host = await StartUninitializedAsync();
        var (keys, rootToken) = await InitAsync(host, 3, 2);
        using var old = host.Client(rootToken);

        Assert.Equal(HttpStatusCode.NoContent, (await old.PostAsync("/v1/sys/root-token/revoke", null)).StatusCode);
        await Problems.AssertProblemAsync(await old.GetAsync("/v1/tenants"), HttpStatusCode.Unauthorized, "token_revoked");

        using var anonymous = host.Client(token: null);
        await Problems.AssertProblemAsync(
            await anonymous.PostAsJsonAsync("/v1/sys/generate-root", new { keys = new[] { keys[0] } }), HttpStatusCode.BadRequest, "unseal_failed");
        await Problems.AssertProblemAsync(
            await anonymous.PostAsJsonAsync("/v1/sys/generate-root", new { keys = new[] { keys[0], keys[0] } }), HttpStatusCode.BadRequest, "unseal_failed");
        var generated = await Problems.JsonAsync(await anonymous.PostAsJsonAsync("/v1/sys/generate-root", new { keys = new[] { keys[0], keys[2] } }));
        var newToken = generated.GetProperty("root_token").GetString()!;

        Assert.NotEqual(rootToken, newToken);
        Assert.Equal(HttpStatusCode.OK, (await host.Client(newToken).GetAsync("/v1/tenants")).StatusCode);
        await Problems.AssertProblemAsync(await old.GetAsync("/v1/tenants"), HttpStatusCode.Unauthorized, "token_revoked");
    }

    [Fact]
    public async Task GenerateRoot_RetiresEveryOtherRootToken()
    {
        await using var host = await StartUninitializedAsync();
        var (keys, rootToken) = await InitAsync(host, 1, 1);
        using var anonymous = host.Client(token: null);

        var generated = await Problems.JsonAsync(await anonymous.PostAsJsonAsync("/v1/sys/generate-root", new { keys }));

        await Problems.AssertProblemAsync(await host.Client(rootToken).GetAsync("/v1/tenants"), HttpStatusCode.Unauthorized, "token_revoked");
        Assert.Equal(HttpStatusCode.OK, (await host.Client(generated.GetProperty("root_token").GetString()).GetAsync("/v1/tenants")).StatusCode);
    }

    [Fact]
    public async Task Restart_StartsSealed_UnsealWithSharesKeepsEverything()
    {
        using var data = new TempDirectory();
        string[] keys;
        string admin;
        await using (var first = await StartUninitializedAsync(data.Path))
        {
            string rootToken;
            (keys, rootToken) = await InitAsync(first, 3, 2);
            using var root = first.Client(rootToken);
            (await root.PostAsJsonAsync("/v1/tenants", new { id = "acme" })).EnsureSuccessStatusCode();
            admin = await MintAsync(first, rootToken, "acme");
            await first.PutSecretAsync(admin, "app/db", new { password = "survives-restart" });
        }

        await using var second = await StartUninitializedAsync(data.Path);
        using var client = second.Client(admin);
        Assert.Equal(SealState.Sealed, second.Services.GetRequiredService<KeyHierarchy>().State);
        await Problems.AssertProblemAsync(await client.GetAsync("/v1/secrets/app/db"), HttpStatusCode.ServiceUnavailable, "sealed");

        await UnsealAsync(client, keys[1]);
        await UnsealAsync(client, keys[2]);

        var read = await Problems.JsonAsync(await client.GetAsync("/v1/secrets/app/db"));
        Assert.Equal("survives-restart", read.GetProperty("data").GetProperty("password").GetString());
    }

    [Fact]
    public async Task UnsealKeyFile_UnsealsAtStart_AndALooseFileIsRefused()
    {
        using var data = new TempDirectory();
        string[] keys;
        await using (var first = await StartUninitializedAsync(data.Path))
        {
            (keys, _) = await InitAsync(first, 3, 2);
        }

        var keyFile = data.File("unseal.key");
        Hosting.UnsealKeyFile.Write(keyFile, keys.Take(2), "test");
        await using (var unattended = await KeywardTestHost.StartAsync(new KeywardServerOptions { DataDirectory = data.Path, UnsealKeyFile = keyFile }))
        {
            Assert.Equal(SealState.Unsealed, unattended.Services.GetRequiredService<KeyHierarchy>().State);
        }

        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        await Assert.ThrowsAsync<Hosting.ServerStartupException>(() =>
            KeywardTestHost.StartAsync(new KeywardServerOptions { DataDirectory = data.Path, UnsealKeyFile = keyFile }));
    }

    private static async Task<string> MintAsync(KeywardTestHost host, string rootToken, string tenant)
    {
        using var root = host.Client(rootToken);
        var body = await Problems.JsonAsync(await root.PostAsJsonAsync($"/v1/tenants/{tenant}/tokens", new { kind = "admin", ttl = "1h" }));
        return body.GetProperty("token").GetString()!;
    }
}
