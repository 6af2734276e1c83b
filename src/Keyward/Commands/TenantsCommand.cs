using System.CommandLine;
using Keyward.Cli.Cli;
using Keyward.Client.Models;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward tenants</c>: onboard, list, show and offboard tenants, mint their tokens, rotate their keys (root token).</summary>
internal static class TenantsCommand
{
    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var command = new Command("tenants", "Manage tenants (root token): create, list, get, delete, mint tokens, rotate keys, lockdown and unlock.");
        connection.AddTo(command);
        command.Subcommands.Add(CreateTenant(connection));
        command.Subcommands.Add(List(connection));
        command.Subcommands.Add(Get(connection));
        command.Subcommands.Add(Delete(connection));
        command.Subcommands.Add(Token(connection));
        command.Subcommands.Add(RotateKey(connection));
        command.Subcommands.Add(Lockdown(connection));
        command.Subcommands.Add(Unlock(connection));
        return command;
    }

    private static Argument<string> Id(string description) => new("ID") { Description = description };

    private static Command CreateTenant(ConnectionOptions connection)
    {
        var id = Id("The new tenant's id: [a-z0-9][a-z0-9-]{0,62}. Ids are never reused.");
        var name = new Option<string?>("--name") { Description = "A display name." };
        var command = new Command("create", "Onboard a tenant.") { id, name };
        ClientAction.Set(command, connection, async run =>
        {
            Print(run.Output, await run.Client.CreateTenantAsync(run.Get(id)!, run.Get(name), run.CancellationToken));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(ConnectionOptions connection)
    {
        var command = new Command("list", "List every tenant, including retired ones.");
        ClientAction.Set(command, connection, async run =>
        {
            var tenants = await run.Client.ListTenantsAsync(run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { tenants });
            }
            else
            {
                Output.Table(["ID", "NAME", "STATE", "CREATED"], tenants.Select(t => new[] { t.Id, t.Name, t.State, Output.Instant(t.CreatedAt) }));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Get(ConnectionOptions connection)
    {
        var id = Id("The tenant's id.");
        var command = new Command("get", "Show one tenant.") { id };
        ClientAction.Set(command, connection, async run =>
        {
            Print(run.Output, await run.Client.GetTenantAsync(run.Get(id)!, run.CancellationToken));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Delete(ConnectionOptions connection)
    {
        var id = Id("The tenant's id.");
        var command = new Command("delete", "Offboard a tenant for good: lock it, revoke every token, destroy its key and retire its id. Its audit records stay (root only).") { id };
        ClientAction.Set(command, connection, async run =>
        {
            var tenant = run.Get(id)!;
            var outcome = await run.Client.DeleteTenantAsync(tenant, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { id = tenant, state = outcome == TenantDeletion.Pending ? "pending" : "completed" });
            }
            else
            {
                Output.Line(outcome == TenantDeletion.Pending
                    ? $"Tenant {tenant} is locked and its key destroyed; external clean-up is still pending."
                    : $"Tenant {tenant} is offboarded.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Token(ConnectionOptions connection)
    {
        var id = Id("The tenant's id.");
        var kind = new Option<string>("--kind") { Description = "admin (acts on the whole tenant) or orchestrator (bootstraps agents).", Required = true }
            .AcceptOnlyFromAmong("admin", "orchestrator");
        var ttl = new Option<string?>("--ttl") { Description = "Lifetime such as 90s, 10m, 1h, 7d (server default 1h, at most 30d).", HelpName = "DURATION" };
        var displayName = new Option<string?>("--display-name") { Description = "A name for the token, shown in the audit trail." };
        var command = new Command("token", "Mint a tenant admin or orchestrator token and print it (it is shown once).") { id, kind, ttl, displayName };
        ClientAction.Set(command, connection, async run =>
        {
            var lifetime = run.Get(ttl) is { } text ? Parsing.Duration(text, "--ttl") : (TimeSpan?)null;
            var tokenKind = run.Get(kind) == "orchestrator" ? TenantTokenKind.Orchestrator : TenantTokenKind.Admin;
            var token = await run.Client.CreateTenantTokenAsync(run.Get(id)!, tokenKind, lifetime, run.Get(displayName), run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { token = token.Token, accessor = token.Accessor, kind = token.Kind, tenant = token.Tenant, expires_at = token.ExpiresAt });
            }
            else
            {
                Output.Fields(("Token", token.Token), ("Accessor", token.Accessor), ("Kind", token.Kind), ("Tenant", token.Tenant), ("Expires at", Output.Instant(token.ExpiresAt)));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command RotateKey(ConnectionOptions connection)
    {
        var id = Id("The tenant's id.");
        var command = new Command("rotate-key", "Start a new tenant key version: new writes use it; old versions stay readable until 'keyward operator rewrap'.") { id };
        ClientAction.Set(command, connection, async run =>
        {
            var version = await run.Client.RotateTenantKeyAsync(run.Get(id)!, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { key_version = version });
            }
            else
            {
                Output.Fields(("Key version", version.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Lockdown(ConnectionOptions connection)
    {
        var id = Id("The tenant's id.");
        var reason = new Option<string>("--reason") { Description = "Why (recorded in the incident and the audit log).", HelpName = "TEXT", Required = true };
        var command = new Command(
            "lockdown",
            "The kill switch: revoke every token and lease of the tenant and refuse its requests (423) until 'tenants unlock'. Returns once everything is revoked in the store.")
        {
            id, reason,
        };
        ClientAction.Set(command, connection, async run =>
        {
            var text = run.Get(reason)!;
            if (string.IsNullOrWhiteSpace(text))
            {
                throw new UsageException("--reason must not be blank.");
            }

            var incident = await run.Client.LockdownTenantAsync(run.Get(id)!, text, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(incident);
            }
            else
            {
                Output.Fields(
                    ("Tenant", run.Get(id)),
                    ("Incident", incident.IncidentId),
                    ("Revoked tokens", Output.Number(incident.RevokedTokens)),
                    ("Revoked leases", Output.Number(incident.RevokedLeases)),
                    ("Pending external", Output.Number(incident.PendingExternal)),
                    ("Took", incident.TookMs.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture) + " ms"));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Unlock(ConnectionOptions connection)
    {
        var id = Id("The tenant's id.");
        var command = new Command("unlock", "Lift a lockdown. Tokens and leases it revoked stay revoked: mint new ones.") { id };
        ClientAction.Set(command, connection, async run =>
        {
            var tenant = run.Get(id)!;
            await run.Client.UnlockTenantAsync(tenant, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { id = tenant, locked = false });
            }
            else
            {
                Output.Line($"Tenant {tenant} is unlocked.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Print(Output output, KeywardTenant tenant)
    {
        if (output.IsJson)
        {
            Output.Json(tenant);
            return;
        }

        Output.Fields(("ID", tenant.Id), ("Name", tenant.Name), ("State", tenant.State), ("Created at", Output.Instant(tenant.CreatedAt)), ("Updated at", Output.Instant(tenant.UpdatedAt)));
    }
}
