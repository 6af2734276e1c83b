using System.CommandLine;
using System.Text;
using System.Text.Json;
using Keyward.Cli.Cli;
using Keyward.Client.Models;

namespace Keyward.Cli.Commands;

/// <summary>
/// <c>keyward integrations</c>: the gateway's upstreams (tenant admin token); <c>keyward gateway call</c>: one request
/// through an integration, its credential injected by the server (use on the integration's secret).
/// </summary>
internal static class GatewayCommand
{
    public static Command CreateIntegrations()
    {
        var connection = new ConnectionOptions();
        var command = new Command("integrations", "Manage the gateway's integrations (tenant admin token).")
        {
            Put(connection), Get(connection), List(connection), Delete(connection),
        };
        connection.AddTo(command);
        return command;
    }

    public static Command CreateGateway()
    {
        var connection = new ConnectionOptions();
        var command = new Command("gateway", "Call upstream APIs through the gateway: the credential is injected by the server and never shown.") { Call(connection) };
        connection.AddTo(command);
        return command;
    }

    private static Argument<string> IntegrationName() => new("NAME") { Description = "The integration's name: [A-Za-z0-9][A-Za-z0-9._-]{0,63}." };

    private static Command Put(ConnectionOptions connection)
    {
        var name = IntegrationName();
        var upstream = new Option<string>("--upstream") { Description = "The upstream base URL (https://; http:// only to loopback with --allow-insecure-loopback).", HelpName = "URL", Required = true };
        var secretPath = new Option<string>("--secret-path") { Description = "The secret holding the credential.", HelpName = "PATH", Required = true };
        var secretField = new Option<string>("--secret-field") { Description = "Its field to inject.", HelpName = "FIELD", Required = true };
        var inject = new Option<string>("--inject")
        {
            Description = "How: bearer, header:NAME, basic[:USER] or query:NAME.", HelpName = "KIND[:NAME]", Required = true,
        };
        var allow = new Option<string[]>("--allow")
        {
            Description = "Methods and an upstream path glob, such as \"GET,POST v1/**\" (repeat).", HelpName = "METHODS GLOB", Required = true,
        };
        var loopback = new Option<bool>("--allow-insecure-loopback") { Description = "Plain http to a loopback upstream (only on servers run with --dev or --gateway-allow-loopback)." };
        var rps = new Option<int?>("--per-agent-rps") { Description = "Requests per second per agent session.", HelpName = "N" };
        var budget = new Option<long?>("--run-budget") { Description = "Requests per run, all its agents together (agents hand slices to children).", HelpName = "N" };
        var command = new Command("put", "Register or replace an integration.") { name, upstream, secretPath, secretField, inject, allow, loopback, rps, budget };
        ClientAction.Set(command, connection, async run =>
        {
            var spec = new IntegrationSpec(
                ParseUrl(run.Get(upstream)!), run.Get(secretPath)!, run.Get(secretField)!, ParseInject(run.Get(inject)!),
                [.. run.Get(allow)!.Select(ParseAllow)], run.Get(loopback) ? true : null,
                run.Get(rps) is null && run.Get(budget) is null ? null : new IntegrationLimits(run.Get(rps), run.Get(budget)));
            Print(run.Output, await run.Client.PutIntegrationAsync(run.Get(name)!, spec, run.CancellationToken));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Get(ConnectionOptions connection)
    {
        var name = IntegrationName();
        var command = new Command("get", "Show an integration.") { name };
        ClientAction.Set(command, connection, async run =>
        {
            Print(run.Output, await run.Client.GetIntegrationAsync(run.Get(name)!, run.CancellationToken));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(ConnectionOptions connection)
    {
        var command = new Command("list", "List the tenant's integrations.");
        ClientAction.Set(command, connection, async run =>
        {
            var integrations = await run.Client.ListIntegrationsAsync(run.CancellationToken);
            if (run.Output.IsJson)
            {
                Output.Json(new { integrations });
            }
            else
            {
                Output.Table(["NAME", "UPSTREAM", "SECRET", "INJECT", "VERSION"],
                    integrations.Select(i => new[] { i.Name, i.Upstream.ToString(), i.SecretPath + "#" + i.SecretField, Inject(i.Inject), Output.Number(i.Version) }));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Delete(ConnectionOptions connection)
    {
        var name = IntegrationName();
        var command = new Command("delete", "Delete an integration (calls through it stop at once).") { name };
        ClientAction.Set(command, connection, async run =>
        {
            await run.Client.DeleteIntegrationAsync(run.Get(name)!, run.CancellationToken);
            Output.Error.WriteLine($"Deleted integration {run.Get(name)}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Call(ConnectionOptions connection)
    {
        var name = IntegrationName();
        var path = new Argument<string>("PATH") { Description = "The upstream path and query, such as v1/models or /v1/chat?x=1." };
        var method = new Option<string>("--method", "-X") { Description = "The HTTP method.", HelpName = "METHOD", DefaultValueFactory = _ => "GET" };
        var data = new Option<string?>("--data", "-d") { Description = "The request body ('@-' reads standard input).", HelpName = "BODY" };
        var headers = new Option<string[]>("--header", "-H") { Description = "A request header \"Name: value\" (repeat).", HelpName = "HEADER" };
        var command = new Command("call", "Send one request through an integration; the response body streams to standard output, its status to standard error.")
        {
            name, path, method, data, headers,
        };
        ClientAction.Set(command, connection, async run =>
        {
            using var handler = run.Client.CreateGatewayHandler(run.Get(name)!);
            using var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
            using var request = new HttpRequestMessage(new HttpMethod(run.Get(method)!.ToUpperInvariant()), "http://upstream/" + run.Get(path)!.TrimStart('/'));
            var contentType = "application/json";
            foreach (var header in run.Get(headers) ?? [])
            {
                var colon = header.IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0)
                {
                    throw new UsageException($"--header \"{header}\": expected \"Name: value\".");
                }

                var (key, value) = (header[..colon].Trim(), header[(colon + 1)..].Trim());
                if (string.Equals(key, "Content-Type", StringComparison.OrdinalIgnoreCase))
                {
                    contentType = value;
                }
                else if (!request.Headers.TryAddWithoutValidation(key, value))
                {
                    throw new UsageException($"--header \"{key}\" cannot be set on a request.");
                }
            }

            if (run.Get(data) is { } body)
            {
                var bytes = body == "@-" ? Encoding.UTF8.GetBytes(await Console.In.ReadToEndAsync(run.CancellationToken)) : Encoding.UTF8.GetBytes(body);
                request.Content = new ByteArrayContent(bytes);
                request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            }

            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, run.CancellationToken);
            var status = (int)response.StatusCode;
            if (status >= 400 && response.Content.Headers.ContentType?.MediaType == "application/problem+json")
            {
                // Refused by the gateway itself (or an upstream speaking RFC 7807): one error line, a documented exit code.
                var problem = await response.Content.ReadAsStringAsync(run.CancellationToken);
                await Output.Error.WriteLineAsync($"Error: {ProblemText(problem)} (HTTP {status})");
                return Guard.ExitCodeFor(status);
            }

            await using (var stdout = Console.OpenStandardOutput())
            await using (var stream = await response.Content.ReadAsStreamAsync(run.CancellationToken))
            {
                var buffer = new byte[16 * 1024];
                int read;
                while ((read = await stream.ReadAsync(buffer, run.CancellationToken)) > 0)
                {
                    await stdout.WriteAsync(buffer.AsMemory(0, read), run.CancellationToken);
                    await stdout.FlushAsync(run.CancellationToken);
                }
            }

            await Output.Error.WriteLineAsync($"HTTP {status}");
            return status < 400 ? ExitCodes.Ok : Guard.ExitCodeFor(status);
        });
        return command;
    }

    private static string ProblemText(string problem)
    {
        try
        {
            using var document = JsonDocument.Parse(problem);
            var root = document.RootElement;
            var detail = root.TryGetProperty("detail", out var d) ? d.GetString() : null;
            var code = root.TryGetProperty("code", out var c) ? c.GetString() : null;
            return code is null ? detail ?? "request failed" : $"{detail} ({code})";
        }
        catch (JsonException)
        {
            return "request failed";
        }
    }

    private static Uri ParseUrl(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) ? uri : throw new UsageException($"--upstream \"{text}\" is not an absolute URL.");

    private static IntegrationInject ParseInject(string text)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var (kind, name) = colon < 0 ? (text, null) : (text[..colon], text[(colon + 1)..]);
        return kind is "bearer" or "header" or "basic" or "query"
            ? new IntegrationInject(kind, name)
            : throw new UsageException($"--inject \"{text}\": bearer, header:NAME, basic[:USER] or query:NAME.");
    }

    private static IntegrationAllow ParseAllow(string text)
    {
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Length == 2
            ? new IntegrationAllow([.. parts[0].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)], parts[1])
            : throw new UsageException($"--allow \"{text}\": expected \"METHODS GLOB\", such as \"GET,POST v1/**\".");
    }

    private static string Inject(IntegrationInject inject) => inject.Name is null ? inject.Kind : inject.Kind + ":" + inject.Name;

    private static void Print(Output output, Integration integration)
    {
        if (output.IsJson)
        {
            Output.Json(integration);
            return;
        }

        Output.Fields(
            ("Name", integration.Name), ("Upstream", integration.Upstream.ToString()), ("Secret", integration.SecretPath + "#" + integration.SecretField),
            ("Inject", Inject(integration.Inject)),
            ("Allow", string.Join("; ", integration.Allow.Select(a => string.Join(',', a.Methods) + " " + a.Path))),
            ("Insecure loopback", integration.AllowInsecureLoopback ? "yes" : "no"),
            ("Per-agent rps", Output.Number(integration.Limits?.PerAgentRps)), ("Run budget", Output.Number(integration.Limits?.RunBudget)),
            ("Version", Output.Number(integration.Version)), ("Updated", Output.Instant(integration.UpdatedAt)));
    }
}
