using System.Text.Json;

using Keyward.Tests.Common;

namespace Keyward.Tests.Cli;

public sealed class QuickstartTests : IClassFixture<CliServerFixture>
{
    private readonly CliServerFixture _fixture;

    public QuickstartTests(CliServerFixture fixture) => _fixture = fixture;

    private KeywardProcess Server => _fixture.Server;

    [Fact]
    public async Task Quickstart_TenantTokenSecretsRolesAudit_EveryStepWorks()
    {
        // Arrange: a tenant and its admin token, as an operator would.
        var tenant = "qs-" + Guid.NewGuid().ToString("N")[..8];
        var created = CliAssert.Ok(await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "create", tenant, "--name", "Quick Start"));
        CliAssert.Field(created, "ID", tenant);
        CliAssert.Field(created, "Name", "Quick Start");
        var listed = CliAssert.Ok(await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "list"));
        Assert.Matches($"(?m)^{tenant}\\s+Quick Start\\s+active", listed.Stdout);
        CliAssert.Field(CliAssert.Ok(await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "get", tenant)), "State", "active");
        var minted = CliAssert.Ok(await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "token", tenant, "--kind", "admin", "--ttl", "1h", "--display-name", "quickstart"));
        var admin = System.Text.RegularExpressions.Regex.Match(minted.Stdout, "(?m)^Token:\\s+(kwa_\\S+)").Groups[1].Value;
        Assert.StartsWith("kwa_", admin, StringComparison.Ordinal);

        // Secrets: put, get, field, list, metadata.
        var put = CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "app/db", "user=app", "password=s3cr3t-v1"));
        CliAssert.Field(put, "Version", "1");
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "app/db", "--json", """{"user":"app","password":"s3cr3t-v2","port":5432}""", "--cas", "1"));
        var get = CliAssert.Ok(await Server.RunAsync(admin, "secrets", "get", "app/db"));
        CliAssert.Field(get, "Version", "2");
        Assert.Matches("(?m)^password\\s+s3cr3t-v2$", get.Stdout);
        Assert.Matches("(?m)^port\\s+5432$", get.Stdout);
        Assert.Equal("s3cr3t-v2\n", CliAssert.Ok(await Server.RunAsync(admin, "secrets", "get", "app/db", "--field", "password")).Stdout);
        Assert.Equal("s3cr3t-v1\n", CliAssert.Ok(await Server.RunAsync(admin, "secrets", "get", "app/db", "--version", "1", "--field", "password")).Stdout);
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "app/cache", "url=redis://x"));
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "ops/pager", "key=p"));
        var list = CliAssert.Ok(await Server.RunAsync(admin, "secrets", "list", "--prefix", "app"));
        Assert.Contains("app/db", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("app/cache", list.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("ops/pager", list.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t", list.Stdout, StringComparison.Ordinal);
        var metadata = CliAssert.Ok(await Server.RunAsync(admin, "secrets", "metadata", "app/db", "--max-versions", "5", "--custom", "owner=team-a"));
        CliAssert.Field(metadata, "Current version", "2");
        CliAssert.Field(metadata, "Max versions", "5");
        CliAssert.Field(metadata, "Custom metadata", "owner=team-a");
        Assert.DoesNotContain("s3cr3t", metadata.Stdout, StringComparison.Ordinal);

        // Delete, undelete, destroy.
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "delete", "app/db"));
        var deleted = CliAssert.Exit(3, await Server.RunAsync(admin, "secrets", "get", "app/db"));
        Assert.Contains("(secret_deleted, HTTP 404)", deleted.Stderr, StringComparison.Ordinal);
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "undelete", "app/db", "--versions", "2"));
        Assert.Equal("s3cr3t-v2\n", CliAssert.Ok(await Server.RunAsync(admin, "secrets", "get", "app/db", "--field", "password")).Stdout);
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "destroy", "app/db", "--versions", "1"));
        CliAssert.Exit(3, await Server.RunAsync(admin, "secrets", "get", "app/db", "--version", "1"));
        var versions = CliAssert.Ok(await Server.RunAsync(admin, "secrets", "metadata", "app/db"));
        Assert.Matches("(?m)^1\\s+\\S+ \\S+\\s+destroyed\\s+previous$", versions.Stdout);
        Assert.Matches("(?m)^2\\s+\\S+ \\S+\\s+active\\s+current$", versions.Stdout);

        // Roles.
        var role = CliAssert.Ok(await Server.RunAsync(admin, "roles", "put", "reader", "--rule", "app/**=read,list", "--rule", "ops/*=use", "--max-ttl", "30m"));
        CliAssert.Field(role, "Max TTL", "30m");
        var shown = CliAssert.Ok(await Server.RunAsync(admin, "roles", "get", "reader"));
        Assert.Matches("(?m)^app/\\*\\*\\s+(read,list|list,read)$", shown.Stdout);
        Assert.Matches("(?m)^reader\\s+30m\\s+2", CliAssert.Ok(await Server.RunAsync(admin, "roles", "list")).Stdout);
        CliAssert.Ok(await Server.RunAsync(admin, "roles", "delete", "reader"));
        CliAssert.Exit(3, await Server.RunAsync(admin, "roles", "get", "reader"));

        // Audit: the tenant's trail, and the chain verified by root.
        var tail = CliAssert.Ok(await Server.RunAsync(admin, "audit", "tail", "--limit", "200"));
        Assert.Contains("secret.write", tail.Stdout, StringComparison.Ordinal);
        Assert.Contains("secret.destroy", tail.Stdout, StringComparison.Ordinal);
        Assert.Contains("role.write", tail.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t", tail.Stdout, StringComparison.Ordinal);
        var rootTail = CliAssert.Ok(await Server.RunAsync(KeywardTestHost.RootToken, "audit", "tail", "--tenant", tenant, "--limit", "500"));
        Assert.Contains("tenant.token.create", rootTail.Stdout, StringComparison.Ordinal);
        var verify = CliAssert.Ok(await Server.RunAsync(KeywardTestHost.RootToken, "audit", "verify"));
        Assert.Contains("ok", verify.Stdout, StringComparison.Ordinal);
        CliAssert.Field(verify, "First bad seq", "-");

        // Offboard.
        CliAssert.Ok(await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "delete", tenant));
        CliAssert.Exit(1, await Server.RunAsync(admin, "secrets", "list"));
    }

    [Fact]
    public async Task FormatJson_EveryReadVerb_PrintsParseableJson()
    {
        var (tenant, admin) = await _fixture.TenantAsync();
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "app/db", "password=p1", "--format", "json"));
        CliAssert.Ok(await Server.RunAsync(admin, "roles", "put", "r1", "--rule", "app/*=read", "--max-ttl", "1h"));

        using var tenants = Json(await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "list", "--format", "json"));
        using var one = Json(await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "get", tenant, "--format", "json"));
        using var secret = Json(await Server.RunAsync(admin, "secrets", "get", "app/db", "--format", "json"));
        using var keys = Json(await Server.RunAsync(admin, "secrets", "list", "--format", "json"));
        using var metadata = Json(await Server.RunAsync(admin, "secrets", "metadata", "app/db", "--format", "json"));
        using var roles = Json(await Server.RunAsync(admin, "roles", "list", "--format", "json"));
        using var audit = Json(await Server.RunAsync(admin, "audit", "tail", "--format", "json"));
        using var verify = Json(await Server.RunAsync(KeywardTestHost.RootToken, "audit", "verify", "--format", "json"));
        using var status = Json(await Server.RunAsync(null, "operator", "status", "--format", "json"));

        Assert.Contains(tenants.RootElement.GetProperty("tenants").EnumerateArray(), t => t.GetProperty("id").GetString() == tenant);
        Assert.Equal("active", one.RootElement.GetProperty("state").GetString());
        Assert.Equal("p1", secret.RootElement.GetProperty("data").GetProperty("password").GetString());
        Assert.Equal(1, secret.RootElement.GetProperty("version").GetInt64());
        Assert.Equal("app/db", Assert.Single(keys.RootElement.GetProperty("keys").EnumerateArray()).GetString());
        Assert.Equal(1, metadata.RootElement.GetProperty("current_version").GetInt64());
        Assert.Equal(3600, Assert.Single(roles.RootElement.GetProperty("roles").EnumerateArray()).GetProperty("max_ttl").GetInt64());
        Assert.NotEmpty(audit.RootElement.GetProperty("records").EnumerateArray());
        Assert.True(verify.RootElement.GetProperty("ok").GetBoolean());
        Assert.False(status.RootElement.GetProperty("sealed").GetBoolean());
    }

    [Fact]
    public async Task OperatorRewrap_AfterRotateKey_PrintsProgressAndExits0()
    {
        var (tenant, admin) = await _fixture.TenantAsync();
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "app/a", "k=1"));
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "app/b", "k=1"));
        CliAssert.Field(CliAssert.Ok(await Server.RunAsync(KeywardTestHost.RootToken, "tenants", "rotate-key", tenant)), "Key version", "2");

        var result = CliAssert.Ok(await Server.RunAsync(KeywardTestHost.RootToken, "operator", "rewrap", "--tenant", tenant));

        Assert.Matches("(?m)^rewrapped 2/2 \\(0 failed\\)$", result.Stdout);
        CliAssert.Field(result, "State", "completed");
        Assert.Equal("1\n", CliAssert.Ok(await Server.RunAsync(admin, "secrets", "get", "app/a", "--field", "k")).Stdout);
    }

    [Fact]
    public async Task AuditTail_AfterSeq_PrintsOnlyLaterRecordsInOrder()
    {
        var (_, admin) = await _fixture.TenantAsync();
        CliAssert.Ok(await Server.RunAsync(admin, "secrets", "put", "app/x", "k=1"));
        using var all = Json(await Server.RunAsync(admin, "audit", "tail", "--limit", "1000", "--format", "json"));
        var seqs = all.RootElement.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("seq").GetInt64()).ToArray();
        Assert.True(seqs.Length >= 2, "need at least two records");

        using var after = Json(await Server.RunAsync(admin, "audit", "tail", "--after", seqs[0].ToString(System.Globalization.CultureInfo.InvariantCulture), "--format", "json"));
        var later = after.RootElement.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("seq").GetInt64()).ToArray();

        var overlap = Math.Min(later.Length, seqs.Length - 1);
        Assert.True(overlap >= 1, after.RootElement.GetRawText());
        Assert.Equal(seqs.Skip(1).Take(overlap), later.Take(overlap));
        Assert.All(later, s => Assert.True(s > seqs[0]));
    }

    private static JsonDocument Json(CliResult result)
    {
        CliAssert.Ok(result);
        return JsonDocument.Parse(result.Stdout);
    }
}
