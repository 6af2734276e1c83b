using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keyward.Core.Audit;
using Keyward.Core.Errors;
using Keyward.Crypto.Keys;

namespace Keyward.Core.Tests.Audit;

public sealed class AuditChainTests : IDisposable
{
    private static readonly DateTimeOffset Time = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero).AddTicks(1234567);

    private readonly SecretKey _key = SecretKey.Import(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());

    public void Dispose() => _key.Dispose();

    [Fact]
    public void Encode_FullDraft_IsThePinnedCanonicalJson()
    {
        var body = AuditChain.Encode(42, Time, Draft());

        Assert.Equal(
            """{"seq":42,"time":"2026-01-02T03:04:05.1234567Z","tenant":"acme","actor":{"kind":"agent","agent_id":"agent-1","run_id":"run-1","role":"reader","accessor":"acc123","chain":["p1","p2"],"token_hmac":null},"operation":"secret.read","path":"app/db","version":3,"outcome":"ok","status":200,"code":null,"anomaly":null,"request_id":"req-1","details":{"a":"1","b":"2"}}""",
            Encoding.UTF8.GetString(body));
    }

    [Fact]
    public void Encode_MinimalDraft_WritesEveryFieldInFixedOrderWithNulls()
    {
        var draft = new AuditDraft("r", "sys.health");

        var body = AuditChain.Encode(1, Time, draft);

        using var document = JsonDocument.Parse(body);
        Assert.Equal(
            ["seq", "time", "tenant", "actor", "operation", "path", "version", "outcome", "status", "code", "anomaly", "request_id", "details"],
            document.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal(
            ["kind", "agent_id", "run_id", "role", "accessor", "chain", "token_hmac"],
            document.RootElement.GetProperty("actor").EnumerateObject().Select(p => p.Name));
        Assert.Equal("anonymous", document.RootElement.GetProperty("actor").GetProperty("kind").GetString());
        Assert.Equal(JsonValueKind.Null, document.RootElement.GetProperty("tenant").ValueKind);
        Assert.Equal(JsonValueKind.Null, document.RootElement.GetProperty("details").ValueKind);
        Assert.Equal(JsonValueKind.Null, document.RootElement.GetProperty("actor").GetProperty("chain").ValueKind);
    }

    [Fact]
    public void Encode_SameDraftTwice_GivesSameBytes()
    {
        Assert.Equal(AuditChain.Encode(7, Time, Draft()), AuditChain.Encode(7, Time, Draft()));
    }

    [Fact]
    public void Encode_DetailsInsertedInAnyOrder_GiveSameBytes()
    {
        var a = Draft();
        a.Details = null;
        a.AddDetail("z", "1");
        a.AddDetail("a", "2");
        a.AddDetail("m", "3");
        var b = Draft();
        b.Details = null;
        b.AddDetail("m", "3");
        b.AddDetail("z", "1");
        b.AddDetail("a", "2");

        Assert.Equal(AuditChain.Encode(1, Time, a), AuditChain.Encode(1, Time, b));
    }

    public static TheoryData<string> Mutations => new(MutationTable.Keys);

    private static readonly Dictionary<string, Action<AuditDraft>> MutationTable = new()
    {
        ["tenant"] = d => d.TenantId = "acme2",
        ["tenant null"] = d => d.TenantId = null,
        ["actor.kind"] = d => d.Actor = d.Actor with { Kind = "admin" },
        ["actor.agent_id"] = d => d.Actor = d.Actor with { AgentId = "agent-2" },
        ["actor.run_id"] = d => d.Actor = d.Actor with { RunId = "run-2" },
        ["actor.role"] = d => d.Actor = d.Actor with { Role = "writer" },
        ["actor.accessor"] = d => d.Actor = d.Actor with { Accessor = "acc124" },
        ["actor.chain"] = d => d.Actor = d.Actor with { Chain = ["p1"] },
        ["actor.chain order"] = d => d.Actor = d.Actor with { Chain = ["p2", "p1"] },
        ["actor.token_hmac"] = d => d.Actor = d.Actor with { TokenHmac = "00" },
        ["operation"] = d => d.Operation = "secret.write",
        ["path"] = d => d.Path = "app/db2",
        ["path empty"] = d => d.Path = "",
        ["version"] = d => d.Version = 4,
        ["version null"] = d => d.Version = null,
        ["outcome/status/code"] = d => d.Failed(KeywardErrors.PermissionDenied("read", "app/db")),
        ["status"] = d =>
        {
            d.SuccessStatus = 204;
            d.Succeeded();
        },
        ["anomaly"] = d => d.Anomaly = "out_of_scope",
        ["details value"] = d => d.AddDetail("a", "9"),
        ["details key"] = d => d.AddDetail("c", "3"),
        ["details none"] = d => d.Details = null,
    };

    [Theory]
    [MemberData(nameof(Mutations))]
    public void Hash_AnyFieldChanged_Changes(string field)
    {
        var original = AuditChain.Encode(42, Time, Draft());
        var draft = Draft();
        MutationTable[field](draft);

        var changed = AuditChain.Encode(42, Time, draft);

        Assert.NotEqual(original, changed);
        Assert.NotEqual(AuditChain.Hash(_key, new byte[32], original), AuditChain.Hash(_key, new byte[32], changed));
    }

    [Fact]
    public void Hash_SeqOrTimeChanged_Changes()
    {
        var original = AuditChain.Encode(42, Time, Draft());

        Assert.NotEqual(original, AuditChain.Encode(43, Time, Draft()));
        Assert.NotEqual(original, AuditChain.Encode(42, Time.AddTicks(1), Draft()));
    }

    [Fact]
    public void Hash_IsHmacSha256OfPrevHashThenBody()
    {
        var body = AuditChain.Encode(1, Time, Draft());
        var previous = Enumerable.Repeat((byte)0xEE, 32).ToArray();

        var hash = AuditChain.Hash(_key, previous, body);

        Assert.Equal(HMACSHA256.HashData(_key.Bytes, [.. previous, .. body]), hash);
    }

    [Fact]
    public void Hash_PreviousHashOrKeyChanged_Changes()
    {
        var body = AuditChain.Encode(1, Time, Draft());
        var previous = new byte[32];
        var otherPrevious = new byte[32];
        otherPrevious[31] = 1;
        using var otherKey = SecretKey.Generate();

        var hash = AuditChain.Hash(_key, previous, body);

        Assert.NotEqual(hash, AuditChain.Hash(_key, otherPrevious, body));
        Assert.NotEqual(hash, AuditChain.Hash(otherKey, previous, body));
        Assert.NotEqual(hash, SHA256.HashData([.. previous, .. body]));
    }

    [Fact]
    public void CheckpointMac_MatchesIndependentLayout()
    {
        var hash = Enumerable.Range(100, 32).Select(i => (byte)i).ToArray();
        var message = new byte[10 + 8 + 32 + 8];
        Encoding.ASCII.GetBytes("checkpoint").CopyTo(message, 0);
        BinaryPrimitives.WriteInt64BigEndian(message.AsSpan(10), 1000);
        hash.CopyTo(message, 18);
        BinaryPrimitives.WriteInt64BigEndian(message.AsSpan(50), Time.UtcTicks);

        var mac = AuditChain.CheckpointMac(_key, 1000, hash, Time);

        Assert.Equal(HMACSHA256.HashData(_key.Bytes, message), mac);
    }

    [Fact]
    public void CheckpointMac_AnyInputChanged_Changes()
    {
        var hash = new byte[32];
        var otherHash = new byte[32];
        otherHash[0] = 1;
        using var otherKey = SecretKey.Generate();
        var mac = AuditChain.CheckpointMac(_key, 1000, hash, Time);

        Assert.Equal(mac, AuditChain.CheckpointMac(_key, 1000, hash, Time));
        Assert.NotEqual(mac, AuditChain.CheckpointMac(_key, 1001, hash, Time));
        Assert.NotEqual(mac, AuditChain.CheckpointMac(_key, 1000, otherHash, Time));
        Assert.NotEqual(mac, AuditChain.CheckpointMac(_key, 1000, hash, Time.AddTicks(1)));
        Assert.NotEqual(mac, AuditChain.CheckpointMac(otherKey, 1000, hash, Time));
    }

    [Fact]
    public void IdentifierHmac_IsKeyedTruncatedHexAndNeverTheIdentifier()
    {
        const string Token = "kwa_thisIsATokenThatMustNeverBeStored000000000";
        using var otherKey = SecretKey.Generate();

        var mac = AuditChain.IdentifierHmac(_key, Token);

        Assert.Matches("^[0-9a-f]{32}$", mac);
        Assert.Equal(Convert.ToHexStringLower(HMACSHA256.HashData(_key.Bytes, Encoding.UTF8.GetBytes(Token))[..16]), mac);
        Assert.Equal(mac, AuditChain.IdentifierHmac(_key, Token));
        Assert.NotEqual(mac, AuditChain.IdentifierHmac(otherKey, Token));
        Assert.NotEqual(mac, AuditChain.IdentifierHmac(_key, Token + "1"));
        Assert.DoesNotContain("kwa_", mac, StringComparison.Ordinal);
    }

    private static AuditDraft Draft()
    {
        var draft = new AuditDraft("req-1", "secret.read")
        {
            TenantId = "acme",
            Actor = new AuditActor("agent", "agent-1", "run-1", "reader", "acc123", ["p1", "p2"]),
            Path = "app/db",
            Version = 3,
        };
        draft.AddDetail("b", "2");
        draft.AddDetail("a", "1");
        draft.Succeeded();
        return draft;
    }
}

public sealed class AuditDraftTests
{
    [Fact]
    public void Failed_Denial_IsDeniedWithStatusAndCode()
    {
        var draft = new AuditDraft("r", "op");

        draft.Failed(KeywardErrors.PermissionDenied("read", "a"));

        Assert.Equal(("denied", 403, "permission_denied"), (draft.Outcome, draft.Status, draft.Code));
    }

    [Theory]
    [InlineData(401)]
    [InlineData(423)]
    public void Failed_OtherDenials_AreDenied(int status)
    {
        var draft = new AuditDraft("r", "op");

        // The error says it is a denial (RefusalKind), not its status: a bare exception with that status is not one.
        draft.Failed(status == 401 ? KeywardErrors.TokenRevoked() : KeywardErrors.TenantLocked("t"));
        var bare = new AuditDraft("r", "op");
        bare.Failed(new KeywardException(status, "x", "X", "x"));

        Assert.Equal("denied", draft.Outcome);
        Assert.Equal(status, draft.Status);
        Assert.Equal("error", bare.Outcome);
    }

    [Fact]
    public void Failed_BadInputOrConflict_IsError()
    {
        var draft = new AuditDraft("r", "op");

        draft.Failed(KeywardErrors.CasMismatch("a", 1, 2));

        Assert.Equal(("error", 409, "cas_mismatch"), (draft.Outcome, draft.Status, draft.Code));
    }

    [Fact]
    public void Failed_UnexpectedException_IsInternalError()
    {
        var draft = new AuditDraft("r", "op");

        draft.Failed(new InvalidOperationException("secret value 42"));

        Assert.Equal(("error", 500, "internal_error"), (draft.Outcome, draft.Status, draft.Code));
    }

    [Fact]
    public void Succeeded_AfterFailure_UsesSuccessStatusAndClearsCode()
    {
        var draft = new AuditDraft("r", "op") { SuccessStatus = 201 };
        draft.Failed(KeywardErrors.Internal());

        draft.Succeeded();

        Assert.Equal(("ok", 201, (string?)null), (draft.Outcome, draft.Status, draft.Code));
    }
}
