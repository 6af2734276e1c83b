using System.CommandLine;
using System.Globalization;
using Keyward.Cli.Cli;
using Keyward.Cli.Migration;
using Keyward.Storage.Postgres;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Keyward.Cli.Commands;

/// <summary>
/// <c>keyward operator migrate</c>: copies a stopped server's SQLite store into an empty PostgreSQL database, in one
/// transaction, then verifies every table. Works on Storage directly (like <c>operator audit verify</c>); never prints a
/// value or the connection string's password.
/// </summary>
internal static class MigrateCommand
{
    public static Command Create(ConnectionOptions connection)
    {
        var from = new Option<string>("--from-data") { Description = "The STOPPED server's data directory (holds keyward.db).", Required = true, HelpName = "DIR" };
        var to = new Option<string?>("--to-pg")
        {
            Description = $"The target's Npgsql connection string (Host=…;Database=…;Username=…). Default: ${ServerCommand.PostgresVariable}, which keeps the password out of the process list.",
            HelpName = "CONN",
        };
        var command = new Command(
            "migrate",
            "Copy a stopped server's SQLite store into an EMPTY PostgreSQL database, in one transaction (all or nothing), then verify every table " +
            "(row counts and SHA-256 over every row). Offline: it holds SQLite's write lock for the whole copy, so no server may use the data " +
            "directory meanwhile; it refuses a target that holds any Keyward data. Only ciphertexts and wrapped keys are copied: the same unseal " +
            "key shares unseal a server on the PostgreSQL database. Exit code 5 if the verification finds a mismatch.")
        {
            from, to,
        };
        command.SetAction((parse, cancellationToken) => Guard.RunAsync(async () =>
        {
            var json = connection.CreateOutput(parse).IsJson;
            var target = parse.GetValue(to);
            if (string.IsNullOrWhiteSpace(target))
            {
                target = Environment.GetEnvironmentVariable(ServerCommand.PostgresVariable);
            }

            if (string.IsNullOrWhiteSpace(target))
            {
                throw new UsageException($"No target: give --to-pg \"Host=…;Database=…;Username=…\" or set {ServerCommand.PostgresVariable}.");
            }

            return await RunAsync(parse.GetValue(from)!, target, json, cancellationToken);
        }));
        return command;
    }

    private static async Task<int> RunAsync(string dataDirectory, string connectionString, bool json, CancellationToken cancellationToken)
    {
        // Validates the connection string (its errors never quote it) and, once open, applies the PostgreSQL schema.
        await using var store = PostgresStore.Create(connectionString);
        var given = new NpgsqlConnectionStringBuilder(connectionString);
        var password = given.Password;
        var described = new NpgsqlConnectionStringBuilder { Host = given.Host, Port = given.Port, Database = given.Database, Username = given.Username }.ConnectionString;
        var committed = false;
        try
        {
            // The data directory's lock first: a server running on it, even idle, holds it.
            using var directoryLock = RefusingNow(() => SqliteToPostgres.LockSource(dataDirectory));
            using var source = RefusingNow(() => SqliteToPostgres.OpenSource(dataDirectory, exclusive: true));
            var sourceVersion = SqliteToPostgres.SourceSchemaVersion;
            try
            {
                await store.OpenAsync(cancellationToken);
            }
            finally
            {
                await store.DisposeAsync();
            }

            var builder = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, Enlist = false };
            await using var target = new NpgsqlConnection(builder.ConnectionString);
            await target.OpenAsync(cancellationToken);

            IReadOnlyList<(string Table, long Rows)> copied;
            IReadOnlyList<TableCheck> checks;
            bool ok;
            await using (var transaction = await target.BeginTransactionAsync(cancellationToken))
            {
                await Refusing(() => SqliteToPostgres.EnsureEmptyAsync(target, transaction, cancellationToken));
                var shapes = await Refusing(() => SqliteToPostgres.ShapesAsync(source, target, transaction, cancellationToken));
                copied = await SqliteToPostgres.CopyAsync(source, target, transaction, shapes, Progress, cancellationToken);

                // Verified inside the copy's transaction: a copy that does not match is rolled back, never committed.
                checks = await SqliteToPostgres.VerifyAsync(source, target, transaction, cancellationToken);
                ok = checks.All(c => c.Ok);
                if (ok)
                {
                    await transaction.CommitAsync(cancellationToken);
                    committed = true;
                }
            }

            if (json)
            {
                Output.Json(new
                {
                    source = Path.Combine(Path.GetFullPath(dataDirectory), Storage.Sqlite.SqliteStore.FileName),
                    source_schema = sourceVersion,
                    target = described,
                    tables = checks.Select(c => new { table = c.Table, rows = c.SourceRows, target_rows = c.TargetRows, ok = c.Ok }),
                    ok,
                });
            }
            else
            {
                Output.Line($"Copied {Path.Combine(Path.GetFullPath(dataDirectory), Storage.Sqlite.SqliteStore.FileName)} (schema {sourceVersion}) to PostgreSQL ({described}).");
                Output.Line();
                Output.Table(
                    ["TABLE", "ROWS", "TARGET ROWS", "VERIFIED"],
                    checks.Select(c => (IReadOnlyList<string?>)[
                        c.Table, Number(c.Table == "event_counter" ? 1 : c.SourceRows), Number(c.TargetRows), c.Ok ? "OK" : "MISMATCH"]));
                Output.Line();
                if (ok)
                {
                    Output.Line($"Verified: {checks.Count} tables, row counts and SHA-256 over every row match ({copied.Sum(c => c.Rows)} rows copied).");
                    Output.Line("Only ciphertexts and wrapped keys were copied: unseal a server on this database with the SAME unseal key shares");
                    Output.Line("(keyward server --storage postgres --pg …). Keep the SQLite data directory until that server runs; do not start");
                    Output.Line("a server on both stores: they would diverge.");
                }
                else
                {
                    var bad = string.Join(", ", checks.Where(c => !c.Ok).Select(c => c.Table));
                    Output.Line($"MISMATCH in {bad}: the copy differs from the source, so it was rolled back; the target is still empty.");
                }
            }

            return ok ? ExitCodes.Ok : ExitCodes.VerificationFailed;
        }
        catch (Exception error) when (error is NpgsqlException or InvalidOperationException or SqliteException)
        {
            // Npgsql and SQLite messages name tables and servers, never values; the password is masked regardless.
            var message = Mask(error.Message, password);
            var code = error is NpgsqlException and not PostgresException ? ExitCodes.Unavailable : ExitCodes.Refused;
            var state = committed
                ? "the copy was committed but could not be verified; drop and recreate the database before migrating again"
                : "nothing was committed to the target";
            throw new CommandFailedException(code, $"Migration failed ({state}): {message}");
        }
    }

    private static void Progress(string table, long copied, long total) =>
        Output.Error.WriteLine($"{table} {copied.ToString(CultureInfo.InvariantCulture)}/{total.ToString(CultureInfo.InvariantCulture)}");

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Mask(string text, string? password) =>
        string.IsNullOrEmpty(password) ? text : text.Replace(password, "***", StringComparison.Ordinal);

    private static T RefusingNow<T>(Func<T> work)
    {
        try
        {
            return work();
        }
        catch (MigrationRefusedException refused)
        {
            throw new CommandFailedException(refused.Conflict ? ExitCodes.Refused : ExitCodes.Usage, refused.Message);
        }
    }

    private static async Task Refusing(Func<Task> work)
    {
        try
        {
            await work();
        }
        catch (MigrationRefusedException refused)
        {
            throw new CommandFailedException(refused.Conflict ? ExitCodes.Refused : ExitCodes.Usage, refused.Message);
        }
    }

    private static async Task<T> Refusing<T>(Func<Task<T>> work)
    {
        try
        {
            return await work();
        }
        catch (MigrationRefusedException refused)
        {
            throw new CommandFailedException(refused.Conflict ? ExitCodes.Refused : ExitCodes.Usage, refused.Message);
        }
    }
}
