using System.CommandLine;
using Keyward.Cli.Cli;
using Keyward.Client;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward leases</c>: list, renew and revoke leases (tenant token; orchestrator and agent tokens: their own subtree).</summary>
internal static class LeasesCommand
{
    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var command = new Command("leases", "Manage leases (tenant token; orchestrator and agent tokens see their own subtree): list, renew, revoke, revoke-prefix.");
        connection.AddTo(command);
        command.Subcommands.Add(List(connection));
        command.Subcommands.Add(Renew(connection));
        command.Subcommands.Add(Revoke(connection));
        command.Subcommands.Add(RevokePrefix(connection));
        return command;
    }

    private static Argument<string> LeaseId() => new("LEASE_ID") { Description = "The lease's id (as 'leases list' shows it)." };

    private static Command List(ConnectionOptions connection)
    {
        var prefix = new Option<string?>("--prefix") { Description = "Only leases whose path starts with this prefix (whole segments).", HelpName = "PREFIX" };
        var command = new Command("list", "List the leases this token may see.") { prefix };
        ClientAction.Set(command, connection, async run =>
        {
            var leases = await run.Client.ListLeasesAsync(run.Get(prefix), run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { leases });
            }
            else
            {
                Output.Table(
                    ["LEASE_ID", "PATH", "OWNER", "ISSUED", "EXPIRES", "RENEWABLE", "REVOKED"],
                    leases.Select(l => new[]
                    {
                        l.LeaseId, l.Path, l.OwnerAccessor, Output.Instant(l.IssuedAt), Output.Instant(l.ExpiresAt), l.Renewable ? "yes" : "no",
                        l.RevokedAt is null ? "-" : Output.Instant(l.RevokedAt),
                    }));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Renew(ConnectionOptions connection)
    {
        var leaseId = LeaseId();
        var increment = new Option<string>("--increment") { Description = "How much longer, such as 10m (never past the owner's expiry).", HelpName = "DURATION", Required = true };
        var command = new Command("renew", "Extend a lease.") { leaseId, increment };
        ClientAction.Set(command, connection, async run =>
        {
            var renewed = await run.Client.RenewLeaseAsync(run.Get(leaseId)!, Parsing.Duration(run.Get(increment)!, "--increment"), run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(renewed);
            }
            else
            {
                Output.Fields(("Lease", renewed.LeaseId), ("Expires at", Output.Instant(renewed.ExpiresAt)), ("Lease duration", Durations.Format(renewed.LeaseDuration)));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Revoke(ConnectionOptions connection)
    {
        var leaseId = LeaseId();
        var command = new Command("revoke", "Revoke one lease.") { leaseId };
        ClientAction.Set(command, connection, async run =>
        {
            var which = run.Get(leaseId)!;
            await run.Client.RevokeLeaseAsync(which, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { lease_id = which, revoked = true });
            }
            else
            {
                Output.Line($"Lease {which} revoked.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command RevokePrefix(ConnectionOptions connection)
    {
        var prefix = new Argument<string>("PREFIX") { Description = "Revoke every lease (this token may see) whose path starts with this prefix (whole segments)." };
        var command = new Command("revoke-prefix", "Revoke every lease under a path prefix.") { prefix };
        ClientAction.Set(command, connection, async run =>
        {
            var revoked = await run.Client.RevokeLeasesByPrefixAsync(run.Get(prefix)!, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { prefix = run.Get(prefix), revoked });
            }
            else
            {
                Output.Fields(("Prefix", run.Get(prefix)), ("Revoked", Output.Number(revoked)));
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
