using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Keyward.Core.Storage;
using Keyward.Server.FunctionalTests.Agents;
using Keyward.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.FunctionalTests.Engines;

/// <summary>
/// The engine under stress on a real cluster: the database restarting in the middle of issuance, and one lockdown
/// revoking a thousand leases.
/// </summary>
public sealed class PostgresCredentialLoadTests
{
    private static async Task<(KeywardTestHost Host, AgentWorld World, AgentSessionInfo Agent)> SetUpAsync(PostgresTarget target)
    {
        var host = await KeywardTestHost.StartAsync();
        var world = await AgentWorld.CreateAsync(host, "acme");
        await world.PutRoleAsync("db", [AgentWorld.Rule("creds/postgres/main/*", "read")], "1h");
        using var admin = host.Client(world.Admin);
        await Problems.JsonAsync(await admin.PutAsJsonAsync("/v1/engines/postgres/main",
            new { connection_url = target.Url, username = target.AdminUser, password = target.AdminPassword }));
        await Problems.JsonAsync(await admin.PutAsJsonAsync("/v1/engines/postgres/main/roles/reader",
            new { creation_statements = PostgresTarget.ReaderStatements, default_ttl = "1h", max_ttl = "1h" }));
        return (host, world, await world.StartAgentAsync("a1", "r1", role: "db"));
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> IssueAsync(KeywardTestHost host, string token)
    {
        using var client = host.Client(token);
        var response = await client.PostAsync("/v1/creds/postgres/main/reader", null);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    [Fact]
    public async Task ADatabaseRestartDuringIssuance_FailsClearly_AndLeavesNoLoginWithoutALiveLease()
    {
        var cluster = await PostgresCluster.StartPrivateAsync();
        try
        {
            await using var target = await PostgresTarget.CreateAsync(cluster);
            var (host, _, agent) = await SetUpAsync(target);
            await using var _ = host;
            var results = new ConcurrentBag<(HttpStatusCode Status, JsonElement Body)>();

            using var stop = new CancellationTokenSource();
            var issuers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    results.Add(await IssueAsync(host, agent.Token));
                }
            })).ToArray();

            await Task.Delay(500);
            await cluster.StopServerAsync();
            await Task.Delay(1000);
            await cluster.StartServerAsync();
            await Task.Delay(500);
            await stop.CancelAsync();
            await Task.WhenAll(issuers);

            var issued = results.Where(r => r.Status == HttpStatusCode.OK).Select(r => (Username: r.Body.GetProperty("username").GetString()!, Password: r.Body.GetProperty("password").GetString()!)).ToList();
            var failed = results.Where(r => r.Status != HttpStatusCode.OK).ToList();
            Assert.NotEmpty(issued);
            Assert.NotEmpty(failed);

            // Every failure is a clear 502 of the engine, never an internal error.
            Assert.All(failed, f =>
            {
                Assert.Equal(HttpStatusCode.BadGateway, f.Status);
                Assert.Contains(f.Body.GetProperty("code").GetString(), (string[])["engine_unavailable", "engine_statement_failed"]);
            });

            // Every acknowledged login works once the database is back; after the clean-ups of the failed ones, the
            // logins that exist are exactly the acknowledged ones (none half-created, none forgotten).
            foreach (var login in issued)
            {
                Assert.Equal((true, null), await target.TryReadAsync(login.Username, login.Password));
            }

            var store = host.Services.GetRequiredService<IKeywardStore>();
            Assert.True(await PostgresTarget.EventuallyAsync(async () =>
            {
                await using var session = await store.ReadAsync();
                return await session.Leases.CountPendingCleanupsAsync(
                    (await session.Tenants.GetByIdAsync("acme"))!.Uid) == 0;
            }, seconds: 60), "clean-ups of the failed issuances did not finish");
            var logins = await target.CountLoginsAsync();
            Assert.Equal(issued.Count, logins);

            // And issuance goes on: a pooled connection broken by the restart costs at most one more failure.
            var after = await IssueAsync(host, agent.Token);
            if (after.Status != HttpStatusCode.OK)
            {
                after = await IssueAsync(host, agent.Token);
            }

            Assert.Equal(HttpStatusCode.OK, after.Status);
        }
        finally
        {
            cluster.Stop();
        }
    }

    [Fact]
    public async Task OneLockdown_RevokesAThousandLeases_AndEveryLoginIsDropped()
    {
        const int Count = 1000;
        await using var target = await PostgresTarget.CreateAsync();
        var (host, _, agent) = await SetUpAsync(target);
        await using var _ = host;

        var usernames = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, Count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (_, _) =>
        {
            var (status, body) = await IssueAsync(host, agent.Token);
            Assert.True(status == HttpStatusCode.OK, body.GetRawText());
            usernames.Add(body.GetProperty("username").GetString()!);
        });
        Assert.Equal(Count, usernames.Distinct().Count());
        Assert.Equal(Count, (await target.ExistingAsync(usernames)).Count);

        using var root = host.Client();
        var lockdown = await Problems.JsonAsync(await root.PostAsJsonAsync("/v1/tenants/acme/lockdown", new { reason = "the agent's database logins leaked" }));
        Assert.Equal(Count, lockdown.GetProperty("pending_external").GetInt32());
        Assert.Equal(Count + 1, lockdown.GetProperty("revoked_leases").GetInt32()); // and the agent's session lease

        Assert.True(await PostgresTarget.EventuallyAsync(async () => (await target.ExistingAsync(usernames)).Count == 0, seconds: 120),
            "logins still exist after the lockdown");
        Assert.Equal(0, await target.CountLoginsAsync());
    }
}
