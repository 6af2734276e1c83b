using System.Net;
using System.Net.Http.Json;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests.Engines;

/// <summary>A server on PostgreSQL never lets a tenant point an engine at its own store, by any name of it.</summary>
public sealed class EngineOwnStoreTests
{
    [Fact]
    public async Task TheServersOwnStore_IsRefusedAsAnEngineHost_EvenInDevMode()
    {
        var cluster = await PostgresCluster.GetAsync();
        var database = await cluster.CreateDatabaseAsync();
        using var data = new TempDirectory();
        try
        {
            await using var host = await KeywardTestHost.StartAsync(new KeywardServerOptions
            {
                Dev = true,
                DevRootToken = KeywardTestHost.RootToken,
                DataDirectory = data.Path,
                Storage = KeywardServerOptions.PostgresStorage,
                PostgresConnectionString = cluster.ConnectionString(database),
            });
            using var admin = host.Client(await host.CreateTenantAsync("acme"));

            foreach (var url in new[]
            {
                $"postgresql://127.0.0.1:{cluster.Port}/{database}",
                $"postgresql://127.0.0.1:{cluster.Port}/postgres",
                $"postgresql://localhost:{cluster.Port}/postgres",
                $"Host=127.0.0.1;Port={cluster.Port};Database=template1",
            })
            {
                var response = await admin.PutAsJsonAsync("/v1/engines/postgres/store",
                    new { connection_url = url, username = PostgresCluster.Superuser, password = "anything" });
                var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.Forbidden, "engine_host_not_allowed");
                Assert.Contains("Keyward's own store", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            }
        }
        finally
        {
            await cluster.DropDatabaseAsync(database);
        }
    }
}
