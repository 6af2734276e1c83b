using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keyward.Core.Validation;

namespace Keyward.Core.Auth.Jwt;

/// <summary>
/// The run a JWT session belongs to. Every session belongs to one: run budgets and run completion apply to JWT
/// workloads like to any agent, and children spawned from the session inherit it. The matching binding's
/// <see cref="JwtBinding.RunIdClaim"/> names it when given (a string that is a valid run id, or a non-negative integer);
/// otherwise it is derived from the registration (its node id, stable across replacements) and the JWT's <c>sub</c>:
/// <c>jwt-</c> and the first 24 hex digits of SHA-256(node id, newline, sub) — the same on every login, so logging in
/// again never resets a budget, and the same for every role and binding of that subject, so a second binding is no
/// second budget. The node id is random, so the run id reveals nothing of the subject.
/// </summary>
public static class JwtRuns
{
    /// <summary>The prefix of derived run ids.</summary>
    public const string DerivedPrefix = "jwt-";

    /// <summary>The derived run of <paramref name="subject"/> (null: no <c>sub</c>, one run for all such logins) under a registration.</summary>
    public static string Derived(string issuerNode, string? subject)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(issuerNode + "\n" + (subject ?? "")));
        return DerivedPrefix + Convert.ToHexStringLower(hash)[..24];
    }

    /// <summary>The run named by <paramref name="claim"/> in <paramref name="payload"/>, or null when it is missing or not a run id.</summary>
    public static string? FromClaim(JsonElement payload, string claim)
    {
        if (!payload.TryGetProperty(claim, out var value))
        {
            return null;
        }

        var text = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number when value.TryGetInt64(out var number) && number >= 0 => number.ToString(CultureInfo.InvariantCulture),
            _ => null,
        };
        return Names.IsName(text) ? text : null;
    }
}
