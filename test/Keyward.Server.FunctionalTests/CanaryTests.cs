using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keyward.Server.FunctionalTests.Infrastructure;
using Keyward.Tests.Common;

namespace Keyward.Server.FunctionalTests;

/// <summary>
/// Secret values never leave the broker except in a legitimate read: canary secrets (a plain value, one deep in a
/// nested JSON value, one as a data key, one inside a 60 KiB value) are written, then every route is exercised,
/// failures included, many of them with more canaries in the request (bad JSON, unknown fields, wrong types, cas
/// mismatches, over-size values, reserved and invalid paths, wrong credentials, a sealed server, a wrong unseal key).
/// Then the captured log, every audit record, and every response that is not a legitimate read are scanned:
/// no canary, and no token string either.
/// </summary>
public sealed class CanaryTests
{
    [Fact]
    public async Task EveryRoute_WithCanarySecrets_NoCanaryInLogsAuditRecordsOrOtherResponses()
    {
        // Arrange
        await using var host = await KeywardTestHost.StartAsync();
        var exercise = new Exercise(host);

        // Act
        await exercise.RunAsync();
        var audit = await new AuditLog(host).RefreshAsync();

        // Assert
        foreach (var response in exercise.Responses.Where(r => r.Audited))
        {
            Assert.True(audit.Count(r => r.GetProperty("request_id").GetString() == response.RequestId) == 1, $"{response.Step} is not audited once");
        }

        var logs = host.Logs.All;
        Assert.Contains("Request refused", logs, StringComparison.Ordinal);
        var records = string.Join('\n', audit.Select(r => r.GetRawText()));
        foreach (var canary in exercise.Canaries)
        {
            Assert.False(logs.Contains(canary, StringComparison.Ordinal), $"a log line carries canary {canary}");
            Assert.False(records.Contains(canary, StringComparison.Ordinal), $"an audit record carries canary {canary}");
            foreach (var response in exercise.Responses.Where(r => !r.LegitimateRead))
            {
                Assert.False(response.Body.Contains(canary, StringComparison.Ordinal), $"{response.Step} discloses canary {canary}: {response.Status} {response.Body}");
            }
        }

        // The legitimate reads did return the values (so the scan looked for strings that were really there).
        var reads = string.Join('\n', exercise.Responses.Where(r => r.LegitimateRead).Select(r => r.Body));
        foreach (var canary in exercise.StoredCanaries)
        {
            Assert.Contains(canary, reads, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task EveryRoute_WithTenantAndRootTokens_NoTokenInLogsOrAuditRecords()
    {
        // Arrange
        await using var host = await KeywardTestHost.StartAsync();
        var exercise = new Exercise(host);

        // Act
        await exercise.RunAsync();
        var audit = await new AuditLog(host).RefreshAsync();

        // Assert
        var logs = host.Logs.All;
        var records = string.Join('\n', audit.Select(r => r.GetRawText()));
        Assert.True(exercise.Tokens.Count >= 6, "admin, orchestrator, other tenant, minted, query-string and forged tokens");
        foreach (var token in exercise.Tokens)
        {
            // The random part alone: a scrubber that only cut the kind prefix off would still leak the credential.
            var secretPart = token[4..];
            Assert.False(logs.Contains(secretPart, StringComparison.Ordinal), $"a log line carries token {token[..8]}…");
            Assert.False(records.Contains(secretPart, StringComparison.Ordinal), $"an audit record carries token {token[..8]}…");
            foreach (var response in exercise.Responses.Where(r => r.Status >= 400))
            {
                Assert.False(response.Body.Contains(secretPart, StringComparison.Ordinal), $"{response.Step} echoes token {token[..8]}…");
            }
        }
    }

    [Fact]
    public async Task EveryRoute_WithCanarySecrets_NoPlaintextCanaryInDataDirectory()
    {
        // Arrange
        await using var host = await KeywardTestHost.StartAsync();
        var exercise = new Exercise(host);

        // Act
        await exercise.RunAsync();

        // Assert: values are sealed at rest (tenant key, AEAD), never written out in clear, not even in the WAL.
        var files = Directory.GetFiles(host.DataDirectory, "*", SearchOption.AllDirectories);
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            if (Path.GetFileName(file) == Keyward.Storage.Sqlite.SqliteStore.LockFileName)
            {
                // The data directory's lock: held exclusively by the running store, and always empty.
                Assert.Equal(0, new FileInfo(file).Length);
                continue;
            }

            byte[] bytes;
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            using (var copy = new MemoryStream())
            {
                await stream.CopyToAsync(copy);
                bytes = copy.ToArray();
            }

            foreach (var canary in exercise.Canaries)
            {
                Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(canary)) < 0, $"{Path.GetFileName(file)} holds canary {canary} in clear");
            }
        }
    }

    /// <summary>A response seen during the exercise; legitimate reads of a secret are the only ones allowed a value.</summary>
    private sealed record Seen(string Step, int Status, string Body, string? RequestId, bool LegitimateRead, bool Audited);

    /// <summary>Drives every route of the server with canary-bearing data and records what came back.</summary>
    private sealed class Exercise
    {
        private readonly KeywardTestHost _host;
        private readonly List<string> _canaries = [];
        private readonly List<string> _stored = [];
        private readonly List<string> _tokens = [KeywardTestHost.RootToken];
        private readonly List<Seen> _responses = [];

        public Exercise(KeywardTestHost host) => _host = host;

        public IReadOnlyList<string> Canaries => _canaries;

        /// <summary>Canaries that were stored and must come back in legitimate reads.</summary>
        public IReadOnlyList<string> StoredCanaries => _stored;

        public IReadOnlyList<string> Tokens => _tokens;

        public IReadOnlyList<Seen> Responses => _responses;

        private string Canary(string label, bool stored = false)
        {
            var canary = Operator.Canary(label);
            _canaries.Add(canary);
            if (stored)
            {
                _stored.Add(canary);
            }

            return canary;
        }

        private async Task<RawResponse> SendAsync(
            string step, string method, string target, string? token, string? body = null, int? expect = null, bool read = false, bool audited = true)
        {
            var response = await _host.SendAsync(new RawRequest(method, target)
            {
                Authorization = token is null ? [] : [RawRequest.Bearer(token)],
                Body = body,
            });
            _responses.Add(new Seen(step, response.Status, response.Body, response.RequestId, read && response.Status == 200, audited));
            if (expect is { } status)
            {
                Assert.True(response.Status == status, $"{step}: expected {status}, got {response}");
            }

            return response;
        }

        private static string Json(object value) => JsonSerializer.Serialize(value);

        public async Task RunAsync()
        {
            const string Root = KeywardTestHost.RootToken;
            await SendAsync("tenant.create acme", "POST", "/v1/tenants", Root, Json(new { id = "acme", name = "Acme" }), 201);
            await SendAsync("tenant.create globex", "POST", "/v1/tenants", Root, Json(new { id = "globex" }), 201);
            var admin = await MintAsync("acme", "admin");
            var orchestrator = await MintAsync("acme", "orchestrator");
            var globex = await MintAsync("globex", "admin");

            // Stored canaries: plain, nested deep, as a data key, inside 60 KiB, a second version.
            var plain = Canary("plain", stored: true);
            var nested = Canary("nested", stored: true);
            var nestedArray = Canary("nested-array", stored: true);
            var asKey = Canary("as-key", stored: true);
            var big = Canary("big", stored: true);
            var second = Canary("second", stored: true);
            await SendAsync("write plain", "PUT", "/v1/secrets/app/db", admin, Json(new { data = new { password = plain } }), 200);
            await SendAsync("write nested", "PUT", "/v1/secrets/app/nested", admin,
                Json(new { data = new { db = new { creds = new { password = nested, more = new object[] { 1, new { deeper = nestedArray } } } } } }), 200);
            await SendAsync("write key", "PUT", "/v1/secrets/app/keyed", admin, Json(new { data = new Dictionary<string, string> { [asKey] = "value" } }), 200);
            var filler = RandomText(60 * 1024);
            await SendAsync("write big", "PUT", "/v1/secrets/app/big", admin,
                Json(new { data = new { blob = filler[..30000] + big + filler[30000..] } }), 200);
            await SendAsync("write second", "PUT", "/v1/secrets/app/db", admin, Json(new { data = new { password = second }, cas = 1 }), 200);

            // Failures carrying canaries in the request.
            var c = Canary("truncated-json");
            await SendAsync("malformed json", "PUT", "/v1/secrets/app/db", admin, $$$"""{"data":{"password":"{{{c}}}"}""", 400);
            c = Canary("trailing-json");
            await SendAsync("trailing garbage", "PUT", "/v1/secrets/app/db", admin, $$$"""{"data":{"password":"{{{c}}}"}} {{{c}}}""", 400);
            c = Canary("bad-escape");
            await SendAsync("bad escape", "PUT", "/v1/secrets/app/db", admin, $$$"""{"data":{"password":"{{{c}}}\q"}}""", 400);
            c = Canary("unknown-field-value");
            await SendAsync("unknown field", "PUT", "/v1/secrets/app/db", admin, $$$"""{"data":{"k":"v"},"dta":{"password":"{{{c}}}"}}""", 400);
            c = Canary("unwrapped");
            await SendAsync("unwrapped data", "PUT", "/v1/secrets/app/db", admin, $$$"""{"password":"{{{c}}}"}""", 400);
            c = Canary("duplicate");
            await SendAsync("duplicate key", "PUT", "/v1/secrets/app/db", admin, $$$"""{"data":{"password":"{{{c}}}","password":"{{{c}}}2"}}""", 400);
            c = Canary("data-string");
            await SendAsync("data not object", "PUT", "/v1/secrets/app/db", admin, Json(new { data = c }), 400);
            c = Canary("cas-string");
            await SendAsync("cas wrong type", "PUT", "/v1/secrets/app/db", admin, $$$"""{"data":{"p":"{{{c}}}"},"cas":"{{{c}}}"}""", 400);
            c = Canary("cas-mismatch");
            await SendAsync("cas mismatch", "PUT", "/v1/secrets/app/db", admin, Json(new { data = new { password = c }, cas = 0 }), 409);
            c = Canary("over-size");
            await SendAsync("value too large", "PUT", "/v1/secrets/app/db", admin, Json(new { data = new { blob = c + RandomText(65 * 1024) + c } }), 413);
            c = Canary("reserved");
            await SendAsync("reserved path", "PUT", "/v1/secrets/app/destroy", admin, Json(new { data = new { p = c } }), 400);
            c = Canary("invalid-path");
            await SendAsync("invalid path", "PUT", "/v1/secrets/app//x", admin, Json(new { data = new { p = c } }), 400);
            c = Canary("encoded-slash");
            await SendAsync("encoded slash", "PUT", "/v1/secrets/app%2Fx", admin, Json(new { data = new { p = c } }), 400);
            c = Canary("root");
            await SendAsync("root writes", "PUT", "/v1/secrets/app/db", Root, Json(new { data = new { p = c } }), 403);
            c = Canary("orchestrator");
            await SendAsync("orchestrator writes", "PUT", "/v1/secrets/app/db", orchestrator, Json(new { data = new { p = c } }), 403);
            c = Canary("no-token");
            await SendAsync("no token", "PUT", "/v1/secrets/app/db", null, Json(new { data = new { p = c } }), 401);
            c = Canary("forged-token");
            var forged = "kwa_" + RandomText(43);
            _tokens.Add(forged);
            await SendAsync("forged token", "PUT", "/v1/secrets/app/db", forged, Json(new { data = new { p = c } }), 401);
            c = Canary("query-version");
            await SendAsync("bad version", "GET", "/v1/secrets/app/db?version=" + c, admin, null, 400);
            c = Canary("versions-body");
            await SendAsync("bad versions", "POST", "/v1/secrets/app/db/undelete", admin, $$$"""{"versions":["{{{c}}}"]}""", 400);
            c = Canary("metadata-unknown");
            await SendAsync("metadata unknown field", "PUT", "/v1/secret-metadata/app/db", admin, $$$"""{"max_versions":5,"secret":"{{{c}}}"}""", 400);
            c = Canary("ttl");
            await SendAsync("bad ttl", "POST", "/v1/tenants/acme/tokens", Root, Json(new { kind = "admin", ttl = c }), 400);
            c = Canary("kind");
            await SendAsync("bad kind", "POST", "/v1/tenants/acme/tokens", Root, Json(new { kind = c, ttl = "1h" }), 400);
            c = Canary("tenant-unknown");
            await SendAsync("tenant unknown field", "POST", "/v1/tenants", Root, $$$"""{"id":"initech","secret":"{{{c}}}"}""", 400);
            c = Canary("role-max-ttl");
            await SendAsync("role bad max_ttl", "PUT", "/v1/roles/reader", admin, Json(new { rules = Array.Empty<object>(), max_ttl = c }), 400);
            c = Canary("generate-root");
            await SendAsync("generate-root bad share", "POST", "/v1/sys/generate-root", null, Json(new { keys = new[] { c } }), 400);

            // Every route, legitimately.
            await SendAsync("read current", "GET", "/v1/secrets/app/db", admin, expect: 200, read: true);
            await SendAsync("read v1", "GET", "/v1/secrets/app/db?version=1", admin, expect: 200, read: true);
            await SendAsync("read nested", "GET", "/v1/secrets/app/nested", admin, expect: 200, read: true);
            await SendAsync("read keyed", "GET", "/v1/secrets/app/keyed", admin, expect: 200, read: true);
            await SendAsync("read big", "GET", "/v1/secrets/app/big", admin, expect: 200, read: true);
            await SendAsync("read missing version", "GET", "/v1/secrets/app/db?version=3", admin, expect: 404);
            await SendAsync("read by other tenant", "GET", "/v1/secrets/app/db", globex, expect: 404);
            await SendAsync("read by orchestrator", "GET", "/v1/secrets/app/db", orchestrator, expect: 403);
            await SendAsync("read by root", "GET", "/v1/secrets/app/db", Root, expect: 403);
            await SendAsync("list", "GET", "/v1/secrets?prefix=app", admin, expect: 200);
            await SendAsync("list all", "GET", "/v1/secrets", admin, expect: 200);
            await SendAsync("metadata", "GET", "/v1/secret-metadata/app/db", admin, expect: 200);
            await SendAsync("metadata write", "PUT", "/v1/secret-metadata/app/db", admin, Json(new { max_versions = 5, custom_metadata = new { team = "payments" } }), 204);
            await SendAsync("delete latest", "DELETE", "/v1/secrets/app/db", admin, expect: 204);
            await SendAsync("read deleted", "GET", "/v1/secrets/app/db", admin, expect: 404);
            await SendAsync("read deleted version", "GET", "/v1/secrets/app/db?version=2", admin, expect: 404);
            await SendAsync("undelete", "POST", "/v1/secrets/app/db/undelete", admin, Json(new { versions = new[] { 2 } }), 204);
            await SendAsync("read undeleted", "GET", "/v1/secrets/app/db", admin, expect: 200, read: true);
            await SendAsync("destroy", "POST", "/v1/secrets/app/nested/destroy", admin, Json(new { versions = new[] { 1 } }), 204);
            await SendAsync("read destroyed", "GET", "/v1/secrets/app/nested", admin, expect: 404);
            await SendAsync("read destroyed version", "GET", "/v1/secrets/app/nested?version=1", admin, expect: 404);
            await SendAsync("metadata destroyed", "GET", "/v1/secret-metadata/app/nested", admin, expect: 200);
            await SendAsync("metadata delete", "DELETE", "/v1/secret-metadata/app/keyed", admin, expect: 204);
            await SendAsync("read metadata-deleted", "GET", "/v1/secrets/app/keyed", admin, expect: 404);
            await SendAsync("undelete gone", "POST", "/v1/secrets/app/keyed/undelete", admin, Json(new { versions = new[] { 1 } }), 404);
            await SendAsync("role write", "PUT", "/v1/roles/reader", admin, Json(new { rules = new[] { new { path = "app/*", capabilities = new[] { "read", "list" } } }, max_ttl = "1h" }), 200);
            await SendAsync("role read", "GET", "/v1/roles/reader", admin, expect: 200);
            await SendAsync("role list", "GET", "/v1/roles", admin, expect: 200);
            await SendAsync("role delete", "DELETE", "/v1/roles/reader", admin, expect: 204);
            await SendAsync("role read gone", "GET", "/v1/roles/reader", admin, expect: 404);
            await SendAsync("audit", "GET", "/v1/audit?limit=1000", admin, expect: 200);
            await SendAsync("audit filtered", "GET", "/v1/audit?path=app/db", admin, expect: 200);
            await SendAsync("audit by orchestrator", "GET", "/v1/audit", orchestrator, expect: 403);
            await SendAsync("sys audit", "GET", "/v1/sys/audit?limit=1000", Root, expect: 200);
            await SendAsync("sys audit verify", "GET", "/v1/sys/audit/verify", Root, expect: 200);
            await SendAsync("metrics", "GET", "/v1/sys/metrics", Root, expect: 200);
            await SendAsync("health", "GET", "/v1/sys/health", null, expect: 200, audited: false);
            await SendAsync("query token", "GET", "/v1/secrets/app/db?token=" + admin, null, expect: 400);
            await SendAsync("query token with header", "GET", "/v1/secrets/app/db?access_token=" + orchestrator, admin, expect: 400);

            // Tenant operations, key rotation and rewrap: old versions stay readable, new ones use the new key.
            await SendAsync("tenant create", "POST", "/v1/tenants", Root, Json(new { id = "initech" }), 201);
            await SendAsync("tenant list", "GET", "/v1/tenants", Root, expect: 200);
            await SendAsync("tenant read", "GET", "/v1/tenants/acme", Root, expect: 200);
            await MintAsync("initech", "orchestrator");
            await SendAsync("rotate key", "POST", "/v1/tenants/acme/rotate-key", Root, expect: 200);
            var rotated = Canary("after-rotation", stored: true);
            await SendAsync("write after rotation", "PUT", "/v1/secrets/app/rotated", admin, Json(new { data = new { p = rotated } }), 200);
            var job = await SendAsync("rewrap", "POST", "/v1/tenants/acme/rewrap", Root, expect: 202);
            var jobId = job.Json().GetProperty("job_id").GetString();
            await WaitForRewrapAsync(jobId!);
            await SendAsync("read v1 after rewrap", "GET", "/v1/secrets/app/db?version=1", admin, expect: 200, read: true);
            await SendAsync("read big after rewrap", "GET", "/v1/secrets/app/big", admin, expect: 200, read: true);
            await SendAsync("read rotated", "GET", "/v1/secrets/app/rotated", admin, expect: 200, read: true);
            await SendAsync("tenant delete", "DELETE", "/v1/tenants/initech", Root, expect: 204);

            // Seal: everything but health and unseal is 503; a sealed server cannot audit (exempt); a wrong key is refused.
            await SendAsync("seal", "POST", "/v1/sys/seal", Root, expect: 204);
            c = Canary("while-sealed");
            await SendAsync("write while sealed", "PUT", "/v1/secrets/app/db", admin, Json(new { data = new { p = c } }), 503, audited: false);
            await SendAsync("read while sealed", "GET", "/v1/secrets/app/db", admin, expect: 503, audited: false);
            await SendAsync("health while sealed", "GET", "/v1/sys/health", null, expect: 503, audited: false);
            c = Canary("unseal-key");
            await SendAsync("unseal wrong key", "POST", "/v1/sys/unseal", null, Json(new { key = c }), 400, audited: false);
            var unseal = await SendAsync("unseal", "POST", "/v1/sys/unseal", null, Json(new { key = Operator.DevUnsealKeys(_host)[0] }), 200);
            Assert.False(unseal.Json().GetProperty("sealed").GetBoolean());
            await SendAsync("read after unseal", "GET", "/v1/secrets/app/db", admin, expect: 200, read: true);
        }

        private async Task<string> MintAsync(string tenant, string kind)
        {
            var response = await SendAsync($"mint {kind} for {tenant}", "POST", $"/v1/tenants/{tenant}/tokens", KeywardTestHost.RootToken,
                Json(new { kind, ttl = "1h", display_name = kind + " of " + tenant }), 200);
            var token = response.Json().GetProperty("token").GetString()!;
            _tokens.Add(token);
            return token;
        }

        private async Task WaitForRewrapAsync(string jobId)
        {
            for (var attempt = 0; attempt < 200; attempt++)
            {
                var job = await SendAsync("rewrap progress", "GET", $"/v1/tenants/acme/rewrap/{jobId}", KeywardTestHost.RootToken, expect: 200);
                var state = job.Json().GetProperty("state").GetString();
                if (state is not ("running" or "pending"))
                {
                    Assert.Equal("completed", state);
                    Assert.Equal(0, job.Json().GetProperty("failed").GetInt64());
                    return;
                }

                await Task.Delay(25);
            }

            Assert.Fail(string.Create(CultureInfo.InvariantCulture, $"rewrap {jobId} did not finish"));
        }

        private static string RandomText(int length)
        {
            const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            var text = new StringBuilder(length);
            var bytes = RandomNumberGenerator.GetBytes(length);
            foreach (var b in bytes)
            {
                text.Append(Alphabet[b % Alphabet.Length]);
            }

            return text.ToString();
        }
    }
}
