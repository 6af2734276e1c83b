using System.Text.Json;
using Keyward.Tests.Common;

namespace Keyward.Tests;

/// <summary>The successful secret writes the audit log records, read page by page (for the crash and node tests).</summary>
internal static class AuditedWrites
{
    public static async Task<HashSet<(string Path, long Version)>> ReadAsync(HttpClient admin)
    {
        var found = new HashSet<(string, long)>();
        long after = 0;
        while (true)
        {
            var page = await Problems.JsonAsync(await admin.GetAsync($"/v1/audit?after={after}&limit=1000"));
            foreach (var record in page.GetProperty("records").EnumerateArray())
            {
                if (record.GetProperty("operation").GetString() == "secret.write" && record.GetProperty("outcome").GetString() == "ok")
                {
                    found.Add((record.GetProperty("path").GetString()!, record.GetProperty("version").GetInt64()));
                }
            }

            if (page.GetProperty("next").ValueKind == JsonValueKind.Null)
            {
                return found;
            }

            after = page.GetProperty("next").GetInt64();
        }
    }
}
