using System.Threading.Channels;
using Keyward.Core.Secrets;
using Keyward.Core.Storage;
using Keyward.Storage.Postgres.Stores;
using Npgsql;

namespace Keyward.Storage.Postgres;

/// <summary>
/// Secret reads of concurrent requests, answered together: a few readers, each on a connection of the read pool, take
/// whatever reads are waiting and answer them with one statement (one round trip, one snapshot) — the way the group
/// committer shares one commit among many writes. Idle, a read goes out at once on its own; under load the reads that
/// arrive while the readers are busy wait for the next free reader and go together.
/// </summary>
/// <remarks>
/// A read's statement starts after the read was asked for, so it sees every commit that preceded the request — on this
/// node or another: batching keeps "a write on A is read on B at once". Each read is its own row of the statement,
/// matched by its position (the rows carry their ordinal); a row that cannot be decoded fails only its own read.
/// </remarks>
internal sealed class PostgresSecretReads : IAsyncDisposable
{
    /// <summary>Reads in flight at once (round trips, connections): few, so that reads waiting behind them group.</summary>
    public const int Readers = 2;

    /// <summary>Bounds one statement; beyond this the next batch starts right away.</summary>
    public const int MaxBatch = 64;

    /// <summary>
    /// Every read of the batch is one row of <c>unnest</c>, joined <c>LATERAL</c> so that each looks up its secret and
    /// version by primary key, as the single read does (<see cref="PostgresSecretStore.ReadAsync"/>); the version is the
    /// one asked for, or the one holding the stage (0 current, 1 previous, 2 pending: <see cref="SecretStage"/>).
    /// </summary>
    private const string Sql =
        $"""
        SELECT x.*, r.i, ({PostgresSession.SecretGenerationSql})
        FROM unnest($1::text[], $2::text[], $3::bigint[], $4::integer[]) WITH ORDINALITY AS r(uid, path, version, stage, i)
        CROSS JOIN LATERAL (
            SELECT {PostgresSecretStore.MetadataColumns},
                v.version AS v_version, v.key_version, v.ciphertext, v.created_at AS v_created_at, v.deleted_at, v.destroyed_at
            FROM secrets m LEFT JOIN secret_versions v
              ON v.tenant_uid = m.tenant_uid AND v.path = m.path
             AND v.version = COALESCE(r.version, CASE r.stage WHEN 2 THEN m.pending_version WHEN 1 THEN m.previous_version ELSE m.current_version END)
            WHERE m.tenant_uid = r.uid AND m.path = r.path) x
        """;

    private const int OrdinalColumn = PostgresSecretStore.VersionOffset + 6;

    private const int GenerationColumn = OrdinalColumn + 1;

    private readonly NpgsqlDataSource _readSource;
    private readonly Channel<Request> _queue = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = false });
    private readonly Task[] _readers;

    public PostgresSecretReads(NpgsqlDataSource readSource)
    {
        _readSource = readSource;
        _readers = [.. Enumerable.Range(0, Readers).Select(_ => Task.Run(ReadLoopAsync))];
    }

    /// <summary>
    /// The secret's metadata and the wanted version (null when that version does not exist), or null when there is no
    /// such secret; with the secret generation the statement saw (0 when the secret does not exist).
    /// </summary>
    public Task<((SecretMetadata Metadata, SecretVersion? Version)? Row, long Generation)> ReadAsync(
        string tenantUid, string path, long? version, SecretStage stage, CancellationToken cancellationToken)
    {
        var request = new Request(tenantUid, path, version, stage);
        if (!_queue.Writer.TryWrite(request))
        {
            throw new ObjectDisposedException(nameof(PostgresStore));
        }

        return cancellationToken.CanBeCanceled ? request.Completion.Task.WaitAsync(cancellationToken) : request.Completion.Task;
    }

    private async Task ReadLoopAsync()
    {
        var batch = new List<Request>(MaxBatch);
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < MaxBatch && reader.TryRead(out var request))
            {
                batch.Add(request);
            }

            if (batch.Count == 0)
            {
                continue;
            }

            try
            {
                await ReadBatchAsync(batch);
            }
#pragma warning disable CA1031 // Whatever failed the statement fails its reads; it must not end the loop.
            catch (Exception error)
#pragma warning restore CA1031
            {
                batch.ForEach(r => r.Completion.TrySetException(error));
            }
        }
    }

    private async Task ReadBatchAsync(List<Request> batch)
    {
        var uids = new string[batch.Count];
        var paths = new string[batch.Count];
        var versions = new long?[batch.Count];
        var stages = new int[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            (uids[i], paths[i], versions[i], stages[i]) = (batch[i].TenantUid, batch[i].Path, batch[i].Version, (int)batch[i].Stage);
        }

        await using var connection = await _readSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(Sql, connection);
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = uids });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = paths });
        command.Parameters.Add(new NpgsqlParameter<long?[]> { TypedValue = versions });
        command.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = stages });
        var found = new bool[batch.Count];
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var index = (int)reader.GetInt64(OrdinalColumn) - 1;
                var request = batch[index];
                found[index] = true;
                try
                {
                    var metadata = StoredRows.SecretMetadata(reader);
                    var version = reader.IsDBNull(PostgresSecretStore.VersionOffset)
                        ? null
                        : StoredRows.SecretVersion(reader, request.TenantUid, request.Path, PostgresSecretStore.VersionOffset, withCiphertext: true);
                    request.Completion.TrySetResult(((metadata, version), reader.GetInt64(GenerationColumn)));
                }
#pragma warning disable CA1031 // A row that cannot be decoded fails its own read only.
                catch (Exception error)
#pragma warning restore CA1031
                {
                    request.Completion.TrySetException(error);
                }
            }
        }

        for (var i = 0; i < batch.Count; i++)
        {
            if (!found[i])
            {
                batch[i].Completion.TrySetResult((null, 0));
            }
        }
    }

    /// <summary>Answers what is queued, then stops the readers; reads asked for afterwards are refused.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_readers);
    }

    private sealed record Request(string TenantUid, string Path, long? Version, SecretStage Stage)
    {
        public TaskCompletionSource<((SecretMetadata Metadata, SecretVersion? Version)? Row, long Generation)> Completion { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
