using System.Text.Json;
using Keyward.Client.Models;

namespace Keyward.Client.Tests;

/// <summary>
/// One instance of every SDK type that carries a value (a secret's data, a password, a token, a key share), with the
/// value it carries: the serialization, debugger and logging tests run over all of them.
/// </summary>
internal static class ValueCarriers
{
    public const string SecretField = "carrier-secret-field-71";
    public const string Password = "carrier-pg-password-72";
    public const string KeyShare = "carrier-unseal-share-73";

    // A valid kws_ session token (43 random, accessor, 43-char base64url tag): KeywardToken can parse and attenuate it.
    public const string SessionToken = "kws_carrierSessionRandom0123456789abcdefghijklm.0123456789abcdef0123456789abcdef.Q2FycmllclRhZzAxMjM0NTY3ODlhYmNkZWZnaGlqa2w";

    private static readonly DateTimeOffset At = new(2030, 1, 2, 3, 4, 5, TimeSpan.Zero);

    /// <summary>(name, instance, the value it must never show).</summary>
    public static TheoryData<string, object, string> All() => new()
    {
        { nameof(KeywardSecret), Secret(), SecretField },
        { nameof(PostgresCredential), new PostgresCredential("v-login-1", Password, "lease-1", TimeSpan.FromHours(1), true), Password },
        { nameof(PostgresConnectionSpec), new PostgresConnectionSpec("postgres://db:5432/app", "keyward", Password), Password },
        { nameof(WrapInfo), new WrapInfo("kww_carrier-wrap-token-74", "wacc-1", TimeSpan.FromMinutes(1), At, "app/db"), "kww_carrier-wrap-token-74" },
        { nameof(IssuedBootstrapToken), new IssuedBootstrapToken("kwb_carrier-bootstrap-75", "bacc-1", At), "kwb_carrier-bootstrap-75" },
        {
            nameof(AgentSessionToken),
            new AgentSessionToken("kws_carrier-session-76", "sacc-1", "t-1", "agent-1", "run-1", "worker", At, true),
            "kws_carrier-session-76"
        },
        { nameof(JwtSession), new JwtSession("kws_carrier-jwt-session-77", "jacc-1", "t-1", null, null, "worker", At, false), "kws_carrier-jwt-session-77" },
        { nameof(IssuedToken), new IssuedToken("kwa_carrier-admin-78", "iacc-1", "admin", "t-1", null), "kwa_carrier-admin-78" },
        { nameof(InitializeResult) + ".Keys", new InitializeResult([KeyShare, "carrier-unseal-share-74"], "kwr_carrier-root-79"), KeyShare },
        { nameof(InitializeResult) + ".RootToken", new InitializeResult([KeyShare], "kwr_carrier-root-79"), "kwr_carrier-root-79" },
        { nameof(RootTokenResult), new RootTokenResult("kwr_carrier-root-80"), "kwr_carrier-root-80" },
        { nameof(KeywardToken), KeywardToken.Parse(SessionToken), SessionToken },
        { nameof(KeywardClientOptions), new KeywardClientOptions { Address = new Uri("https://keyward.example"), Token = "kwa_carrier-options-81" }, "kwa_carrier-options-81" },
    };

    public static KeywardSecret Secret() =>
        new("app/db", 3, JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["password"] = SecretField, ["user"] = "svc" }), At) { Stage = "current", Epoch = 4 };
}
