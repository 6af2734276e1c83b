using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Policies;
using Keyward.Core.Tokens;

namespace Keyward.Storage.Conformance;

public abstract partial class StoreConformanceTests
{
    private static TokenRecord NewToken(TokenKind kind, string? tenantUid, string accessor) => new(
        accessor,
        SHA256.HashData(Encoding.UTF8.GetBytes("token-" + accessor)),
        kind,
        tenantUid,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        T0,
        T0.AddHours(1),
        null);

    [Fact]
    public async Task Tokens_DerivedRevocations_InsertOncePerSession_ListBySession_SweptOnlyOnceTheSessionIsGone()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var first = new DerivedRevocation(tenant.Uid, "session-a", "0123456789abcdef0123456789abcdef", T0, T0.AddHours(1));

        var inserted = await WriteAsync(store, s => s.Tokens.InsertDerivedRevocationAsync(first));
        var again = await WriteAsync(store, s => s.Tokens.InsertDerivedRevocationAsync(first with { RevokedAt = T0.AddMinutes(1) }));
        await WriteAsync(store, s => s.Tokens.InsertDerivedRevocationAsync(first with { DerivedId = "ffffffffffffffffffffffffffffffff" }));
        await WriteAsync(store, s => s.Tokens.InsertDerivedRevocationAsync(first with { SessionAccessor = "session-b", ExpiresAt = T0.AddHours(3) }));

        Assert.True(inserted);
        Assert.False(again);
        Assert.Equal(["0123456789abcdef0123456789abcdef", "ffffffffffffffffffffffffffffffff"],
            (await ReadAsync(store, s => s.Tokens.ListDerivedRevocationsAsync("session-a"))).Order(StringComparer.Ordinal));
        Assert.Equal(["0123456789abcdef0123456789abcdef"], await ReadAsync(store, s => s.Tokens.ListDerivedRevocationsAsync("session-b")));
        Assert.Empty(await ReadAsync(store, s => s.Tokens.ListDerivedRevocationsAsync("session-c")));

        // Swept once their session's latest expiry has passed, and only those
        Assert.Equal(0, await WriteAsync(store, s => s.Tokens.SweepDerivedRevocationsAsync(T0.AddMinutes(59), 100)));
        Assert.Equal(2, await WriteAsync(store, s => s.Tokens.SweepDerivedRevocationsAsync(T0.AddHours(2), 100)));
        Assert.Empty(await ReadAsync(store, s => s.Tokens.ListDerivedRevocationsAsync("session-a")));
        Assert.Single(await ReadAsync(store, s => s.Tokens.ListDerivedRevocationsAsync("session-b")));
    }

    [Fact]
    public async Task Tokens_Insert_RoundTripsEveryFieldByHashAndAccessor()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var token = new TokenRecord(
            "acc-1",
            SHA256.HashData("kws_x"u8),
            TokenKind.Agent,
            tenant.Uid,
            "parent-acc",
            "issuer-acc",
            "build agent",
            "reader",
            "agent-1",
            "run-1",
            [new RuleSpec("app/**", ["read", "list"]), new RuleSpec("app/db", ["use"])],
            T0,
            T0.AddMinutes(15),
            null);

        await WriteAsync(store, s => s.Tokens.InsertAsync(token));

        var byHash = await ReadAsync(store, s => s.Tokens.GetByHashAsync(token.Hash));
        var byAccessor = await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("acc-1"));
        foreach (var stored in new[] { byHash, byAccessor })
        {
            Assert.NotNull(stored);
            Assert.Equal(token.Hash, stored.Hash);
            Assert.Equal(
                (token.Accessor, token.Kind, token.TenantUid, token.ParentAccessor, token.IssuedBy, token.DisplayName, token.Role, token.AgentId, token.RunId),
                (stored.Accessor, stored.Kind, stored.TenantUid, stored.ParentAccessor, stored.IssuedBy, stored.DisplayName, stored.Role, stored.AgentId, stored.RunId));
            Assert.Equal((token.CreatedAt, token.ExpiresAt, token.RevokedAt), (stored.CreatedAt, stored.ExpiresAt, stored.RevokedAt));
            Assert.NotNull(stored.Rules);
            Assert.Equal(2, stored.Rules.Count);
            Assert.Equal("app/**", stored.Rules[0].Path);
            Assert.Equal(["read", "list"], stored.Rules[0].Capabilities);
            Assert.Equal("app/db", stored.Rules[1].Path);
            Assert.Equal(["use"], stored.Rules[1].Capabilities);
        }
    }

    [Fact]
    public async Task Tokens_RootTokenWithNulls_RoundTrips()
    {
        var store = await NewStoreAsync();
        var token = NewToken(TokenKind.Root, null, "root-acc") with { ExpiresAt = null };

        await WriteAsync(store, s => s.Tokens.InsertAsync(token));

        var stored = await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("root-acc"));
        Assert.NotNull(stored);
        Assert.Equal(TokenKind.Root, stored.Kind);
        Assert.Null(stored.TenantUid);
        Assert.Null(stored.Rules);
        Assert.Null(stored.ExpiresAt);
        Assert.Null(stored.RevokedAt);
    }

    [Theory]
    [InlineData(TokenKind.Root)]
    [InlineData(TokenKind.Admin)]
    [InlineData(TokenKind.Orchestrator)]
    [InlineData(TokenKind.Agent)]
    [InlineData(TokenKind.Bootstrap)]
    [InlineData(TokenKind.Derived)]
    [InlineData(TokenKind.Wrapping)]
    public async Task Tokens_EveryKind_RoundTrips(TokenKind kind)
    {
        var store = await NewStoreAsync();
        await WriteAsync(store, s => s.Tokens.InsertAsync(NewToken(kind, null, "acc")));

        Assert.Equal(kind, (await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("acc")))!.Kind);
    }

    [Fact]
    public async Task Tokens_Unknown_IsNull()
    {
        var store = await NewStoreAsync();
        await WriteAsync(store, s => s.Tokens.InsertAsync(NewToken(TokenKind.Admin, null, "acc")));

        Assert.Null(await ReadAsync(store, s => s.Tokens.GetByHashAsync(new byte[32])));
        Assert.Null(await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("nope")));
    }

    [Fact]
    public async Task Tokens_InsertDuplicateHashOrAccessor_IsRefused()
    {
        var store = await NewStoreAsync();
        var token = NewToken(TokenKind.Admin, null, "acc");
        await WriteAsync(store, s => s.Tokens.InsertAsync(token));

        Assert.True(await IsRefusedAsync(store, s => s.Tokens.InsertAsync(token with { Accessor = "acc-2" })), "two tokens with one hash");
        Assert.True(await IsRefusedAsync(store, s => s.Tokens.InsertAsync(token with { Hash = new byte[32] })), "two tokens with one accessor");
        Assert.Null(await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("acc-2")));
    }

    [Fact]
    public async Task Tokens_Revoke_IsIdempotent()
    {
        var store = await NewStoreAsync();
        await WriteAsync(store, s => s.Tokens.InsertAsync(NewToken(TokenKind.Admin, null, "acc")));

        Assert.True(await WriteAsync(store, s => s.Tokens.RevokeAsync("acc", T0.AddMinutes(5))));
        Assert.False(await WriteAsync(store, s => s.Tokens.RevokeAsync("acc", T0.AddMinutes(9))));
        Assert.False(await WriteAsync(store, s => s.Tokens.RevokeAsync("unknown", T0)));

        Assert.Equal(T0.AddMinutes(5), (await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("acc")))!.RevokedAt);
    }

    [Fact]
    public async Task Tokens_Delete_RemovesOnlyThatRecordAndFreesItsHash()
    {
        var store = await NewStoreAsync();
        var kept = NewToken(TokenKind.Root, null, "kept");
        var gone = NewToken(TokenKind.Root, null, "gone");
        await WriteAsync(store, s => s.Tokens.InsertAsync(kept));
        await WriteAsync(store, s => s.Tokens.InsertAsync(gone));

        Assert.True(await WriteAsync(store, s => s.Tokens.DeleteAsync("gone")));
        Assert.False(await WriteAsync(store, s => s.Tokens.DeleteAsync("gone")));

        Assert.Null(await ReadAsync(store, s => s.Tokens.GetByHashAsync(gone.Hash)));
        Assert.NotNull(await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("kept")));
        await WriteAsync(store, s => s.Tokens.InsertAsync(gone with { Accessor = "again" }));
        Assert.Equal("again", (await ReadAsync(store, s => s.Tokens.GetByHashAsync(gone.Hash)))!.Accessor);
    }

    [Fact]
    public async Task Tokens_RevokeTenant_RevokesOnlyThatTenantsLiveTokens()
    {
        var store = await NewStoreAsync();
        var a = await AddTenantAsync(store, "a");
        var b = await AddTenantAsync(store, "b");
        await WriteAsync(store, async s =>
        {
            await s.Tokens.InsertAsync(NewToken(TokenKind.Admin, a.Uid, "a1"));
            await s.Tokens.InsertAsync(NewToken(TokenKind.Agent, a.Uid, "a2"));
            await s.Tokens.InsertAsync(NewToken(TokenKind.Orchestrator, a.Uid, "a3") with { RevokedAt = T0 });
            await s.Tokens.InsertAsync(NewToken(TokenKind.Admin, b.Uid, "b1"));
            await s.Tokens.InsertAsync(NewToken(TokenKind.Root, null, "root"));
        });

        Assert.Equal(2, await WriteAsync(store, s => s.Tokens.RevokeTenantAsync(a.Uid, T0.AddHours(1), "lockdown")));
        Assert.Equal(0, await WriteAsync(store, s => s.Tokens.RevokeTenantAsync(a.Uid, T0.AddHours(2), "lockdown")));

        async Task<DateTimeOffset?> RevokedAtAsync(string accessor) => (await ReadAsync(store, s => s.Tokens.GetByAccessorAsync(accessor)))!.RevokedAt;
        Assert.Equal(T0.AddHours(1), await RevokedAtAsync("a1"));
        Assert.Equal(T0.AddHours(1), await RevokedAtAsync("a2"));
        Assert.Equal(T0, await RevokedAtAsync("a3"));
        Assert.Null(await RevokedAtAsync("b1"));
        Assert.Null(await RevokedAtAsync("root"));
    }

    [Fact]
    public async Task Tokens_RevokeRootTokens_RevokesOnlyLiveRootTokens()
    {
        var store = await NewStoreAsync();
        var a = await AddTenantAsync(store, "a");
        await WriteAsync(store, async s =>
        {
            await s.Tokens.InsertAsync(NewToken(TokenKind.Root, null, "root-1"));
            await s.Tokens.InsertAsync(NewToken(TokenKind.Root, null, "root-2"));
            await s.Tokens.InsertAsync(NewToken(TokenKind.Root, null, "root-old") with { RevokedAt = T0 });
            await s.Tokens.InsertAsync(NewToken(TokenKind.Admin, a.Uid, "admin"));
        });

        Assert.Equal(2, await WriteAsync(store, s => s.Tokens.RevokeRootTokensAsync(T0.AddHours(1))));
        Assert.Equal(0, await WriteAsync(store, s => s.Tokens.RevokeRootTokensAsync(T0.AddHours(2))));

        Assert.Equal(T0.AddHours(1), (await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("root-2")))!.RevokedAt);
        Assert.Equal(T0, (await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("root-old")))!.RevokedAt);
        Assert.Null((await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("admin")))!.RevokedAt);
    }

    [Fact]
    public async Task Roles_Upsert_InsertsThenUpdatesKeepingCreatedAt()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var rules = RuleSet.FromSpecs([new RuleSpec("app/**", ["read"])]);
        var role = new Role(tenant.Uid, "reader", rules, TimeSpan.FromHours(1), ["helper"], T0, T0);

        await WriteAsync(store, s => s.Roles.UpsertAsync(role));
        var stored = await ReadAsync(store, s => s.Roles.GetAsync(tenant.Uid, "reader"));
        Assert.NotNull(stored);
        Assert.Equal((tenant.Uid, "reader", TimeSpan.FromHours(1), T0, T0), (stored.TenantUid, stored.Name, stored.MaxTtl, stored.CreatedAt, stored.UpdatedAt));
        Assert.Equal(["helper"], stored.MaySpawn);
        Assert.Equal("app/**", Assert.Single(stored.Rules.Rules).Path.Text);
        Assert.Equal(Capability.Read, stored.Rules.Rules[0].Capabilities);

        var changed = role with
        {
            Rules = RuleSet.FromSpecs([new RuleSpec("app/db", ["use"]), new RuleSpec("web/*", ["list", "write"])]),
            MaxTtl = TimeSpan.FromMinutes(5),
            MaySpawn = [],
            CreatedAt = T0.AddDays(9),
            UpdatedAt = T0.AddDays(1),
        };
        await WriteAsync(store, s => s.Roles.UpsertAsync(changed));

        stored = await ReadAsync(store, s => s.Roles.GetAsync(tenant.Uid, "reader"));
        Assert.NotNull(stored);
        Assert.Equal((TimeSpan.FromMinutes(5), T0, T0.AddDays(1)), (stored.MaxTtl, stored.CreatedAt, stored.UpdatedAt));
        Assert.Empty(stored.MaySpawn);
        Assert.Equal(["app/db", "web/*"], stored.Rules.Rules.Select(r => r.Path.Text));
        Assert.Equal([Capability.Use, Capability.List | Capability.Write], stored.Rules.Rules.Select(r => r.Capabilities));
        Assert.Single(await ReadAsync(store, s => s.Roles.ListAsync(tenant.Uid)));
    }

    [Fact]
    public async Task Roles_ListGetDelete_ArePerTenant()
    {
        var store = await NewStoreAsync();
        var a = await AddTenantAsync(store, "a");
        var b = await AddTenantAsync(store, "b");
        Role Role(string uid, string name) => new(uid, name, RuleSet.Empty, TimeSpan.FromMinutes(1), [], T0, T0);
        await WriteAsync(store, async s =>
        {
            await s.Roles.UpsertAsync(Role(a.Uid, "writer"));
            await s.Roles.UpsertAsync(Role(a.Uid, "reader"));
            await s.Roles.UpsertAsync(Role(b.Uid, "reader"));
        });

        Assert.Equal(["reader", "writer"], (await ReadAsync(store, s => s.Roles.ListAsync(a.Uid))).Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.Null(await ReadAsync(store, s => s.Roles.GetAsync(b.Uid, "writer")));

        Assert.True(await WriteAsync(store, s => s.Roles.DeleteAsync(a.Uid, "reader")));
        Assert.False(await WriteAsync(store, s => s.Roles.DeleteAsync(a.Uid, "reader")));
        Assert.False(await WriteAsync(store, s => s.Roles.DeleteAsync(a.Uid, "unknown")));

        Assert.Null(await ReadAsync(store, s => s.Roles.GetAsync(a.Uid, "reader")));
        Assert.NotNull(await ReadAsync(store, s => s.Roles.GetAsync(b.Uid, "reader")));
        Assert.Empty(await ReadAsync(store, s => s.Roles.ListAsync("unknown")));
    }
}
