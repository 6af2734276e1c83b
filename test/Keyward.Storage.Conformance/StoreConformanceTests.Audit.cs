using Keyward.Core.Audit;

namespace Keyward.Storage.Conformance;

public abstract partial class StoreConformanceTests
{
    private static AuditEntry Entry(long seq, string? tenant = "acme", string? agent = null, string? path = null) => new(
        seq,
        tenant,
        T0.AddSeconds(seq),
        agent,
        path,
        System.Text.Encoding.UTF8.GetBytes($$"""{"seq":{{seq}}}"""),
        Enumerable.Repeat((byte)(seq - 1), 32).ToArray(),
        Enumerable.Repeat((byte)seq, 32).ToArray());

    [Fact]
    public async Task Audit_FreshStore_HeadIsGenesis()
    {
        var store = await NewStoreAsync();

        var head = await ReadAsync(store, s => s.Audit.GetHeadAsync());

        Assert.Equal(0, head.Seq);
        Assert.Equal(new byte[32], head.Hash);
        Assert.Empty(await ReadAsync(store, s => s.Audit.QueryAsync(new AuditQuery(null, 0, 100, null, null))));
        Assert.Empty(await ReadAsync(store, s => s.Audit.ListCheckpointsAsync()));
    }

    [Fact]
    public async Task Audit_SetHead_IsReadBackAndOverwritten()
    {
        var store = await NewStoreAsync();

        await WriteAsync(store, s => s.Audit.SetHeadAsync(new AuditHead(5, Enumerable.Repeat((byte)5, 32).ToArray())));
        await WriteAsync(store, async s =>
        {
            Assert.Equal(5, (await s.Audit.GetHeadAsync()).Seq);
            await s.Audit.SetHeadAsync(new AuditHead(6, Enumerable.Repeat((byte)6, 32).ToArray()));
        });

        var head = await ReadAsync(store, s => s.Audit.GetHeadAsync());
        Assert.Equal(6, head.Seq);
        Assert.Equal(Enumerable.Repeat((byte)6, 32), head.Hash);
    }

    [Fact]
    public async Task Audit_SetHead_MacIsReadBackAndReplacedWithTheHead()
    {
        var store = await NewStoreAsync();
        var mac = Enumerable.Repeat((byte)0xA5, 32).ToArray();

        await WriteAsync(store, s => s.Audit.SetHeadAsync(new AuditHead(5, Enumerable.Repeat((byte)5, 32).ToArray(), mac)));
        var withMac = await ReadAsync(store, s => s.Audit.GetHeadAsync());
        await WriteAsync(store, s => s.Audit.SetHeadAsync(new AuditHead(6, Enumerable.Repeat((byte)6, 32).ToArray())));
        var withoutMac = await ReadAsync(store, s => s.Audit.GetHeadAsync());

        Assert.Equal(5, withMac.Seq);
        Assert.Equal(mac, withMac.Mac);
        Assert.Equal(6, withoutMac.Seq);
        Assert.Null(withoutMac.Mac);
    }

    [Fact]
    public async Task Audit_CommitAudited_WritesTheHeadsMacWhenSetAndWhenMovedFromAnAssumedHead()
    {
        var store = await NewStoreAsync();
        var first = new AuditHead(1, Entry(1).Hash, Enumerable.Repeat((byte)0x11, 32).ToArray());
        var second = new AuditHead(2, Entry(2).Hash, Enumerable.Repeat((byte)0x22, 32).ToArray());

        await using (var session = await store.WriteAsync())
        {
            Assert.NotNull((await session.CommitAuditedAsync([Entry(1)], null, first)).LatestEventId);
        }

        var afterSet = await ReadAsync(store, s => s.Audit.GetHeadAsync());
        await using (var session = await store.WriteAsync())
        {
            Assert.NotNull((await session.CommitAuditedAsync([Entry(2)], null, second, from: first)).LatestEventId);
        }

        var afterMove = await ReadAsync(store, s => s.Audit.GetHeadAsync());

        Assert.Equal(1, afterSet.Seq);
        Assert.Equal(first.Mac, afterSet.Mac);
        Assert.Equal(2, afterMove.Seq);
        Assert.Equal(second.Mac, afterMove.Mac);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(37)]
    public async Task Audit_AppendBatch_StoresEveryRecordInOrderWithEveryField(int count)
    {
        var store = await NewStoreAsync();
        var entries = Enumerable.Range(1, count)
            .Select(i => Entry(i, i % 3 == 0 ? null : "t" + (i % 4), i % 2 == 0 ? "agent-" + i : null, i % 5 == 0 ? null : "p/" + i))
            .ToArray();

        await WriteAsync(store, s => s.Audit.AppendAsync(entries));

        var stored = await ReadAsync(store, s => s.Audit.QueryAsync(new AuditQuery(null, 0, 1000, null, null)));
        Assert.Equal(count, stored.Count);
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(entries[i].Seq, stored[i].Seq);
            Assert.Equal(entries[i].TenantId, stored[i].TenantId);
            Assert.Equal(entries[i].AgentId, stored[i].AgentId);
            Assert.Equal(entries[i].Path, stored[i].Path);
            Assert.Equal(entries[i].Time, stored[i].Time);
            Assert.Equal(entries[i].Body, stored[i].Body);
            Assert.Equal(entries[i].PrevHash, stored[i].PrevHash);
            Assert.Equal(entries[i].Hash, stored[i].Hash);
        }
    }

    [Fact]
    public async Task Audit_Append_RoundTripsEveryField()
    {
        var store = await NewStoreAsync();
        var entry = Entry(1, "acme", "agent-1", "app/db");

        await WriteAsync(store, s => s.Audit.AppendAsync([entry]));

        var stored = Assert.Single(await ReadAsync(store, s => s.Audit.QueryAsync(new AuditQuery(null, 0, 10, null, null))));
        Assert.Equal((1L, "acme", T0.AddSeconds(1), "agent-1", "app/db"), (stored.Seq, stored.TenantId, stored.Time, stored.AgentId, stored.Path));
        Assert.Equal(entry.Body, stored.Body);
        Assert.Equal(entry.PrevHash, stored.PrevHash);
        Assert.Equal(entry.Hash, stored.Hash);
    }

    [Fact]
    public async Task Audit_AppendExistingSeq_IsRefused()
    {
        var store = await NewStoreAsync();
        await WriteAsync(store, s => s.Audit.AppendAsync([Entry(1)]));

        Assert.True(await IsRefusedAsync(store, s => s.Audit.AppendAsync([Entry(1, "other")])), "two records with one seq");
        Assert.Equal("acme", Assert.Single(await ReadAsync(store, s => s.Audit.QueryAsync(new AuditQuery(null, 0, 10, null, null)))).TenantId);
    }

    [Fact]
    public async Task Audit_Query_FiltersAndPagesInAscendingSeq()
    {
        // Arrange: inserted out of order, across tenants, agents and paths (tenant null = system records).
        var store = await NewStoreAsync();
        var entries = new[]
        {
            Entry(3, "acme", "agent-1", "app/db"),
            Entry(1, null),
            Entry(2, "acme", "agent-2", "app/db"),
            Entry(5, "other", "agent-1", "app/db"),
            Entry(4, "acme", "agent-1", "app/cache"),
            Entry(6, "acme", null, "app/db"),
        };
        await WriteAsync(store, async s =>
        {
            foreach (var e in entries)
            {
                await s.Audit.AppendAsync([e]);
            }
        });

        async Task<long[]> SeqsAsync(AuditQuery query) => (await ReadAsync(store, s => s.Audit.QueryAsync(query))).Select(e => e.Seq).ToArray();

        // Act + Assert
        Assert.Equal(new long[] { 1L, 2, 3, 4, 5, 6 }, await SeqsAsync(new AuditQuery(null, 0, 100, null, null)));
        Assert.Equal(new long[] { 4L, 5, 6 }, await SeqsAsync(new AuditQuery(null, 3, 100, null, null)));
        Assert.Equal(new long[] { 1L, 2 }, await SeqsAsync(new AuditQuery(null, 0, 2, null, null)));
        Assert.Equal(new long[] { 3L, 4 }, await SeqsAsync(new AuditQuery(null, 2, 2, null, null)));
        Assert.Empty(await SeqsAsync(new AuditQuery(null, 6, 100, null, null)));
        Assert.Equal(new long[] { 2L, 3, 4, 6 }, await SeqsAsync(new AuditQuery("acme", 0, 100, null, null)));
        Assert.Equal(new long[] { 3L, 4 }, await SeqsAsync(new AuditQuery("acme", 0, 100, "agent-1", null)));
        Assert.Equal(new long[] { 2L, 3, 6 }, await SeqsAsync(new AuditQuery("acme", 0, 100, null, "app/db")));
        Assert.Equal(new long[] { 3L }, await SeqsAsync(new AuditQuery("acme", 0, 100, "agent-1", "app/db")));
        Assert.Equal(new long[] { 3L, 4, 5 }, await SeqsAsync(new AuditQuery(null, 0, 100, "agent-1", null)));
        Assert.Equal(new long[] { 6L }, await SeqsAsync(new AuditQuery("acme", 4, 100, null, "app/db")));
        Assert.Empty(await SeqsAsync(new AuditQuery("nobody", 0, 100, null, null)));
        Assert.Empty(await SeqsAsync(new AuditQuery("acme", 0, 100, null, "app")));
    }

    [Fact]
    public async Task Audit_Checkpoints_RoundTripInSeqOrderWithExactTime()
    {
        // The checkpoint MAC covers the time's ticks, so it must come back to the tick.
        var store = await NewStoreAsync();
        var late = new AuditCheckpoint(2000, Enumerable.Repeat((byte)2, 32).ToArray(), T0.AddTicks(7), Enumerable.Repeat((byte)0xB, 32).ToArray());
        var early = new AuditCheckpoint(1000, Enumerable.Repeat((byte)1, 32).ToArray(), T0.AddTicks(3), Enumerable.Repeat((byte)0xA, 32).ToArray());

        await WriteAsync(store, async s =>
        {
            await s.Audit.AppendCheckpointAsync(late);
            await s.Audit.AppendCheckpointAsync(early);
        });

        var checkpoints = await ReadAsync(store, s => s.Audit.ListCheckpointsAsync());
        Assert.Equal([1000L, 2000], checkpoints.Select(c => c.Seq));
        Assert.Equal(early.Time.UtcTicks, checkpoints[0].Time.UtcTicks);
        Assert.Equal(late.Time.UtcTicks, checkpoints[1].Time.UtcTicks);
        Assert.Equal(early.Hash, checkpoints[0].Hash);
        Assert.Equal(early.Mac, checkpoints[0].Mac);
        Assert.Equal(late.Mac, checkpoints[1].Mac);
    }

    [Fact]
    public async Task Audit_RecordsOfRolledBackSession_AreGone()
    {
        var store = await NewStoreAsync();

        await using (var session = await store.WriteAsync())
        {
            await session.Audit.AppendAsync([Entry(1)]);
            await session.Audit.SetHeadAsync(new AuditHead(1, Entry(1).Hash));
            await session.Audit.AppendCheckpointAsync(new AuditCheckpoint(1, new byte[32], T0, new byte[32]));
        }

        Assert.Empty(await ReadAsync(store, s => s.Audit.QueryAsync(new AuditQuery(null, 0, 10, null, null))));
        Assert.Equal(0, (await ReadAsync(store, s => s.Audit.GetHeadAsync())).Seq);
        Assert.Empty(await ReadAsync(store, s => s.Audit.ListCheckpointsAsync()));
    }
}
