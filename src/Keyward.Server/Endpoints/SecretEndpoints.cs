using System.Buffers;
using System.Reflection;
using System.Text.Json;
using Keyward.Core;
using Keyward.Core.Errors;
using Keyward.Core.Rotation;
using Keyward.Core.Secrets;
using Keyward.Server.Http;

namespace Keyward.Server.Endpoints;

public sealed class PutSecretRequest
{
    public JsonElement? Data { get; init; }

    public long? Cas { get; init; }
}

public sealed record SecretWriteResponse(long Version, DateTimeOffset CreatedAt, long Epoch);

/// <summary>The shape of a read, for the API description (the body is written by <see cref="SecretReadResult"/>).</summary>
public sealed record SecretReadResponse(string Path, long Version, JsonElement Data, DateTimeOffset CreatedAt, string? Stage, long Epoch);

public sealed class RotateRequest
{
    public JsonElement? Data { get; init; }

    public string? Reason { get; init; }
}

public sealed record RotateResponse(long Version, string Stage, DateTimeOffset CreatedAt, long? Epoch);

public sealed class PromoteRequest
{
    public long? Version { get; init; }
}

public sealed record PromoteResponse(long Version, long Epoch);

/// <summary>Rollback takes no fields (an empty body or <c>{}</c>).</summary>
public sealed class RollbackRequest
{
}

public sealed class GeneratorRequest
{
    public string? Kind { get; init; }

    public int? Length { get; init; }

    public string? Alphabet { get; init; }

    public IReadOnlyList<string>? Fields { get; init; }
}

public sealed class VerifyRequest
{
    public string? Integration { get; init; }

    public string? Method { get; init; }

    public string? Path { get; init; }

    public int? ExpectStatus { get; init; }
}

public sealed class RotationRequest
{
    public Duration? Period { get; init; }

    public long? MaxUses { get; init; }

    public Duration? Grace { get; init; }

    public GeneratorRequest? Generator { get; init; }

    /// <summary>A call through a gateway integration that must answer expect_status with the pending value before it is promoted.</summary>
    public VerifyRequest? Verify { get; init; }

    public RotationPolicy ToPolicy()
    {
        SecretGenerator? generator = null;
        if (Generator is { } g)
        {
            if (g.Kind != SecretGenerator.RandomKind)
            {
                throw KeywardErrors.InvalidField("rotation.generator.kind", $"the only kind is \"{SecretGenerator.RandomKind}\"");
            }

            generator = new SecretGenerator(g.Length ?? throw KeywardErrors.MissingField("rotation.generator.length"), g.Alphabet, g.Fields);
        }

        var policy = RotationPolicy.Create(Period?.Value, MaxUses, Grace?.Value, generator);
        if (Verify is not { } v)
        {
            return policy;
        }

        if (MaxUses is not null)
        {
            // The max_uses-th read rotates and promotes in its own transaction: there is no moment to verify in.
            throw KeywardErrors.InvalidField("rotation.verify", "cannot be combined with max_uses");
        }

        return policy with { Verify = RotationVerify.Create(v.Integration, v.Method, v.Path, v.ExpectStatus) };
    }
}

public sealed record GeneratorResponse(string Kind, int Length, string Alphabet, IReadOnlyList<string>? Fields);

public sealed record RotationResponse(long? Period, long? MaxUses, long Grace, GeneratorResponse? Generator, long Uses, DateTimeOffset? NextRotationAt, string? ManagedBy)
{
    public RotationVerify? Verify { get; init; }
}

public sealed record SecretListResponse(IReadOnlyList<string> Keys);

public sealed class VersionsRequest
{
    public IReadOnlyList<long>? Versions { get; init; }
}

public sealed class PutMetadataRequest
{
    public int? MaxVersions { get; init; }

    public Dictionary<string, string>? CustomMetadata { get; init; }

    public RotationRequest? Rotation { get; init; }
}

public sealed record SecretVersionInfo(long Version, DateTimeOffset CreatedAt, string State, string? Stage);

public sealed record SecretMetadataResponse(
    string Path, long CurrentVersion, int MaxVersions, IReadOnlyDictionary<string, string> CustomMetadata,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, IReadOnlyList<SecretVersionInfo> Versions,
    long LatestVersion, long? PendingVersion, long? PreviousVersion, long Epoch, RotationResponse? Rotation)
{
    public static SecretMetadataResponse From(SecretMetadata meta, IReadOnlyList<SecretVersion> versions) => new(
        meta.Path, meta.CurrentVersion, meta.MaxVersions, meta.CustomMetadata, meta.CreatedAt, meta.UpdatedAt,
        versions.Select(v => new SecretVersionInfo(v.Version, v.CreatedAt, v.State, meta.StageOf(v.Version) is { } stage ? SecretStages.Name(stage) : null)).ToArray(),
        meta.LatestVersion, meta.PendingVersion, meta.PreviousVersion, meta.Epoch,
        meta.Rotation is not { } r ? null : new RotationResponse(
            r.Period is { } p ? (long)p.TotalSeconds : null, r.MaxUses, (long)r.EffectiveGrace.TotalSeconds,
            r.Generator is { } g ? new GeneratorResponse(g.Kind, g.Length, g.Alphabet, g.Fields) : null, meta.Uses, meta.NextRotationAt, r.ManagedBy)
            {
                Verify = r.Verify,
            });
}

public static class SecretEndpoints
{
    private const string SecretsPrefix = "/v1/secrets/";
    private const string MetadataPrefix = "/v1/secret-metadata/";

    public static IEndpointRouteBuilder MapSecretEndpoints(this IEndpointRouteBuilder routes)
    {
        var secrets = routes.MapGroup("/secrets").WithTags("Secrets");

        secrets.MapPut("/{**path}", async (RequestContext ctx, SecretService service) =>
            {
                var path = PathAfter(ctx.Http, SecretsPrefix);
                ctx.Audit.Path = path;
                var body = await ctx.BodyAsync<PutSecretRequest>();
                if (body.Data is not { } data)
                {
                    throw KeywardErrors.MissingField("data");
                }

                if (data.ValueKind != JsonValueKind.Object)
                {
                    throw KeywardErrors.InvalidField("data", "must be a JSON object");
                }

                var bytes = JsonSerializer.SerializeToUtf8Bytes(data);
                try
                {
                    var written = await service.PutAsync(ctx.Caller, path, bytes, body.Cas, ctx.Audit);
                    return TypedResults.Ok(new SecretWriteResponse(written.Version, written.CreatedAt, written.Epoch));
                }
                finally
                {
                    SecretService.Wipe(bytes);
                }
            })
            .Audited("secret.write")
            .WithSummary("Write a new version: {data, cas?}. cas N writes only if the current version is N; cas 0 only if none exists.")
            .WithJsonBody<PutSecretRequest>().ProducesProblem(409).ProducesProblem(413);

        secrets.MapGet("/{**path}", async (RequestContext ctx, SecretService service) =>
            {
                var path = PathAfter(ctx.Http, SecretsPrefix);
                ctx.Audit.Path = path;
                SecretStage? stage = null;
                if (Query.String(ctx.Request, "stage") is { } stageName)
                {
                    stage = SecretStages.TryParse(stageName, out var parsed)
                        ? parsed
                        : throw KeywardErrors.InvalidField("stage", "current, previous or pending");
                }

                return new SecretReadResult(await service.GetAsync(ctx.Caller, path, Query.Long(ctx.Request, "version"), stage, ctx.Audit, ctx.Aborted));
            })
            .Audited("secret.read")
            .WithSummary("Read the current version, ?version=N or ?stage=current|previous|pending (previous within the grace window). A deleted or destroyed current version is 404 secret_deleted. With X-Keyward-Wrap-TTL (at most 10m) the body is wrapped: {wrap_info}.")
            .ProducesProblem(404).Wrappable();

        secrets.MapGet("/", async (RequestContext ctx, SecretService service) =>
                TypedResults.Ok(new SecretListResponse(await service.ListAsync(ctx.Caller, Query.String(ctx.Request, "prefix"), ctx.Audit, ctx.Aborted))))
            .Audited("secret.list")
            .WithSummary("Names under ?prefix= (whole segments) that the token may list. Never values.");

        secrets.MapDelete("/{**path}", async (RequestContext ctx, SecretService service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                var path = PathAfter(ctx.Http, SecretsPrefix);
                ctx.Audit.Path = path;
                await service.DeleteAsync(ctx.Caller, path, Query.Longs(ctx.Request, "versions"), ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("secret.delete")
            .WithSummary("Soft delete the latest version, or ?versions=1,2.")
            .ProducesProblem(404);

        secrets.MapPost("/{**path}", async Task<Results<NoContent, Created<RotateResponse>, Ok<PromoteResponse>>> (RequestContext ctx, SecretService service, RotationService rotation) =>
            {
                var (path, action) = SplitAction(ctx.Http);
                ctx.Audit.Path = path;
                ValidateRaw(path);
                switch (action)
                {
                    case "rotate":
                        return await RotateAsync(ctx, rotation, path);
                    case "promote":
                        var promote = await ctx.BodyAsync<PromoteRequest>();
                        var (promoted, epoch) = await rotation.PromoteAsync(ctx.Caller, path, promote.Version, ctx.Audit);
                        return TypedResults.Ok(new PromoteResponse(promoted, epoch));
                    case "rollback":
                        await ctx.BodyAsync<RollbackRequest>(allowEmpty: true);
                        var (current, rolledEpoch) = await rotation.RollbackAsync(ctx.Caller, path, ctx.Audit);
                        return TypedResults.Ok(new PromoteResponse(current, rolledEpoch));
                }

                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                var body = await ctx.BodyAsync<VersionsRequest>();
                if (action == "undelete")
                {
                    await service.UndeleteAsync(ctx.Caller, path, body.Versions, ctx.Audit);
                }
                else
                {
                    await service.DestroyAsync(ctx.Caller, path, body.Versions, ctx.Audit);
                }

                return TypedResults.NoContent();
            })
            .Audited(ActionOperation)
            .WithSummary("POST {path}/undelete or {path}/destroy with {versions}; {path}/rotate {data?, reason?} stages a pending version (reason anomaly: admin only, promoted at once); {path}/promote {version}; {path}/rollback.")
            .WithJsonBody<VersionsRequest>().ProducesProblem(404).ProducesProblem(409);

        var metadata = routes.MapGroup("/secret-metadata").WithTags("Secrets");

        metadata.MapGet("/{**path}", async (RequestContext ctx, SecretService service) =>
            {
                var path = PathAfter(ctx.Http, MetadataPrefix);
                ctx.Audit.Path = path;
                var (meta, versions) = await service.GetMetadataAsync(ctx.Caller, path, ctx.Audit, ctx.Aborted);
                return TypedResults.Ok(SecretMetadataResponse.From(meta, versions));
            })
            .Audited("secret.metadata.read")
            .WithSummary("Versions (number, created_at, state, stage), max_versions, custom metadata, epoch and the rotation policy of a path.")
            .ProducesProblem(404);

        metadata.MapPut("/{**path}", async (RequestContext ctx, SecretService service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                var path = PathAfter(ctx.Http, MetadataPrefix);
                ctx.Audit.Path = path;
                var body = await ctx.BodyAsync<PutMetadataRequest>();
                await service.PutMetadataAsync(ctx.Caller, path, body.MaxVersions, body.CustomMetadata, body.Rotation?.ToPolicy(), ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("secret.metadata.write")
            .WithSummary("Set max_versions (1-1000, default 10), plaintext custom_metadata (never secrets) and the rotation policy {period?, max_uses?, grace?, generator?}.")
            .WithJsonBody<PutMetadataRequest>().ProducesProblem(400);

        metadata.MapDelete("/{**path}", async (RequestContext ctx, SecretService service) =>
            {
                ctx.Audit.SuccessStatus = StatusCodes.Status204NoContent;
                var path = PathAfter(ctx.Http, MetadataPrefix);
                ctx.Audit.Path = path;
                await service.DeleteMetadataAsync(ctx.Caller, path, ctx.Audit);
                return TypedResults.NoContent();
            })
            .Audited("secret.metadata.delete")
            .WithSummary("Remove a path for good: its metadata and every version.")
            .ProducesProblem(404);

        return routes;
    }

    /// <summary>
    /// The operation of <c>POST /v1/secrets/{path}/{action}</c>, named by its last segment; any other is refused (405
    /// <c>method_not_allowed</c>) before authentication, as a route that does not exist.
    /// </summary>
    private static string ActionOperation(HttpContext http)
    {
        var full = PathAfter(http, SecretsPrefix, validateCharacters: false);
        var slash = full.LastIndexOf('/');
        var operation = slash < 0 ? null : full[(slash + 1)..] switch
        {
            "undelete" => "secret.undelete",
            "destroy" => "secret.destroy",
            "rotate" => "secret.rotate",
            "promote" => "secret.promote",
            "rollback" => "secret.rollback",
            _ => null,
        };
        return operation ?? throw KeywardErrors.MethodNotAllowed("POST", http.Request.Path.Value ?? "");
    }

    /// <summary>The secret path and the action of a <c>POST</c> whose operation <see cref="ActionOperation"/> named.</summary>
    private static (string Path, string Action) SplitAction(HttpContext http)
    {
        var full = PathAfter(http, SecretsPrefix, validateCharacters: false);
        var slash = full.LastIndexOf('/');
        return (full[..slash], full[(slash + 1)..]);
    }

    private static async Task<Created<RotateResponse>> RotateAsync(RequestContext ctx, RotationService rotation, string path)
    {
        var body = await ctx.BodyAsync<RotateRequest>(allowEmpty: true);
        byte[]? bytes = null;
        if (body.Data is { } data)
        {
            if (data.ValueKind != JsonValueKind.Object)
            {
                throw KeywardErrors.InvalidField("data", "must be a JSON object");
            }

            bytes = JsonSerializer.SerializeToUtf8Bytes(data);
        }

        try
        {
            ctx.Audit.SuccessStatus = StatusCodes.Status201Created;
            ReadOnlyMemory<byte>? payload = bytes is null ? default(ReadOnlyMemory<byte>?) : bytes;
            var result = await rotation.RotateAsync(ctx.Caller, path, payload, body.Reason, ctx.Audit);
            return TypedResults.Created((string?)null, new RotateResponse(result.Version, SecretStages.Name(result.Stage), result.CreatedAt, result.Epoch));
        }
        finally
        {
            if (bytes is not null)
            {
                SecretService.Wipe(bytes);
            }
        }
    }

    /// <summary>
    /// The secret path exactly as sent, taken from the raw request target (never a decoded form): any
    /// percent-encoding in it is refused, so what is validated is what is stored.
    /// </summary>
    private static string PathAfter(HttpContext http, string prefix, bool validateCharacters = true)
    {
        var raw = RequestGuards.RawPath(http);
        var path = raw.Length > prefix.Length && raw.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? raw[prefix.Length..] : "";
        if (validateCharacters)
        {
            ValidateRaw(path);
        }

        return path;
    }

    private static void ValidateRaw(string path)
    {
        if (path.Contains('%'))
        {
            throw KeywardErrors.InvalidPath("Secret paths may not be percent-encoded: segments are [A-Za-z0-9._-] only.");
        }

        Core.Validation.SecretPath.Require(path);
    }
}

/// <summary>
/// Writes <c>{path, version, data, created_at, stage, epoch}</c> with the decrypted JSON copied straight from the plaintext
/// buffer, which is zeroed as soon as it is written. Its type documents the response (<see cref="SecretReadResponse"/>).
/// </summary>
public sealed class SecretReadResult : IResult, IStatusCodeHttpResult, IBufferedJsonResult, IEndpointMetadataProvider
{
    private readonly SecretRead _read;

    public SecretReadResult(SecretRead read) => _read = read;

    public int? StatusCode => StatusCodes.Status200OK;

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(SecretReadResponse), ["application/json"]));
    }

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        var buffer = new ArrayBufferWriter<byte>(_read.Data.Length + 256);
        try
        {
            WriteBody(buffer);
            response.ContentLength = buffer.WrittenCount;
            await response.Body.WriteAsync(buffer.WrittenMemory, httpContext.RequestAborted);
        }
        finally
        {
            buffer.Clear();
        }
    }

    public void WriteBody(IBufferWriter<byte> body)
    {
        try
        {
            using var writer = new Utf8JsonWriter(body);
            writer.WriteStartObject();
            writer.WriteString("path", _read.Path);
            writer.WriteNumber("version", _read.Version);
            writer.WritePropertyName("data");
            writer.WriteRawValue(_read.Data, skipInputValidation: true);
            writer.WriteString("created_at", Instants.Format(_read.CreatedAt));
            if (_read.Stage is { } stage)
            {
                writer.WriteString("stage", SecretStages.Name(stage));
            }
            else
            {
                writer.WriteNull("stage");
            }

            writer.WriteNumber("epoch", _read.Epoch);
            writer.WriteEndObject();
        }
        finally
        {
            SecretService.Wipe(_read.Data);
        }
    }
}
