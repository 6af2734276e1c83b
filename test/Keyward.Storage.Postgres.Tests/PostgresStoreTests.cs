using System.Collections.Concurrent;
using System.Security.Cryptography;
using Keyward.Core;
using Keyward.Core.Audit;
using Keyward.Core.Events;
using Keyward.Core.Secrets;
using Keyward.Core.Storage;
using Keyward.Core.Tenants;
using Keyward.Tests.Common;
using Npgsql;

namespace Keyward.Storage.Postgres.Tests;

/// <summary>
/// What only a shared store owes: migrations that two nodes can race, and writers on several nodes (here: several
/// <see cref="PostgresStore"/>s on one database) that keep the audit chain, rotation claims and event ids correct.
/// </summary>
public sealed class PostgresStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 4, 5, 6, 7, TimeSpan.Zero);

    private readonly List<PostgresStore> _stores = [];
    private PostgresCluster _cluster = null!;
    private string _database = null!;

    public async Task InitializeAsync()
    {
        _cluster = await PostgresCluster.GetAsync();
        _database = await _cluster.CreateDatabaseAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        await _cluster.DropDatabaseAsync(_database);
    }

    /// <summary>A store ("node") on this test's database, not yet opened.</summary>
    private PostgresStore Node()
    {
        var store = PostgresStore.Create(_cluster.ConnectionString(_database));
        _stores.Add(store);
        return store;
    }

    private async Task<PostgresStore> OpenNodeAsync()
    {
        var store = Node();
        await store.OpenAsync();
        return store;
    }

    private async Task<T> QueryAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(_cluster.ConnectionString(_database) + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<T> WriteAsync<T>(IKeywardStore store, Func<IWriteSession, Task<T>> work)
    {
        await using var session = await store.WriteAsync();
        var result = await work(session);
        await session.CommitAsync();
        return result;
    }

    private static async Task<Tenant> AddTenantAsync(IKeywardStore store, string id)
    {
        var tenant = new Tenant(Ids.NewTenantUid(), id, null, TenantState.Active, T0, T0);
        Assert.True(await WriteAsync(store, s => s.Tenants.TryInsertAsync(tenant)));
        return tenant;
    }

    [Fact]
    public async Task Open_Again_IsIdempotent()
    {
        var first = await OpenNodeAsync();
        var tenant = await AddTenantAsync(first, "acme");

        var second = await OpenNodeAsync();
        await first.OpenAsync();

        Assert.Equal((long)PostgresMigrations.All.Count, await QueryAsync<long>("SELECT count(*) FROM schema_migrations"));
        Assert.Equal(PostgresMigrations.Latest, await QueryAsync<int>("SELECT max(version) FROM schema_migrations"));
        await using var read = await second.ReadAsync();
        Assert.Equal(tenant, await read.Tenants.GetByIdAsync("acme"));
    }

    [Fact]
    public async Task Open_FourNodesOnAnEmptyDatabaseAtOnce_AllSucceedWithOneSchema()
    {
        var nodes = Enumerable.Range(0, 4).Select(_ => Node()).ToList();
        using var start = new Barrier(nodes.Count);

        await Task.WhenAll(nodes.Select(node => Task.Run(async () =>
        {
            start.SignalAndWait(TimeSpan.FromSeconds(30));
            await node.OpenAsync();
        })));

        Assert.Equal((long)PostgresMigrations.All.Count, await QueryAsync<long>("SELECT count(*) FROM schema_migrations"));
        Assert.Equal(1L, await QueryAsync<long>("SELECT count(*) FROM audit_head"));
        Assert.Equal(1L, await QueryAsync<long>("SELECT count(*) FROM event_counter"));
        Assert.Equal(1L, await QueryAsync<long>("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'secrets'"));
        foreach (var node in nodes)
        {
            Assert.Equal(0, (await WriteAsync(node, s => s.Audit.GetHeadAsync())).Seq);
        }
    }

    [Theory]
    [InlineData("statement by statement")]
    [InlineData("one round trip")]
    [InlineData("assumed head")]
    public async Task AuditBatches_FromTwoNodesAtOnce_FormOneUnforkedChain(string close)
    {
        // Arrange: two nodes, each with several writers appending batches the way the group committer does (read the
        // head in the write transaction, chain onto it, append, move the head, commit).
        var nodes = new[] { await OpenNodeAsync(), await OpenNodeAsync() };
        const int WritersPerNode = 3, BatchesPerWriter = 15, RecordsPerBatch = 4;

        // Act
        await Task.WhenAll(nodes.SelectMany(node => Enumerable.Range(0, WritersPerNode).Select(writer => Task.Run(async () =>
        {
            AuditHead? committed = null;
            for (var batch = 0; batch < BatchesPerWriter; batch++)
            {
                // With an assumed head: chain onto this writer's last commit without reading the head, and read it
                // (under its lock) only when another writer moved it meanwhile — the group committer's audit-only batch.
                if (close == "assumed head" && committed is { } assumed && await TryCloseAsync(node, assumed, writer, batch) is { } moved)
                {
                    committed = moved;
                    continue;
                }

                await using var session = await node.WriteAsync();
                var head = await session.Audit.GetHeadAsync();
                var records = new List<AuditEntry>();
                for (var i = 0; i < RecordsPerBatch; i++)
                {
                    var body = System.Text.Encoding.UTF8.GetBytes($"node {Array.IndexOf(nodes, node)} writer {writer} batch {batch} record {i}");
                    var hash = Link(head.Hash, body);
                    records.Add(new AuditEntry(head.Seq + 1, "acme", T0, null, null, body, head.Hash, hash));
                    head = new AuditHead(head.Seq + 1, hash);
                }

                await Task.Delay(Random.Shared.Next(3)); // widen the window in which another node could read the same head
                if (close == "statement by statement")
                {
                    await session.Audit.AppendAsync(records);
                    await session.Audit.SetHeadAsync(head);
                    await session.CommitAsync();
                }
                else
                {
                    Assert.NotNull((await session.CommitAuditedAsync(records, null, head)).LatestEventId);
                }

                committed = head;
            }

            async Task<AuditHead?> TryCloseAsync(PostgresStore node, AuditHead from, int writer, int batch)
            {
                await using var session = await node.WriteAsync();
                var (records, head) = Chain(from, $"node {Array.IndexOf(nodes, node)} writer {writer} batch {batch} (assumed)");
                await Task.Delay(Random.Shared.Next(3));
                return (await session.CommitAuditedAsync(records, null, head, from)).LatestEventId is null ? null : head;
            }
        }))));

        // Assert: every record is there once, in one chain whose links all hold, ending at the head.
        await using var read = await nodes[0].ReadAsync();
        var chain = await read.Audit.QueryAsync(new AuditQuery(null, 0, 10_000, null, null));
        const int Expected = 2 * WritersPerNode * BatchesPerWriter * RecordsPerBatch;
        Assert.Equal(Enumerable.Range(1, Expected).Select(i => (long)i), chain.Select(e => e.Seq));
        var previous = AuditHead.Genesis.Hash;
        foreach (var entry in chain)
        {
            Assert.True(entry.PrevHash.AsSpan().SequenceEqual(previous), $"seq {entry.Seq} does not link to seq {entry.Seq - 1}: the chain forked");
            Assert.True(entry.Hash.AsSpan().SequenceEqual(Link(entry.PrevHash, entry.Body)), $"seq {entry.Seq} has a wrong hash");
            previous = entry.Hash;
        }

        var final = await read.Audit.GetHeadAsync();
        Assert.Equal((long)Expected, final.Seq);
        Assert.Equal(previous, final.Hash);
    }

    private static byte[] Link(byte[] previous, byte[] body) => SHA256.HashData([.. previous, .. body]);

    private static (List<AuditEntry> Records, AuditHead Head) Chain(AuditHead head, string text, int count = 4)
    {
        var records = new List<AuditEntry>();
        for (var i = 0; i < count; i++)
        {
            var body = System.Text.Encoding.UTF8.GetBytes($"{text} record {i}");
            var hash = Link(head.Hash, body);
            records.Add(new AuditEntry(head.Seq + 1, "acme", T0, null, null, body, head.Hash, hash));
            head = new AuditHead(head.Seq + 1, hash);
        }

        return (records, head);
    }

    [Fact]
    public async Task ClaimDueRotations_TwoNodesAtOnce_NeverClaimTheSameSecret()
    {
        // Arrange: 60 secrets due for rotation.
        var nodes = new[] { await OpenNodeAsync(), await OpenNodeAsync() };
        var tenant = await AddTenantAsync(nodes[0], "acme");
        const int Due = 60;
        await WriteAsync(nodes[0], async s =>
        {
            for (var i = 0; i < Due; i++)
            {
                await s.Secrets.UpsertMetadataAsync(new SecretMetadata(tenant.Uid, $"app/s{i:D2}", 1, 10, new Dictionary<string, string>(), T0, T0)
                {
                    NextRotationAt = T0.AddSeconds(-i),
                });
            }

            return true;
        });
        var claims = new ConcurrentBag<(string Node, string Path)>();

        // Act: on each node three schedulers claim small batches, holding each claim transaction open a moment.
        await Task.WhenAll(Enumerable.Range(0, 6).Select(worker => Task.Run(async () =>
        {
            var node = nodes[worker % 2];
            var name = $"node-{worker % 2}-{worker}";
            while (true)
            {
                await using var session = await node.WriteAsync();
                var claimed = await session.Secrets.ClaimDueRotationsAsync(T0, name, T0.AddMinutes(5), 4);
                await Task.Delay(Random.Shared.Next(1, 5));
                await session.CommitAsync();
                if (claimed.Count == 0)
                {
                    break;
                }

                foreach (var (_, path) in claimed)
                {
                    claims.Add((name, path));
                }
            }
        })));

        // Assert: every due secret claimed exactly once, and it is held by the claimer that reported it.
        Assert.Equal(Due, claims.Count);
        Assert.Equal(Due, claims.Select(c => c.Path).Distinct(StringComparer.Ordinal).Count());
        await using var read = await nodes[1].ReadAsync();
        foreach (var (name, path) in claims)
        {
            Assert.True(await read.Secrets.HoldsRotationClaimAsync(tenant.Uid, path, name, T0.AddMinutes(1)), $"{path} is not held by {name}");
        }
    }

    [Fact]
    public async Task EventIds_ConcurrentWritersOnTwoNodes_BecomeVisibleInIdOrder()
    {
        // Arrange: writers on two nodes append events and commit after a random pause; an observer keeps reading.
        // Ids must be handed out in commit order: a reader that sees id N must already see every id below N, or a
        // stream resuming after N would miss the smaller id committed later.
        var nodes = new[] { await OpenNodeAsync(), await OpenNodeAsync() };
        var tenant = await AddTenantAsync(nodes[0], "acme");
        const int Writers = 6, EventsPerWriter = 15;
        using var done = new CancellationTokenSource();
        var gaps = new ConcurrentBag<string>();
        var observer = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                await using var read = await nodes[1].ReadAsync();
                var ids = (await read.Events.ListAsync(tenant.Uid, 0, 10_000)).Select(e => e.Id).ToList();
                if (ids.Count > 0 && ids[^1] != ids.Count)
                {
                    gaps.Add($"visible: {ids.Count} events up to id {ids[^1]}");
                }
            }
        });

        // Act
        var perWriter = await Task.WhenAll(Enumerable.Range(0, Writers).Select(writer => Task.Run(async () =>
        {
            var ids = new List<long>();
            for (var i = 0; i < EventsPerWriter; i++)
            {
                await using var session = await nodes[writer % 2].WriteAsync();
                ids.Add(await session.Events.AppendAsync(new EventRecord(0, tenant.Uid, EventTypes.TokenRevoked, null, null, "{}", T0)));
                await Task.Delay(Random.Shared.Next(4));
                await session.CommitAsync();
            }

            return ids;
        })));
        await done.CancelAsync();
        await observer;

        // Assert
        Assert.Empty(gaps);
        Assert.All(perWriter, ids => Assert.True(ids.Zip(ids.Skip(1)).All(p => p.Second > p.First), "one writer's ids must increase"));
        Assert.Equal(Enumerable.Range(1, Writers * EventsPerWriter).Select(i => (long)i), perWriter.SelectMany(ids => ids).Order());
        await using var final = await nodes[0].ReadAsync();
        Assert.Equal(Writers * EventsPerWriter, await final.Events.LatestIdAsync());
    }

    [Fact]
    public async Task CountUse_ConcurrentOnTwoNodes_CountsEveryUseOnce()
    {
        var nodes = new[] { await OpenNodeAsync(), await OpenNodeAsync() };
        var tenant = await AddTenantAsync(nodes[0], "acme");
        await WriteAsync(nodes[0], async s =>
        {
            await s.Secrets.UpsertMetadataAsync(new SecretMetadata(tenant.Uid, "app/db", 1, 10, new Dictionary<string, string>(), T0, T0));
            return true;
        });

        var counts = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() =>
            WriteAsync(nodes[i % 2], s => s.Secrets.CountUseAsync(tenant.Uid, "app/db")))));

        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long?)i), counts.Order());
    }

    [Fact]
    public async Task CommitAudited_RecordsCheckpointAndHead_CommittedWithTheBatchsChanges()
    {
        // Arrange: a batch that appended an event (a change) and closes with two records and a checkpoint.
        var store = await OpenNodeAsync();
        var tenant = await AddTenantAsync(store, "acme");
        var records = new[] { Entry(1, AuditHead.Genesis.Hash), Entry(2, Entry(1, AuditHead.Genesis.Hash).Hash) };
        var head = new AuditHead(2, records[1].Hash);
        var checkpoint = new AuditCheckpoint(2, head.Hash, T0, new byte[32]);

        // Act
        long? latest;
        await using (var session = await store.WriteAsync())
        {
            await session.Events.AppendAsync(new EventRecord(0, tenant.Uid, EventTypes.SecretWritten, "a", null, "{}", T0));
            latest = (await session.CommitAuditedAsync(records, checkpoint, head)).LatestEventId;
        }

        // Assert: everything is there, and the newest event id (this batch's) came back.
        Assert.Equal(1L, latest);
        await using var read = await store.ReadAsync();
        Assert.Equal([1L, 2L], (await read.Audit.QueryAsync(new AuditQuery(null, 0, 10, null, null))).Select(e => e.Seq));
        Assert.Equal(2L, (await read.Audit.ListCheckpointsAsync()).Single().Seq);
        Assert.Equal(head.Hash, (await read.Audit.GetHeadAsync()).Hash);
        Assert.Equal(1L, await read.Events.LatestIdAsync());
    }

    [Fact]
    public async Task CommitAudited_ARecordCollides_CommitsNothing()
    {
        // Arrange: seq 1 is taken.
        var store = await OpenNodeAsync();
        var first = Entry(1, AuditHead.Genesis.Hash);
        await using (var session = await store.WriteAsync())
        {
            await session.CommitAuditedAsync([first], null, new AuditHead(1, first.Hash));
        }

        // Act: a batch that inserted a tenant closes with a record that collides.
        var error = await Assert.ThrowsAsync<PostgresException>(async () =>
        {
            await using var session = await store.WriteAsync();
            Assert.True(await session.Tenants.TryInsertAsync(new Tenant(Ids.NewTenantUid(), "late", null, TenantState.Active, T0, T0)));
            var again = Entry(1, AuditHead.Genesis.Hash, "other");
            await session.CommitAuditedAsync([again], null, new AuditHead(1, again.Hash));
        });

        // Assert: refused, and neither the tenant nor the head moved.
        Assert.Equal(PostgresErrorCodes.UniqueViolation, error.SqlState);
        Assert.Equal(0L, await QueryAsync<long>("SELECT count(*) FROM tenants WHERE id = 'late'"));
        await using var read = await store.ReadAsync();
        Assert.Equal(first.Hash, (await read.Audit.GetHeadAsync()).Hash);
    }

    [Fact]
    public async Task CommitAudited_AssumedHeadMovedByAnotherNode_WritesNothingAndReturnsNull()
    {
        // Arrange: node A committed a head; node B then chained onto it.
        var a = await OpenNodeAsync();
        var b = await OpenNodeAsync();
        var (first, headA) = Chain(AuditHead.Genesis, "a");
        await using (var session = await a.WriteAsync())
        {
            Assert.NotNull((await session.CommitAuditedAsync(first, null, headA)).LatestEventId);
        }

        var (second, headB) = Chain(headA, "b");
        await using (var session = await b.WriteAsync())
        {
            Assert.NotNull((await session.CommitAuditedAsync(second, null, headB, from: headA)).LatestEventId);
        }

        // Act: A chains onto the head it committed, which is not the head any more.
        var (stale, staleHead) = Chain(headA, "a again");
        var checkpoint = new AuditCheckpoint(staleHead.Seq, staleHead.Hash, T0, new byte[32]);
        long? result;
        await using (var session = await a.WriteAsync())
        {
            result = (await session.CommitAuditedAsync(stale, checkpoint, staleHead, from: headA)).LatestEventId;
        }

        // Assert: refused without writing anything: B's records and head stand, no checkpoint.
        Assert.Null(result);
        await using var read = await a.ReadAsync();
        var chain = await read.Audit.QueryAsync(new AuditQuery(null, 0, 100, null, null));
        Assert.Equal(first.Concat(second).Select(e => e.Hash), chain.Select(e => e.Hash));
        Assert.Equal(headB.Hash, (await read.Audit.GetHeadAsync()).Hash);
        Assert.Empty(await read.Audit.ListCheckpointsAsync());
    }

    [Fact]
    public async Task SecretGeneration_MovesWithEveryStatementChangingWhatReadsAnswerFrom_AndWithNothingElse()
    {
        // Arrange: a tenant and a secret with one version, written with plain SQL (not through Keyward: the engine
        // itself must count a change, whoever makes it).
        var store = await OpenNodeAsync();
        var tenant = await AddTenantAsync(store, "acme");
        async Task<long> GenerationAsync()
        {
            await using var session = await store.WriteAsync();
            return await session.SecretGenerationAsync();
        }

        var changes = new[]
        {
            $"INSERT INTO secrets (tenant_uid, path, current_version, max_versions, custom_metadata, created_at, updated_at) VALUES ('{tenant.Uid}', 'a', 1, 10, '{{}}', 0, 0)",
            $"INSERT INTO secret_versions (tenant_uid, path, version, key_version, ciphertext, created_at) VALUES ('{tenant.Uid}', 'a', 1, 1, '\\x00', 0)",
            $"UPDATE secrets SET epoch = epoch + 1 WHERE tenant_uid = '{tenant.Uid}'",
            $"INSERT INTO secrets (tenant_uid, path, current_version, max_versions, custom_metadata, created_at, updated_at) VALUES ('{tenant.Uid}', 'a', 2, 10, '{{}}', 0, 0) ON CONFLICT (tenant_uid, path) DO UPDATE SET current_version = excluded.current_version",
            $"UPDATE secret_versions SET deleted_at = 1 WHERE tenant_uid = '{tenant.Uid}'",
            $"DELETE FROM secret_versions WHERE tenant_uid = '{tenant.Uid}'",
            $"DELETE FROM secrets WHERE tenant_uid = '{tenant.Uid}'",
        };
        // Another table, and the columns no read answers from: a max_uses count and the rotation scheduler's claim.
        var unrelated = new[]
        {
            $"UPDATE tenants SET updated_at = 5 WHERE uid = '{tenant.Uid}'",
            $"UPDATE secrets SET uses = uses + 1 WHERE tenant_uid = '{tenant.Uid}'",
            $"UPDATE secrets SET claimed_by = 'node-b', claimed_until = 9 WHERE tenant_uid = '{tenant.Uid}'",
        };

        // Act / Assert: each change moves it; a change elsewhere does not.
        var before = await GenerationAsync();
        Assert.True(before > 0);
        foreach (var change in changes)
        {
            await ExecuteAsync(change);
            var after = await GenerationAsync();
            Assert.True(after > before, $"the generation did not move with: {change}");
            before = after;

            if (change.StartsWith("INSERT INTO secret_versions", StringComparison.Ordinal))
            {
                // While the secret exists: changes no read answers from leave the generation where it is.
                foreach (var other in unrelated)
                {
                    await ExecuteAsync(other);
                    Assert.True(before == await GenerationAsync(), $"the generation moved with: {other}");
                }
            }
        }
    }

    [Fact]
    public async Task ReadSecretWithGeneration_ReturnsTheGenerationOfItsOwnStatement()
    {
        // Arrange
        var store = await OpenNodeAsync();
        var tenant = await AddTenantAsync(store, "acme");
        await ExecuteAsync($"INSERT INTO secrets (tenant_uid, path, current_version, max_versions, custom_metadata, created_at, updated_at) VALUES ('{tenant.Uid}', 'a', 1, 10, '{{}}', 0, 0)");
        var first = await store.ReadSecretWithGenerationAsync(tenant.Uid, "a", null, SecretStage.Current);

        // Act: the row changes behind the node's back
        await ExecuteAsync($"UPDATE secrets SET current_version = 2 WHERE tenant_uid = '{tenant.Uid}'");
        var second = await store.ReadSecretWithGenerationAsync(tenant.Uid, "a", null, SecretStage.Current);

        // Assert: each read carries the generation its row belongs to
        Assert.Equal((1L, 2L), (first.Row!.Value.Metadata.CurrentVersion, second.Row!.Value.Metadata.CurrentVersion));
        Assert.True(second.Generation > first.Generation);
        await using var session = await store.WriteAsync();
        Assert.Equal(second.Generation, await session.SecretGenerationAsync());
    }

    [Fact]
    public async Task CommitAudited_AtASecretGenerationThatMoved_WritesNothing_AndSaysWhichGenerationItSaw()
    {
        // Arrange: a committed head, and the generation a node cached a row under
        var store = await OpenNodeAsync();
        var (first, head) = Chain(AuditHead.Genesis, "first", 1);
        long cachedUnder;
        await using (var session = await store.WriteAsync())
        {
            cachedUnder = (await session.CommitAuditedAsync(first, null, head)).SecretGeneration;
        }

        var tenant = await AddTenantAsync(store, "acme");
        await ExecuteAsync($"INSERT INTO secrets (tenant_uid, path, current_version, max_versions, custom_metadata, created_at, updated_at) VALUES ('{tenant.Uid}', 'a', 1, 10, '{{}}', 0, 0)");

        // Act: records vouching for the old generation, then the same records at the current one
        var (reads, next) = Chain(head, "read from a cached row", 1);
        AuditedCommit refused;
        await using (var session = await store.WriteAsync())
        {
            refused = await session.CommitAuditedAsync(reads, null, next, from: head, secretGeneration: cachedUnder);
        }

        await using (var read = await store.ReadAsync())
        {
            Assert.Equal(head.Hash, (await read.Audit.GetHeadAsync()).Hash);
            Assert.Single(await read.Audit.QueryAsync(new AuditQuery(null, 0, 100, null, null)));
        }

        AuditedCommit accepted;
        await using (var session = await store.WriteAsync())
        {
            accepted = await session.CommitAuditedAsync(reads, null, next, from: head, secretGeneration: refused.SecretGeneration);
        }

        // Assert: refused without a trace, with the generation it saw; then written
        Assert.Null(refused.LatestEventId);
        Assert.True(refused.SecretGeneration > cachedUnder);
        Assert.NotNull(accepted.LatestEventId);
        await using var after = await store.ReadAsync();
        Assert.Equal(next.Hash, (await after.Audit.GetHeadAsync()).Hash);
        Assert.Equal(2, (await after.Audit.QueryAsync(new AuditQuery(null, 0, 100, null, null))).Count);
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_cluster.ConnectionString(_database) + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static AuditEntry Entry(long seq, byte[] previous, string text = "record")
    {
        var body = System.Text.Encoding.UTF8.GetBytes($"{text} {seq}");
        return new AuditEntry(seq, "acme", T0, null, null, body, previous, Link(previous, body));
    }

    [Fact]
    public async Task ReadOneStatement_ASecondStatement_IsRefused()
    {
        var store = await OpenNodeAsync();
        await AddTenantAsync(store, "acme");

        await using var read = await store.ReadOneStatementAsync();
        Assert.NotNull(await read.Tenants.GetByIdAsync("acme"));

        await Assert.ThrowsAsync<InvalidOperationException>(() => read.Tenants.GetByIdAsync("acme"));
    }

    [Fact]
    public async Task ReadOneStatement_RefusesWrites()
    {
        var store = await OpenNodeAsync();

        await using var read = await store.ReadOneStatementAsync();
        var error = await Assert.ThrowsAsync<PostgresException>(() =>
            read.Tenants.TryInsertAsync(new Tenant(Ids.NewTenantUid(), "acme", null, TenantState.Active, T0, T0)));

        Assert.Equal(PostgresErrorCodes.ReadOnlySqlTransaction, error.SqlState);
    }

    [Fact]
    public async Task ReadSession_RefusesWrites()
    {
        var store = await OpenNodeAsync();

        await using var read = await store.ReadAsync();
        var error = await Assert.ThrowsAsync<PostgresException>(() =>
            read.Tenants.TryInsertAsync(new Tenant(Ids.NewTenantUid(), "acme", null, TenantState.Active, T0, T0)));

        Assert.Equal(PostgresErrorCodes.ReadOnlySqlTransaction, error.SqlState);
    }

    [Fact]
    public async Task Open_WrongPassword_NoExceptionOrLogLineContainsThePassword()
    {
        // Arrange: a role that must give its password (only the test superuser is trusted).
        var role = "kw_role_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var rightPassword = "right-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var wrongPassword = "wrong-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        await _cluster.ExecuteAsync($"CREATE ROLE {role} LOGIN PASSWORD '{rightPassword}'");
        using var logs = new LogCapture();
        await using var store = PostgresStore.Create(_cluster.ConnectionString(_database, role, wrongPassword), logs.CreateLogger("store"));

        // Act
        var error = await Record.ExceptionAsync(() => store.OpenAsync());

        // Assert: refused by the server, and the password is nowhere in what a caller or an operator would see.
        var refused = Assert.IsType<PostgresException>(error);
        Assert.Equal(PostgresErrorCodes.InvalidPassword, refused.SqlState);
        foreach (var text in new[] { error.ToString(), error.Message, refused.MessageText, refused.Detail ?? "", store.Target, logs.All })
        {
            Assert.DoesNotContain(wrongPassword, text, StringComparison.Ordinal);
            Assert.DoesNotContain(rightPassword, text, StringComparison.Ordinal);
        }

        Assert.Contains(role, store.Target, StringComparison.Ordinal);
        await _cluster.ExecuteAsync($"DROP ROLE {role}");
    }

    [Fact]
    public async Task Open_RightPassword_Succeeds()
    {
        var role = "kw_role_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var password = "right-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        await _cluster.ExecuteAsync($"CREATE ROLE {role} LOGIN PASSWORD '{password}'");
        await _cluster.ExecuteAsync($"ALTER DATABASE {_database} OWNER TO {role}");
        await using var store = PostgresStore.Create(_cluster.ConnectionString(_database, role, password));

        await store.OpenAsync();

        Assert.Equal(0, (await WriteAsync(store, s => s.Audit.GetHeadAsync())).Seq);
        await store.DisposeAsync();
        await _cluster.ExecuteAsync($"DROP DATABASE {_database} WITH (FORCE)");
        await _cluster.ExecuteAsync($"DROP ROLE {role}");
    }

    [Theory]
    [InlineData("Host=127.0.0.1;Username=keyward;Password=hunter2-secret")]
    [InlineData("Host=127.0.0.1;Database=;Username=keyward;Password=hunter2-secret")]
    [InlineData("Host=127.0.0.1;Database= ;Username=keyward;Password=hunter2-secret")]
    public void Create_WithoutADatabase_IsRefusedWithoutEchoingThePassword(string connectionString)
    {
        var error = Assert.Throws<ArgumentException>(() => PostgresStore.Create(connectionString));

        Assert.Contains("Database=", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Create_MalformedConnectionString_IsRefusedWithoutEchoingIt()
    {
        var error = Assert.Throws<ArgumentException>(() => PostgresStore.Create("Host=127.0.0.1;Database=kw;Password=hunter2-secret;Port=not-a-port"));

        Assert.DoesNotContain("hunter2", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_Target_OmitsThePassword()
    {
        await using var store = PostgresStore.Create("Host=db.internal;Database=keyward;Username=keyward;Password=hunter2-secret");

        Assert.DoesNotContain("hunter2", store.Target, StringComparison.Ordinal);
        Assert.Contains("keyward", store.Target, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TryLead_OneNodeAtATime_TheOtherTakesOverWhenItLetsGo()
    {
        // Arrange
        var a = await OpenNodeAsync();
        var b = await OpenNodeAsync();

        // Act
        var first = await a.TryLeadAsync("sweeper");
        var second = await b.TryLeadAsync("sweeper");
        var otherRole = await b.TryLeadAsync("something-else");
        var stillHeld = first is not null && await first.StillHeldAsync();
        await first!.DisposeAsync();
        var takeover = await b.TryLeadAsync("sweeper");

        // Assert
        Assert.NotNull(first);
        Assert.Null(second);
        Assert.NotNull(otherRole);
        Assert.True(stillHeld);
        Assert.NotNull(takeover);
        await otherRole!.DisposeAsync();
        await takeover!.DisposeAsync();
    }

    [Fact]
    public async Task TryLead_HoldersConnectionKilled_LeadershipPassesToAnotherNode()
    {
        // Arrange: A leads; its connection is terminated from outside (as when the node dies)
        var a = await OpenNodeAsync();
        var b = await OpenNodeAsync();
        var lead = await a.TryLeadAsync("sweeper");
        Assert.NotNull(lead);
        Assert.Null(await b.TryLeadAsync("sweeper"));

        // Act: terminated, and waited for (up to 10 s) until the backend has exited and so released its lock; without
        // the wait, B could ask while the signalled backend still holds it.
        await QueryAsync<bool>(
            "SELECT bool_or(pg_terminate_backend(pid, 10000)) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() " +
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())");

        // Assert
        Assert.False(await lead!.StillHeldAsync());
        var takeover = await b.TryLeadAsync("sweeper");
        Assert.NotNull(takeover);
        await takeover!.DisposeAsync();
        await lead.DisposeAsync();
    }
}
