using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Tokens;

namespace Keyward.Storage.Conformance;

/// <summary>The token tree: subtree and run revocation, the run listing, the bootstrap used-mark, renewal and the sweep.</summary>
public abstract partial class StoreConformanceTests
{
    /// <summary>A token of the tree: <paramref name="minute"/> orders creation (parents are created before children).</summary>
    private static TokenRecord TreeToken(
        string tenantUid, string accessor, string? parent, TokenKind kind = TokenKind.Agent, string? runId = null, int minute = 0, DateTimeOffset? expiresAt = null) => new(
        accessor,
        SHA256.HashData(Encoding.UTF8.GetBytes("tree-" + accessor)),
        kind,
        tenantUid,
        parent,
        parent,
        null,
        kind == TokenKind.Agent || kind == TokenKind.Bootstrap ? "worker" : null,
        kind == TokenKind.Agent || kind == TokenKind.Bootstrap ? "agent-" + accessor : null,
        runId,
        null,
        T0.AddMinutes(minute),
        expiresAt ?? T0.AddHours(2),
        null);

    private static async Task InsertAllAsync(Core.Storage.IKeywardStore store, params TokenRecord[] tokens) =>
        await WriteAsync(store, async s =>
        {
            foreach (var token in tokens)
            {
                await s.Tokens.InsertAsync(token);
            }
        });

    private static async Task<TokenRecord> TokenAsync(Core.Storage.IKeywardStore store, string accessor) =>
        (await ReadAsync(store, s => s.Tokens.GetByAccessorAsync(accessor))) ?? throw new Xunit.Sdk.XunitException($"token {accessor} is gone");

    [Fact]
    public async Task TokenTree_NewColumns_RoundTrip()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var token = TreeToken(tenant.Uid, "boot", "orch", TokenKind.Bootstrap, "run-1") with
        {
            SessionTtl = TimeSpan.FromMinutes(30),
            UsedAt = T0.AddSeconds(5),
            UsedBy = "session-acc",
            MaxExpiresAt = T0.AddHours(1),
            RevokedAt = T0.AddSeconds(9),
            RevokedReason = RevocationReasons.BootstrapReplay,
            RetainUntil = T0.AddHours(3),
        };

        await InsertAllAsync(store, token);

        var stored = await TokenAsync(store, "boot");
        Assert.Equal(
            (token.SessionTtl, token.UsedAt, token.UsedBy, token.MaxExpiresAt, token.RevokedAt, token.RevokedReason, token.RetainUntil),
            (stored.SessionTtl, stored.UsedAt, stored.UsedBy, stored.MaxExpiresAt, stored.RevokedAt, stored.RevokedReason, stored.RetainUntil));
        Assert.Equal(("orch", "run-1", TokenKind.Bootstrap), (stored.ParentAccessor, stored.RunId, stored.Kind));
    }

    [Fact]
    public async Task TokenTree_RevokeSubtree_Depth6_RevokesEveryDescendantAndNoSibling()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var other = await AddTenantAsync(store, "globex");
        var u = tenant.Uid;

        // orch ─ d1 ─ d2 ─ d3 ─ d4 ─ d5 ─ d6        (the chain; d2's subtree is revoked)
        //        │    ├─ d3b (sibling of d3, inside) ─ d4b
        //        │    └─ gone (already revoked, inside)
        //        └─ s2 (sibling of d2) ─ s3
        // orch ─ s1 ─ s1c ;  globex: x (same shape of names, other tenant)
        await InsertAllAsync(store,
            TreeToken(u, "orch", null, TokenKind.Orchestrator),
            TreeToken(u, "d1", "orch", minute: 1),
            TreeToken(u, "d2", "d1", minute: 2),
            TreeToken(u, "d3", "d2", minute: 3),
            TreeToken(u, "d4", "d3", minute: 4),
            TreeToken(u, "d5", "d4", minute: 5),
            TreeToken(u, "d6", "d5", minute: 6),
            TreeToken(u, "d3b", "d2", minute: 3),
            TreeToken(u, "d4b", "d3b", minute: 4),
            TreeToken(u, "gone", "d2", minute: 3) with { RevokedAt = T0.AddMinutes(10), RevokedReason = RevocationReasons.RevokedSelf },
            TreeToken(u, "s2", "d1", minute: 2),
            TreeToken(u, "s3", "s2", minute: 3),
            TreeToken(u, "s1", "orch", minute: 1),
            TreeToken(u, "s1c", "s1", minute: 2),
            TreeToken(other.Uid, "x", null, TokenKind.Orchestrator));

        var at = T0.AddMinutes(20);
        var revoked = await WriteAsync(store, s => s.Tokens.RevokeSubtreeAsync("d2", at, RevocationReasons.Anomaly));

        Assert.Equal(7, revoked); // d2 d3 d4 d5 d6 d3b d4b — not the already revoked one
        foreach (var accessor in new[] { "d2", "d3", "d4", "d5", "d6", "d3b", "d4b" })
        {
            var token = await TokenAsync(store, accessor);
            Assert.True(token.RevokedAt == at && token.RevokedReason == RevocationReasons.Anomaly, $"{accessor}: {token.RevokedAt} {token.RevokedReason}");
        }

        var gone = await TokenAsync(store, "gone");
        Assert.Equal((T0.AddMinutes(10), RevocationReasons.RevokedSelf), (gone.RevokedAt, gone.RevokedReason));
        foreach (var accessor in new[] { "orch", "d1", "s2", "s3", "s1", "s1c", "x" })
        {
            Assert.True((await TokenAsync(store, accessor)).RevokedAt is null, $"{accessor} is outside the subtree and must stay live");
        }

        Assert.Equal(0, await WriteAsync(store, s => s.Tokens.RevokeSubtreeAsync("d2", at.AddMinutes(1), RevocationReasons.Revoked)));
        Assert.Equal(at, (await TokenAsync(store, "d6")).RevokedAt);
    }

    [Fact]
    public async Task TokenTree_RevokeSubtree_OfALeafOrUnknown_RevokesOnlyThat()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        await InsertAllAsync(store,
            TreeToken(tenant.Uid, "orch", null, TokenKind.Orchestrator),
            TreeToken(tenant.Uid, "leaf", "orch", minute: 1),
            TreeToken(tenant.Uid, "sibling", "orch", minute: 1));

        Assert.Equal(1, await WriteAsync(store, s => s.Tokens.RevokeSubtreeAsync("leaf", T0.AddMinutes(5), RevocationReasons.Revoked)));
        Assert.Equal(0, await WriteAsync(store, s => s.Tokens.RevokeSubtreeAsync("unknown", T0.AddMinutes(5), RevocationReasons.Revoked)));

        Assert.NotNull((await TokenAsync(store, "leaf")).RevokedAt);
        Assert.Null((await TokenAsync(store, "sibling")).RevokedAt);
        Assert.Null((await TokenAsync(store, "orch")).RevokedAt);
    }

    /// <summary>
    /// Two orchestrators of acme run "r1": o1 → a (r1) → a1 (r1) → a2 (r1), o1 → b (r2), o2 → c (r1) → c1 (r1);
    /// globex has its own "r1" token. A token of another run below a run token (a → z, run r9) belongs to the run's tree.
    /// </summary>
    private static async Task<(string Acme, string Globex)> SeedRunsAsync(Core.Storage.IKeywardStore store)
    {
        var acme = await AddTenantAsync(store, "acme");
        var globex = await AddTenantAsync(store, "globex");
        var u = acme.Uid;
        await InsertAllAsync(store,
            TreeToken(u, "o1", null, TokenKind.Orchestrator),
            TreeToken(u, "o2", null, TokenKind.Orchestrator),
            TreeToken(u, "a", "o1", runId: "r1", minute: 1),
            TreeToken(u, "a1", "a", runId: "r1", minute: 2),
            TreeToken(u, "a2", "a1", runId: "r1", minute: 3),
            TreeToken(u, "z", "a", runId: "r9", minute: 2),
            TreeToken(u, "b", "o1", runId: "r2", minute: 1),
            TreeToken(u, "c", "o2", runId: "r1", minute: 1),
            TreeToken(u, "c1", "c", runId: "r1", minute: 2),
            TreeToken(globex.Uid, "g", null, TokenKind.Agent, runId: "r1", minute: 1));
        return (acme.Uid, globex.Uid);
    }

    [Fact]
    public async Task TokenTree_RevokeRun_WithScope_OnlyTheRunWithinThatSubtree()
    {
        var store = await NewStoreAsync();
        var (acme, _) = await SeedRunsAsync(store);
        var at = T0.AddMinutes(30);

        var revoked = await WriteAsync(store, s => s.Tokens.RevokeRunAsync(acme, "r1", "o1", at, RevocationReasons.RunComplete));

        Assert.Equal(4, revoked); // a a1 a2 z
        foreach (var accessor in new[] { "a", "a1", "a2", "z" })
        {
            var token = await TokenAsync(store, accessor);
            Assert.True(token.RevokedAt == at && token.RevokedReason == RevocationReasons.RunComplete, accessor);
        }

        foreach (var accessor in new[] { "o1", "o2", "b", "c", "c1", "g" })
        {
            Assert.True((await TokenAsync(store, accessor)).RevokedAt is null, $"{accessor} must stay live");
        }

        // A scope below the run's tokens reaches only its own part.
        Assert.Equal(0, await WriteAsync(store, s => s.Tokens.RevokeRunAsync(acme, "r1", "o1", at, RevocationReasons.RunComplete)));
    }

    [Fact]
    public async Task TokenTree_RevokeRun_ScopeInsideTheRun_StopsAtTheScope()
    {
        var store = await NewStoreAsync();
        var (acme, _) = await SeedRunsAsync(store);

        var revoked = await WriteAsync(store, s => s.Tokens.RevokeRunAsync(acme, "r1", "a1", T0.AddMinutes(30), RevocationReasons.RunComplete));

        Assert.Equal(2, revoked); // a1 a2
        Assert.Null((await TokenAsync(store, "a")).RevokedAt);
        Assert.Null((await TokenAsync(store, "z")).RevokedAt);
        Assert.NotNull((await TokenAsync(store, "a2")).RevokedAt);
    }

    [Fact]
    public async Task TokenTree_RevokeRun_WithoutScope_TheWholeTenantsRunOnly()
    {
        var store = await NewStoreAsync();
        var (acme, _) = await SeedRunsAsync(store);

        var revoked = await WriteAsync(store, s => s.Tokens.RevokeRunAsync(acme, "r1", null, T0.AddMinutes(30), RevocationReasons.RunComplete));

        Assert.Equal(6, revoked); // a a1 a2 z c c1
        foreach (var accessor in new[] { "a", "a1", "a2", "z", "c", "c1" })
        {
            Assert.NotNull((await TokenAsync(store, accessor)).RevokedAt);
        }

        foreach (var accessor in new[] { "o1", "o2", "b", "g" })
        {
            Assert.True((await TokenAsync(store, accessor)).RevokedAt is null, $"{accessor} must stay live");
        }

        Assert.Equal(0, await WriteAsync(store, s => s.Tokens.RevokeRunAsync(acme, "unknown-run", null, T0, RevocationReasons.RunComplete)));
    }

    [Fact]
    public async Task TokenTree_ListRun_ParentsBeforeChildren_RevokedIncluded_Scoped()
    {
        var store = await NewStoreAsync();
        var (acme, globex) = await SeedRunsAsync(store);
        await WriteAsync(store, s => s.Tokens.RevokeSubtreeAsync("a2", T0.AddMinutes(9), RevocationReasons.RevokedSelf));

        var all = await ReadAsync(store, s => s.Tokens.ListRunAsync(acme, "r1", null, 100));
        var scoped = await ReadAsync(store, s => s.Tokens.ListRunAsync(acme, "r1", "o1", 100));
        var globexRun = await ReadAsync(store, s => s.Tokens.ListRunAsync(globex, "r1", null, 100));
        var limited = await ReadAsync(store, s => s.Tokens.ListRunAsync(acme, "r1", null, 2));

        Assert.Equal(["a", "a1", "a2", "c", "c1", "z"], all.Select(t => t.Accessor).Order(StringComparer.Ordinal));
        AssertParentsFirst(all);
        Assert.Equal(["a", "a1", "a2", "z"], scoped.Select(t => t.Accessor).Order(StringComparer.Ordinal));
        AssertParentsFirst(scoped);
        Assert.NotNull(all.Single(t => t.Accessor == "a2").RevokedAt);
        Assert.Equal(["g"], globexRun.Select(t => t.Accessor));
        Assert.Equal(2, limited.Count);
        Assert.Empty(await ReadAsync(store, s => s.Tokens.ListRunAsync(acme, "r1", "b", 100)));
    }

    [Fact]
    public async Task TokenTree_ListRun_SameCreationInstant_StillParentsBeforeChildren()
    {
        // A frozen clock (or a fast spawn) gives parent and child one creation instant; accessors are random, so
        // ordering must not fall back to them. Accessors here sort children first on purpose.
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var u = tenant.Uid;
        await InsertAllAsync(store,
            TreeToken(u, "zz-orch", null, TokenKind.Orchestrator),
            TreeToken(u, "zz-top", "zz-orch", runId: "r1"),
            TreeToken(u, "mm-mid", "zz-top", runId: "r1"),
            TreeToken(u, "bb-low", "mm-mid", runId: "r1"),
            TreeToken(u, "aa-leaf", "bb-low", runId: "r1"),
            TreeToken(u, "ab-other", "zz-top", runId: "r1"));

        var list = await ReadAsync(store, s => s.Tokens.ListRunAsync(u, "r1", null, 100));

        Assert.Equal(5, list.Count);
        AssertParentsFirst(list);
    }

    private static void AssertParentsFirst(IReadOnlyList<TokenRecord> list)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var listed = list.Select(t => t.Accessor).ToHashSet(StringComparer.Ordinal);
        foreach (var token in list)
        {
            if (token.ParentAccessor is { } parent && listed.Contains(parent))
            {
                Assert.True(seen.Contains(parent), $"{token.Accessor} is listed before its parent {parent}: {string.Join(", ", list.Select(t => t.Accessor))}");
            }

            seen.Add(token.Accessor);
        }
    }

    [Fact]
    public async Task TokenTree_TryMarkUsed_ConcurrentExchanges_ExactlyOneWins()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        await InsertAllAsync(store,
            TreeToken(tenant.Uid, "orch", null, TokenKind.Orchestrator),
            TreeToken(tenant.Uid, "boot", "orch", TokenKind.Bootstrap, "r1", expiresAt: T0.AddMinutes(1)));
        var at = T0.AddSeconds(10);

        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
            (Session: $"session-{i}", Won: await WriteAsync(store, s => s.Tokens.TryMarkUsedAsync("boot", $"session-{i}", at, T0.AddHours(1)))))));

        var winner = Assert.Single(results, r => r.Won);
        var stored = await TokenAsync(store, "boot");
        Assert.Equal((at, winner.Session, T0.AddHours(1)), (stored.UsedAt, stored.UsedBy, stored.RetainUntil));
        Assert.False(await WriteAsync(store, s => s.Tokens.TryMarkUsedAsync("boot", "late", at.AddSeconds(1), T0.AddHours(2))));
        Assert.Equal(winner.Session, (await TokenAsync(store, "boot")).UsedBy);
    }

    [Fact]
    public async Task TokenTree_TryMarkUsed_RefusesExpiredRevokedNonBootstrapAndUnknown()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var u = tenant.Uid;
        await InsertAllAsync(store,
            TreeToken(u, "orch", null, TokenKind.Orchestrator),
            TreeToken(u, "expired", "orch", TokenKind.Bootstrap, "r1", expiresAt: T0.AddSeconds(60)),
            TreeToken(u, "revoked", "orch", TokenKind.Bootstrap, "r1", expiresAt: T0.AddSeconds(60)) with { RevokedAt = T0.AddSeconds(1) },
            TreeToken(u, "agent", "orch", TokenKind.Agent, "r1", expiresAt: T0.AddSeconds(60)),
            TreeToken(u, "live", "orch", TokenKind.Bootstrap, "r1", expiresAt: T0.AddSeconds(60)));

        Assert.False(await WriteAsync(store, s => s.Tokens.TryMarkUsedAsync("expired", "s1", T0.AddSeconds(60), T0.AddHours(1))), "expired exactly at its expiry");
        Assert.False(await WriteAsync(store, s => s.Tokens.TryMarkUsedAsync("expired", "s1", T0.AddSeconds(61), T0.AddHours(1))), "expired");
        Assert.False(await WriteAsync(store, s => s.Tokens.TryMarkUsedAsync("revoked", "s2", T0.AddSeconds(5), T0.AddHours(1))), "revoked");
        Assert.False(await WriteAsync(store, s => s.Tokens.TryMarkUsedAsync("agent", "s3", T0.AddSeconds(5), T0.AddHours(1))), "not a bootstrap token");
        Assert.False(await WriteAsync(store, s => s.Tokens.TryMarkUsedAsync("unknown", "s4", T0.AddSeconds(5), T0.AddHours(1))), "unknown");
        Assert.True(await WriteAsync(store, s => s.Tokens.TryMarkUsedAsync("live", "s5", T0.AddSeconds(59), T0.AddHours(1))), "live, one moment before expiry");

        foreach (var accessor in new[] { "expired", "revoked", "agent" })
        {
            var token = await TokenAsync(store, accessor);
            Assert.True(token.UsedAt is null && token.UsedBy is null && token.RetainUntil is null, $"{accessor} must not carry a used-mark");
        }
    }

    [Fact]
    public async Task TokenTree_TryMarkUsed_RolledBack_LeavesTheTokenUnused()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        await InsertAllAsync(store, TreeToken(tenant.Uid, "boot", null, TokenKind.Bootstrap, "r1", expiresAt: T0.AddMinutes(1)));

        await using (var session = await store.WriteAsync())
        {
            Assert.True(await session.Tokens.TryMarkUsedAsync("boot", "s1", T0, T0.AddHours(1)));
        }

        Assert.Null((await TokenAsync(store, "boot")).UsedAt);
        Assert.True(await WriteAsync(store, s => s.Tokens.TryMarkUsedAsync("boot", "s2", T0, T0.AddHours(1))));
    }

    [Fact]
    public async Task TokenTree_SetExpiry_MovesLiveTokensOnly()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        await InsertAllAsync(store,
            TreeToken(tenant.Uid, "live", null),
            TreeToken(tenant.Uid, "revoked", null) with { RevokedAt = T0.AddMinutes(1) });

        Assert.True(await WriteAsync(store, s => s.Tokens.SetExpiryAsync("live", T0.AddHours(5))));
        Assert.False(await WriteAsync(store, s => s.Tokens.SetExpiryAsync("revoked", T0.AddHours(5))));
        Assert.False(await WriteAsync(store, s => s.Tokens.SetExpiryAsync("unknown", T0.AddHours(5))));

        Assert.Equal(T0.AddHours(5), (await TokenAsync(store, "live")).ExpiresAt);
        Assert.Equal(T0.AddHours(2), (await TokenAsync(store, "revoked")).ExpiresAt);
    }

    [Fact]
    public async Task TokenTree_SweepExpired_RespectsRetentionNeverRootBounded()
    {
        var store = await NewStoreAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var u = tenant.Uid;
        var before = T0.AddHours(10);
        await InsertAllAsync(store,
            TreeToken(u, "old-1", null, expiresAt: T0.AddHours(1)),
            TreeToken(u, "old-2", null, expiresAt: T0.AddHours(2)),
            TreeToken(u, "old-revoked", null, expiresAt: T0.AddHours(3)) with { RevokedAt = T0 },
            TreeToken(u, "retained", null, TokenKind.Bootstrap, expiresAt: T0.AddMinutes(1)) with { UsedAt = T0, RetainUntil = T0.AddHours(11) },
            TreeToken(u, "retention-over", null, TokenKind.Bootstrap, expiresAt: T0.AddMinutes(1)) with { UsedAt = T0, RetainUntil = T0.AddHours(9) },
            TreeToken(u, "live", null, expiresAt: T0.AddHours(12)),
            TreeToken(u, "at-cutoff", null, expiresAt: before),
            TreeToken(u, "no-expiry", null, TokenKind.Admin) with { ExpiresAt = null },
            new TokenRecord("root", SHA256.HashData("root"u8), TokenKind.Root, null, null, null, null, null, null, null, null, T0, T0.AddHours(1), null));

        var first = await WriteAsync(store, s => s.Tokens.SweepExpiredAsync(before, 2));
        var second = await WriteAsync(store, s => s.Tokens.SweepExpiredAsync(before, 100));
        var third = await WriteAsync(store, s => s.Tokens.SweepExpiredAsync(before, 100));

        Assert.Equal((2, 2, 0), (first, second, third)); // old-1 old-2 old-revoked retention-over, two per call at most
        foreach (var accessor in new[] { "old-1", "old-2", "old-revoked", "retention-over" })
        {
            Assert.Null(await ReadAsync(store, s => s.Tokens.GetByAccessorAsync(accessor)));
        }

        foreach (var accessor in new[] { "retained", "live", "at-cutoff", "no-expiry", "root" })
        {
            Assert.True(await ReadAsync(store, s => s.Tokens.GetByAccessorAsync(accessor)) is not null, $"{accessor} must not be swept");
        }

        // Much later: the retained replay record goes, a root token never does.
        Assert.Equal(3, await WriteAsync(store, s => s.Tokens.SweepExpiredAsync(T0.AddDays(30), 100)));
        Assert.NotNull(await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("root")));
        Assert.NotNull(await ReadAsync(store, s => s.Tokens.GetByAccessorAsync("no-expiry")));
    }
}
