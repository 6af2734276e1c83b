using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests.Infrastructure;

/// <summary>A minted tenant token and its accessor (how audit records name it).</summary>
public sealed record MintedToken(string Token, string Accessor);

/// <summary>What an operator and a tenant admin do to set a scene up, through the HTTP API only.</summary>
public static class Operator
{
    /// <summary>A unique random marker that nothing but the test could produce.</summary>
    public static string Canary(string label) =>
        "cnry-" + label + "-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    public static async Task CreateTenantAsync(KeywardTestHost host, string id)
    {
        ArgumentNullException.ThrowIfNull(host);
        using var root = host.Client();
        await Problems.JsonAsync(await root.PostAsJsonAsync("/v1/tenants", new { id }), HttpStatusCode.Created);
    }

    public static async Task<MintedToken> MintAsync(KeywardTestHost host, string tenant, string kind, string ttl = "1h")
    {
        ArgumentNullException.ThrowIfNull(host);
        using var root = host.Client();
        var body = await Problems.JsonAsync(await root.PostAsJsonAsync($"/v1/tenants/{tenant}/tokens", new { kind, ttl }));
        return new MintedToken(body.GetProperty("token").GetString()!, body.GetProperty("accessor").GetString()!);
    }

    public static async Task<long> PutAsync(KeywardTestHost host, string token, string path, object data)
    {
        ArgumentNullException.ThrowIfNull(host);
        using var client = host.Client(token);
        var body = await Problems.JsonAsync(await client.PutAsJsonAsync("/v1/secrets/" + path, new { data }));
        return body.GetProperty("version").GetInt64();
    }

    public static async Task SendOkAsync(KeywardTestHost host, string token, HttpMethod method, string target, object? body = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        using var client = host.Client(token);
        using var request = new HttpRequestMessage(method, target);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        var response = await client.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, $"{method} {target}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>
    /// Everything a tenant can observe about one secret path, read through its own token: the metadata document
    /// (which changes on any write) and every version's read (value or refusal). Equal texts mean nothing changed.
    /// </summary>
    public static async Task<string> SecretStateAsync(KeywardTestHost host, string token, string path)
    {
        ArgumentNullException.ThrowIfNull(host);
        using var client = host.Client(token);
        var text = new StringBuilder();
        var metadata = await client.GetAsync("/v1/secret-metadata/" + path);
        var metadataText = await metadata.Content.ReadAsStringAsync();
        text.Append(CultureInfo.InvariantCulture, $"metadata {(int)metadata.StatusCode} {metadataText}\n");
        var current = await client.GetAsync("/v1/secrets/" + path);
        text.Append(CultureInfo.InvariantCulture, $"current {(int)current.StatusCode} {await current.Content.ReadAsStringAsync()}\n");
        if (metadata.StatusCode == HttpStatusCode.OK)
        {
            using var document = JsonDocument.Parse(metadataText);
            foreach (var version in document.RootElement.GetProperty("versions").EnumerateArray())
            {
                var number = version.GetProperty("version").GetInt64();
                var read = await client.GetAsync(string.Create(CultureInfo.InvariantCulture, $"/v1/secrets/{path}?version={number}"));
                text.Append(CultureInfo.InvariantCulture, $"v{number} {(int)read.StatusCode} {await read.Content.ReadAsStringAsync()}\n");
            }
        }

        return text.ToString();
    }

    /// <summary>A tenant's roles as its admin sees them.</summary>
    public static async Task<string> RolesStateAsync(KeywardTestHost host, string adminToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        using var client = host.Client(adminToken);
        var response = await client.GetAsync("/v1/roles");
        return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
    }

    /// <summary>Every secret path a tenant admin can list, with the state of each, plus the roles.</summary>
    public static async Task<string> TenantStateAsync(KeywardTestHost host, string adminToken, IEnumerable<string> alsoPaths)
    {
        ArgumentNullException.ThrowIfNull(host);
        using var client = host.Client(adminToken);
        var list = await Problems.JsonAsync(await client.GetAsync("/v1/secrets"));
        var paths = list.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).Concat(alsoPaths).Distinct().Order(StringComparer.Ordinal);
        var text = new StringBuilder();
        foreach (var path in paths)
        {
            text.Append(path).Append('\n').Append(await SecretStateAsync(host, adminToken, path));
        }

        text.Append("roles ").Append(await RolesStateAsync(host, adminToken));
        return text.ToString();
    }

    /// <summary>The dev unseal key share(s) the dev host keeps in DIR/dev-unseal.key.</summary>
    public static IReadOnlyList<string> DevUnsealKeys(KeywardTestHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return File.ReadAllLines(Path.Combine(host.DataDirectory, "dev-unseal.key"))
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .ToArray();
    }
}
