using System.CommandLine;
using System.Text.Json;
using Keyward.Cli.Cli;
using Keyward.Client;
using Keyward.Client.Models;

namespace Keyward.Cli.Commands;

/// <summary>
/// <c>keyward auth jwt</c>: JWT issuer registrations (tenant admin token) and JWT login. The JWT is read from a file
/// or stdin, never taken as an argument (it would land in shell history and in the process list).
/// </summary>
internal static class AuthJwtCommand
{
    /// <summary>The <c>auth</c> group; if another <c>auth</c> command exists, add <see cref="CreateJwt"/> to it instead.</summary>
    public static Command CreateAuth()
    {
        var command = new Command("auth", "Authentication: workload identity from outside (JWT).");
        command.Subcommands.Add(CreateJwt());
        return command;
    }

    public static Command CreateJwt()
    {
        var connection = new ConnectionOptions();
        var command = new Command("jwt", "JWT issuers (tenant admin token) and login with a JWT.");
        connection.AddTo(command);
        var issuers = new Command("issuers", "Register, show, list and delete JWT issuers: put, get, list, delete.");
        issuers.Subcommands.Add(Put(connection));
        issuers.Subcommands.Add(Get(connection));
        issuers.Subcommands.Add(List(connection));
        issuers.Subcommands.Add(Delete(connection));
        command.Subcommands.Add(issuers);
        command.Subcommands.Add(Login(connection));
        return command;
    }

    private static Argument<string> Name() => new("NAME") { Description = "The registration's name: [A-Za-z0-9][A-Za-z0-9._-]{0,63}." };

    private static Command Put(ConnectionOptions connection)
    {
        var name = Name();
        var issuer = new Option<string?>("--issuer") { Description = "The issuer exactly as the JWTs' 'iss' claim carries it.", HelpName = "ISS" };
        var publicKeys = new Option<string[]>("--public-key-file") { Description = "A PEM public key file (RSA ≥ 2048 bits or EC P-256); repeat for each key.", HelpName = "FILE" };
        var jwks = new Option<string?>("--jwks-file") { Description = "A JWK Set file ({\"keys\": [...]}) instead of PEM keys.", HelpName = "FILE" };
        var audiences = new Option<string[]>("--audience") { Description = "A bound audience the JWT must carry (required; repeat for each).", HelpName = "AUD" };
        var bindings = new Option<string[]>("--bind")
        {
            Description = "A binding 'ROLE:sub=PATTERN' or 'ROLE:CLAIM=PATTERN,CLAIM=PATTERN' ('sub' is the subject; '*' matches any run of characters). Repeat for each.",
            HelpName = "BINDING",
        };
        var skew = new Option<string?>("--clock-skew") { Description = "Clock skew allowed on exp/nbf: default 30s, at most 5m.", HelpName = "DURATION" };
        var command = new Command("put", "Register or replace a JWT issuer. Keys are read from local files and sent inline.")
        {
            name, issuer, publicKeys, jwks, audiences, bindings, skew,
        };
        ClientAction.Set(command, connection, async run =>
        {
            var pemFiles = run.Get(publicKeys) ?? [];
            var jwksFile = run.Get(jwks);
            if ((pemFiles.Length > 0) == (jwksFile is not null))
            {
                throw new UsageException("Give either --public-key-file (one or more) or --jwks-file.");
            }

            var definition = new JwtIssuerDefinition(
                run.Get(issuer) ?? throw new UsageException("--issuer is required."),
                run.Get(audiences) ?? [],
                (run.Get(bindings) ?? []).Select(ParseBinding).ToArray())
            {
                PublicKeys = pemFiles.Length > 0 ? pemFiles.Select(f => ReadFile(f, "--public-key-file")).ToArray() : null,
                Jwks = jwksFile is null ? null : ParseJwks(ReadFile(jwksFile, "--jwks-file"), jwksFile),
                ClockSkew = run.Get(skew) is { } text ? Parsing.Duration(text, "--clock-skew") : null,
            };
            Print(run.Output, await run.Client.PutJwtIssuerAsync(run.Get(name)!, definition, run.CancellationToken));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Get(ConnectionOptions connection)
    {
        var name = Name();
        var command = new Command("get", "Show one JWT issuer registration.") { name };
        ClientAction.Set(command, connection, async run =>
        {
            Print(run.Output, await run.Client.GetJwtIssuerAsync(run.Get(name)!, run.CancellationToken));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(ConnectionOptions connection)
    {
        var command = new Command("list", "List the tenant's JWT issuer registrations.");
        ClientAction.Set(command, connection, async run =>
        {
            var issuers = await run.Client.ListJwtIssuersAsync(run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { issuers });
            }
            else
            {
                Output.Table(
                    ["NAME", "ISSUER", "KEYS", "AUDIENCES", "BINDINGS"],
                    issuers.Select(i => new[]
                    {
                        i.Name, i.Issuer, i.Keys.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), string.Join(',', i.BoundAudiences),
                        i.Bindings.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    }));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Delete(ConnectionOptions connection)
    {
        var name = Name();
        var command = new Command("delete", "Delete a JWT issuer registration; every session it issued is revoked.") { name };
        ClientAction.Set(command, connection, async run =>
        {
            var issuer = run.Get(name)!;
            await run.Client.DeleteJwtIssuerAsync(issuer, run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { name = issuer, deleted = true });
            }
            else
            {
                Output.Line($"JWT issuer {issuer} deleted; its sessions are revoked.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Login(ConnectionOptions connection)
    {
        var tenant = new Option<string?>("--tenant") { Description = "The tenant that registered the JWT's issuer.", HelpName = "ID" };
        var role = new Option<string?>("--role") { Description = "The role to log in with (a binding of the issuer must grant it).", HelpName = "ROLE" };
        var jwtFile = new Option<string?>("--jwt-file")
        {
            Description = "The file holding the JWT ('-' for stdin), e.g. /var/run/secrets/kubernetes.io/serviceaccount/token. Never on the command line.",
            HelpName = "FILE",
        };
        var command = new Command("login", "Exchange a JWT for an agent session (sends no Keyward token). Prints the session token.") { tenant, role, jwtFile };
        ClientAction.Set(command, connection, async run =>
        {
            var file = run.Get(jwtFile) ?? throw new UsageException("--jwt-file is required ('-' reads stdin).");
            var jwt = (file == "-" ? await Console.In.ReadToEndAsync(run.CancellationToken) : ReadFile(file, "--jwt-file")).Trim();
            if (jwt.Length == 0)
            {
                throw new UsageException("The JWT is empty.");
            }

            var session = await run.Client.LoginWithJwtAsync(
                run.Get(tenant) ?? throw new UsageException("--tenant is required."),
                run.Get(role) ?? throw new UsageException("--role is required."),
                jwt,
                run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(session);
            }
            else
            {
                Output.Fields(
                    ("Token", session.Token),
                    ("Accessor", session.Accessor),
                    ("Tenant", session.Tenant),
                    ("Agent", session.AgentId),
                    ("Role", session.Role),
                    ("Expires at", session.ExpiresAt is { } at ? Output.Instant(at) : null));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary><c>ROLE:sub=PATTERN</c> or <c>ROLE:CLAIM=PATTERN,CLAIM=PATTERN</c>.</summary>
    internal static JwtBindingRule ParseBinding(string text)
    {
        var colon = text.IndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            throw new UsageException($"--bind '{text}' is not ROLE:sub=PATTERN or ROLE:CLAIM=PATTERN,... (for example 'reader:sub=system:serviceaccount:ci:*').");
        }

        string? subject = null;
        var claims = new Dictionary<string, string>(StringComparer.Ordinal);
        var rest = text[(colon + 1)..];

        // A subject pattern may itself contain ',' and ':' (SPIFFE ids, service accounts): 'sub=' takes the rest.
        if (rest.StartsWith("sub=", StringComparison.Ordinal))
        {
            subject = rest[4..];
        }
        else
        {
            foreach (var pair in rest.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = pair.IndexOf('=');
                if (equals <= 0)
                {
                    throw new UsageException($"--bind '{text}': '{pair}' is not CLAIM=PATTERN.");
                }

                claims[pair[..equals]] = pair[(equals + 1)..];
            }
        }

        return new JwtBindingRule(text[..colon], subject, claims.Count == 0 ? null : claims);
    }

    private static string ReadFile(string path, string option)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"Cannot read {option} '{path}': {error.GetType().Name}.");
        }
    }

    private static JsonElement ParseJwks(string text, string path)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw new UsageException($"--jwks-file '{path}' is not JSON.");
        }
    }

    private static void Print(Output output, KeywardJwtIssuer issuer)
    {
        if (output.IsJson)
        {
            Output.Json(issuer);
            return;
        }

        Output.Fields(
            ("Name", issuer.Name),
            ("Issuer", issuer.Issuer),
            ("Node", issuer.Node),
            ("Audiences", string.Join(", ", issuer.BoundAudiences)),
            ("Clock skew", Durations.Format(issuer.ClockSkew)),
            ("Created at", Output.Instant(issuer.CreatedAt)),
            ("Updated at", Output.Instant(issuer.UpdatedAt)));
        Output.Line();
        Output.Table(["KID", "KTY", "ALG", "THUMBPRINT"], issuer.Keys.Select(k => new[] { k.Kid, k.Kty, k.Alg, k.Thumbprint }));
        Output.Line();
        Output.Table(
            ["ROLE", "SUBJECT", "CLAIMS"],
            issuer.Bindings.Select(b => new[] { b.Role, b.Subject, b.Claims is null ? null : string.Join(',', b.Claims.Select(c => c.Key + "=" + c.Value)) }));
    }
}
