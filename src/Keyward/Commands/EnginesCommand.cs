using System.CommandLine;
using Keyward.Cli.Cli;
using Keyward.Client;
using Keyward.Client.Models;

namespace Keyward.Cli.Commands;

/// <summary>
/// <c>keyward engines postgres</c>: a tenant's PostgreSQL connections and roles (tenant admin token); <c>keyward creds
/// postgres</c>: a login of the caller's own (read on creds/postgres/NAME/ROLE).
/// </summary>
internal static class EnginesCommand
{
    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var postgres = new Command("postgres", "PostgreSQL connections and roles for dynamic credentials (tenant admin token).");
        postgres.Subcommands.Add(Put(connection));
        postgres.Subcommands.Add(Get(connection));
        postgres.Subcommands.Add(List(connection));
        postgres.Subcommands.Add(Delete(connection));
        postgres.Subcommands.Add(RotateRoot(connection));
        postgres.Subcommands.Add(RolePut(connection));
        postgres.Subcommands.Add(Roles(connection));
        postgres.Subcommands.Add(RoleDelete(connection));
        var command = new Command("engines", "Manage secrets engines (tenant admin token): postgres.") { postgres };
        connection.AddTo(command);
        return command;
    }

    /// <summary><c>keyward creds postgres NAME ROLE</c>.</summary>
    public static Command CreateCreds()
    {
        var connection = new ConnectionOptions();
        var name = ConnectionName();
        var role = RoleName();
        var wrapTtl = WrapTtlOption.Create();
        var postgres = new Command("postgres", "A new PostgreSQL login of this token's own, with VALID UNTIL, dropped when its lease ends (revoke it with 'leases revoke').") { name, role, wrapTtl };
        ClientAction.Set(postgres, connection, async run =>
        {
            if (WrapTtlOption.Get(run, wrapTtl) is { } ttl)
            {
                WrapTtlOption.Print(run, await run.Client.CreatePostgresCredentialWrappedAsync(run.Get(name)!, run.Get(role)!, ttl, run.CancellationToken));
                return ExitCodes.Ok;
            }

            var login = await run.Client.CreatePostgresCredentialAsync(run.Get(name)!, run.Get(role)!, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { username = login.Username, password = login.Password, lease_id = login.LeaseId, lease_duration = (long)login.LeaseDuration.TotalSeconds, renewable = login.Renewable });
            }
            else
            {
                Output.Fields(("Username", login.Username), ("Password", login.Password), ("Lease", login.LeaseId), ("Lease duration", Durations.Format(login.LeaseDuration)));
            }

            return ExitCodes.Ok;
        });
        var command = new Command("creds", "Get dynamic credentials: postgres.") { postgres };
        connection.AddTo(command);
        return command;
    }

    private static Argument<string> ConnectionName() => new("NAME") { Description = "The connection's name: [A-Za-z0-9][A-Za-z0-9._-]{0,63}." };

    private static Argument<string> RoleName() => new("ROLE") { Description = "The role's name: [A-Za-z0-9][A-Za-z0-9._-]{0,63}." };

    private static Command Put(ConnectionOptions connection)
    {
        var name = ConnectionName();
        var url = new Option<string>("--url") { Description = "postgresql://host:port/db?sslmode=… or Host=…;Port=…;Database=… (no credentials).", HelpName = "URL", Required = true };
        var username = new Option<string>("--username") { Description = "The login Keyward uses (LOGIN CREATEROLE, member of pg_signal_backend).", HelpName = "USER", Required = true };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read that login's password from standard input (or a prompt); without it, a replaced connection keeps its stored password." };
        var maxOpen = new Option<int?>("--max-open-leases") { Description = "At most this many logins at once.", HelpName = "N" };
        var command = new Command("put", "Register or replace a connection (Keyward logs in to check it; the password is sealed, never shown again).")
        {
            name, url, username, passwordStdin, maxOpen,
        };
        ClientAction.Set(command, connection, async run =>
        {
            string? password = null;
            if (run.Get(passwordStdin))
            {
                password = SecretInput.ReadLine("Password: ") is { Length: > 0 } given ? given : throw new UsageException("No password on standard input.");
            }

            Print(run.Output, await run.Client.PutPostgresConnectionAsync(
                run.Get(name)!, new PostgresConnectionSpec(run.Get(url)!, run.Get(username)!, password, run.Get(maxOpen)), run.CancellationToken));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Get(ConnectionOptions connection)
    {
        var name = ConnectionName();
        var command = new Command("get", "Show a connection (never its password).") { name };
        ClientAction.Set(command, connection, async run =>
        {
            Print(run.Output, await run.Client.GetPostgresConnectionAsync(run.Get(name)!, run.CancellationToken));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(ConnectionOptions connection)
    {
        var command = new Command("list", "List the tenant's connections.");
        ClientAction.Set(command, connection, async run =>
        {
            var connections = await run.Client.ListPostgresConnectionsAsync(run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { connections });
            }
            else
            {
                Output.Table(["NAME", "URL", "USERNAME", "MAX_OPEN", "ROOT_ROTATED"],
                    connections.Select(c => new[] { c.Name, c.ConnectionUrl, c.Username, Output.Number(c.MaxOpenLeases), c.RootRotatedAt is null ? "-" : Output.Instant(c.RootRotatedAt) }));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Delete(ConnectionOptions connection)
    {
        var name = ConnectionName();
        var command = new Command("delete", "Delete a connection and its roles (refused while any of its logins exists).") { name };
        ClientAction.Set(command, connection, async run =>
        {
            await run.Client.DeletePostgresConnectionAsync(run.Get(name)!, run.CancellationToken);
            Output.Error.WriteLine($"Deleted connection {run.Get(name)}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command RotateRoot(ConnectionOptions connection)
    {
        var name = ConnectionName();
        var command = new Command("rotate-root", "Give Keyward's own login a new random password nobody has seen.") { name };
        ClientAction.Set(command, connection, async run =>
        {
            Print(run.Output, await run.Client.RotatePostgresRootAsync(run.Get(name)!, run.CancellationToken));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command RolePut(ConnectionOptions connection)
    {
        var name = ConnectionName();
        var role = RoleName();
        var creation = new Option<string[]>("--creation") { Description = "A creation statement with {{name}}, {{password}}, {{expiration}} (repeat, in order).", HelpName = "SQL", Required = true };
        var revocation = new Option<string[]>("--revocation") { Description = "A revocation statement (repeat; default: revoke what it holds in schema public).", HelpName = "SQL" };
        var defaultTtl = new Option<string?>("--default-ttl") { Description = "A login's first lease, such as 1h.", HelpName = "DURATION" };
        var maxTtl = new Option<string?>("--max-ttl") { Description = "The longest a login may be renewed to, such as 24h.", HelpName = "DURATION" };
        var command = new Command("role-put", "Create or replace a role of a connection.") { name, role, creation, revocation, defaultTtl, maxTtl };
        ClientAction.Set(command, connection, async run =>
        {
            var defined = await run.Client.PutPostgresRoleAsync(
                run.Get(name)!, run.Get(role)!, run.Get(creation)!, run.Get(revocation) is { Length: > 0 } r ? r : null,
                run.Get(defaultTtl) is { } d ? Parsing.Duration(d, "--default-ttl") : null,
                run.Get(maxTtl) is { } m ? Parsing.Duration(m, "--max-ttl") : null, run.CancellationToken);
            PrintRole(run.Output, defined);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Roles(ConnectionOptions connection)
    {
        var name = ConnectionName();
        var command = new Command("roles", "List a connection's roles.") { name };
        ClientAction.Set(command, connection, async run =>
        {
            var roles = await run.Client.ListPostgresRolesAsync(run.Get(name)!, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { roles });
            }
            else
            {
                Output.Table(["ROLE", "DEFAULT_TTL", "MAX_TTL", "STATEMENTS"],
                    roles.Select(r => new[] { r.Name, Durations.Format(r.DefaultTtl), Durations.Format(r.MaxTtl), Output.Number(r.CreationStatements.Count) }));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command RoleDelete(ConnectionOptions connection)
    {
        var name = ConnectionName();
        var role = RoleName();
        var command = new Command("role-delete", "Delete a role (refused while any of its logins exists).") { name, role };
        ClientAction.Set(command, connection, async run =>
        {
            await run.Client.DeletePostgresRoleAsync(run.Get(name)!, run.Get(role)!, run.CancellationToken);
            Output.Error.WriteLine($"Deleted role {run.Get(role)} of {run.Get(name)}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Print(Output output, PostgresConnection c)
    {
        if (output.IsJson)
        {
            Output.Json(c);
            return;
        }

        Output.Fields(("Name", c.Name), ("URL", c.ConnectionUrl), ("Username", c.Username), ("Max open leases", Output.Number(c.MaxOpenLeases)),
            ("Updated", Output.Instant(c.UpdatedAt)), ("Root rotated", c.RootRotatedAt is null ? "-" : Output.Instant(c.RootRotatedAt)));
    }

    private static void PrintRole(Output output, PostgresRole r)
    {
        if (output.IsJson)
        {
            Output.Json(r);
            return;
        }

        Output.Fields(("Role", r.Name), ("Connection", r.Connection), ("Default TTL", Durations.Format(r.DefaultTtl)), ("Max TTL", Durations.Format(r.MaxTtl)),
            ("Creation statements", string.Join(" ; ", r.CreationStatements)));
    }
}
