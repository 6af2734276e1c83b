using System.Globalization;
using System.Text.Json;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests.Infrastructure;

/// <summary>
/// Reads an audit log through the API, every page, incrementally: <c>GET /v1/sys/audit</c> with a root token, or
/// <c>GET /v1/audit</c> with a tenant admin token. Each read is itself audited, which the reader does not mind.
/// </summary>
public sealed class AuditLog
{
    private readonly Func<HttpClient> _client;
    private readonly string _route;
    private readonly List<JsonElement> _records = [];
    private long _after;

    public AuditLog(KeywardTestHost host, string token = KeywardTestHost.RootToken, string route = "/v1/sys/audit")
        : this(() => host.Client(token), route)
    {
        ArgumentNullException.ThrowIfNull(host);
    }

    /// <summary>Reads through clients from <paramref name="client"/> (which carry the token), e.g. against Kestrel.</summary>
    public AuditLog(Func<HttpClient> client, string route = "/v1/sys/audit")
    {
        _client = client;
        _route = route;
    }

    public IReadOnlyList<JsonElement> Records => _records;

    /// <summary>Fetches every record newer than the last one seen, following <c>next</c> to the end.</summary>
    public async Task<IReadOnlyList<JsonElement>> RefreshAsync()
    {
        using var client = _client();
        while (true)
        {
            var separator = _route.Contains('?', StringComparison.Ordinal) ? '&' : '?';
            var target = string.Create(CultureInfo.InvariantCulture, $"{_route}{separator}after={_after}&limit=1000");
            var page = await Problems.JsonAsync(await client.GetAsync(target));
            foreach (var record in page.GetProperty("records").EnumerateArray())
            {
                var seq = record.GetProperty("seq").GetInt64();
                Assert.True(seq > _after, $"audit records must come in ascending seq: {seq} after {_after}");
                _records.Add(record.Clone());
                _after = seq;
            }

            var next = page.GetProperty("next");
            if (next.ValueKind == JsonValueKind.Null)
            {
                return _records;
            }

            Assert.Equal(_after, next.GetInt64());
        }
    }

    /// <summary>The one record carrying <paramref name="requestId"/>; fails unless there is exactly one.</summary>
    public async Task<JsonElement> SingleAsync(string? requestId)
    {
        Assert.False(string.IsNullOrEmpty(requestId), "every response must carry X-Request-Id");
        await RefreshAsync();
        var matches = _records.Where(r => r.GetProperty("request_id").GetString() == requestId).ToList();
        Assert.True(matches.Count == 1, $"expected exactly one audit record for request {requestId}, found {matches.Count}");
        return matches[0];
    }

    /// <summary>The records carrying <paramref name="requestId"/> (none if the request was not audited here).</summary>
    public async Task<IReadOnlyList<JsonElement>> ForRequestAsync(string? requestId)
    {
        await RefreshAsync();
        return _records.Where(r => r.GetProperty("request_id").GetString() == requestId).ToList();
    }

    /// <summary>Every record as its JSON text, for scans.</summary>
    public string AllText => string.Join('\n', _records.Select(r => r.GetRawText()));

    /// <summary>
    /// Asserts the shape API.md gives an audited refusal or success: outcome from the status (ok for 2xx, denied for
    /// 401/403/423, error otherwise), the status and code the client saw, the operation, and the tenant.
    /// </summary>
    public static void AssertRecord(JsonElement record, RawResponse response, string operation, string? tenant)
    {
        ArgumentNullException.ThrowIfNull(response);
        var context = $"audit record {record.GetRawText()} for response {response}";
        var expectedOutcome = response.Status < 300 ? "ok" : response.Status is 401 or 403 or 423 ? "denied" : "error";
        Assert.True(expectedOutcome == record.GetProperty("outcome").GetString(), "outcome: " + context);
        Assert.True(response.Status == record.GetProperty("status").GetInt32(), "status: " + context);
        Assert.True(response.ProblemCode == record.GetProperty("code").GetString(), "code: " + context);
        Assert.True(operation == record.GetProperty("operation").GetString(), "operation: " + context);
        Assert.True(tenant == record.GetProperty("tenant").GetString(), "tenant: " + context);
    }
}
