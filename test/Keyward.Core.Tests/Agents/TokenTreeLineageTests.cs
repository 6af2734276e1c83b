using System.Security.Cryptography;
using Keyward.Core.Agents;
using Keyward.Core.Storage;
using Keyward.Core.Tests.Storage;
using Keyward.Core.Tokens;

namespace Keyward.Core.Tests.Agents;

/// <summary>The one walk up the token tree (<see cref="TokenTree.LineageAsync"/>) and what is built on it, on a real store.</summary>
public sealed class TokenTreeLineageTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static TokenRecord Token(string accessor, string? parent) =>
        new(accessor, RandomNumberGenerator.GetBytes(32), TokenKind.Agent, null, parent, parent, null, null, null, "run", null, T0, null, null);

    /// <summary>A chain t0 (root) ← t1 ← … ← t{length-1}, stored; returns the deepest.</summary>
    private static async Task<TokenRecord> ChainAsync(IKeywardStore store, int length, string? rootParent = null)
    {
        TokenRecord? token = null;
        await using var session = await store.WriteAsync();
        for (var i = 0; i < length; i++)
        {
            token = Token($"t{i}", i == 0 ? rootParent : $"t{i - 1}");
            await session.Tokens.InsertAsync(token);
        }

        await session.CommitAsync();
        return token!;
    }

    [Fact]
    public async Task Lineage_GoesFromTheTokenToTheRoot_AndDepthAndIsWithinFollowIt()
    {
        await using var harness = await CommitterHarness.StartAsync();
        var deepest = await ChainAsync(harness.Store, 5);
        await using var session = await harness.Store.ReadAsync();

        var lineage = await TokenTree.LineageAsync(session, deepest).Select(t => t.Accessor).ToListAsync();

        Assert.Equal(["t4", "t3", "t2", "t1", "t0"], lineage);
        Assert.Equal(4, await TokenTree.DepthAsync(session, deepest));
        Assert.True(await TokenTree.IsWithinAsync(session, deepest, "t0"));
        Assert.True(await TokenTree.IsWithinAsync(session, deepest, "t4"));
        Assert.False(await TokenTree.IsWithinAsync(session, await session.Tokens.GetByAccessorAsync("t2") ?? throw new InvalidOperationException(), "t3"));
    }

    [Fact]
    public async Task Lineage_OfAChainDeeperThanTheBound_StopsAtTheBound()
    {
        // A chain the API never builds (spawn refuses beyond MaxDepth), as a corrupt or hostile store could hold it.
        await using var harness = await CommitterHarness.StartAsync();
        var deepest = await ChainAsync(harness.Store, TokenTree.MaxDepth + 10);
        await using var session = await harness.Store.ReadAsync();

        Assert.Equal(TokenTree.MaxDepth + 1, await TokenTree.LineageAsync(session, deepest).CountAsync());
        Assert.Equal(TokenTree.MaxDepth, await TokenTree.DepthAsync(session, deepest));
        Assert.False(await TokenTree.IsWithinAsync(session, deepest, "t0"));
    }

    [Fact]
    public async Task Lineage_EndsAtAParentNoLongerStored()
    {
        await using var harness = await CommitterHarness.StartAsync();
        var deepest = await ChainAsync(harness.Store, 3, rootParent: "gone");
        await using var session = await harness.Store.ReadAsync();

        Assert.Equal(["t2", "t1", "t0"], await TokenTree.LineageAsync(session, deepest).Select(t => t.Accessor).ToListAsync());
    }
}
