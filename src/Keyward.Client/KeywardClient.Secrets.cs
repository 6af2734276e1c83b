using System.Text.Json;
using Keyward.Client.Internal;
using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>
/// Versioned secret routes (a tenant token whose rules allow the operation). Paths are '/'-separated segments of
/// [A-Za-z0-9._-]; they go into the URL as they are, so anything else is an <see cref="ArgumentException"/>.
/// </summary>
public partial class KeywardClient
{
    /// <summary>
    /// <c>PUT /v1/secrets/{path}</c>: writes a new version. With <paramref name="cas"/> N it writes only if the current
    /// version is N (0: only if none exists), else 409 <c>cas_mismatch</c>.
    /// </summary>
    public virtual Task<SecretWriteResult> PutSecretAsync(
        string path, IReadOnlyDictionary<string, string> data, long? cas = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return PutSecretCoreAsync(path, JsonSerializer.SerializeToElement(data, KeywardJson.Options), cas, cancellationToken);
    }

    /// <summary><c>PUT /v1/secrets/{path}</c> with arbitrary JSON data (it must be an object).</summary>
    public virtual Task<SecretWriteResult> PutSecretAsync(string path, JsonElement data, long? cas = null, CancellationToken cancellationToken = default)
    {
        if (data.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("Secret data must be a JSON object.", nameof(data));
        }

        return PutSecretCoreAsync(path, data, cas, cancellationToken);
    }

    /// <summary>
    /// <c>GET /v1/secrets/{path}[?version=N]</c>. A current version that is deleted or destroyed is 404
    /// <c>secret_deleted</c>; it never falls back to an older one.
    /// </summary>
    public virtual Task<KeywardSecret> GetSecretAsync(string path, long? version = null, CancellationToken cancellationToken = default)
    {
        if (version is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(version), "Versions are positive integers.");
        }

        return SendAsync<KeywardSecret>(HttpMethod.Get, SecretUrl(path) + Query(("version", Number(version))), null, authenticate: true, cancellationToken);
    }

    /// <summary>
    /// <c>GET /v1/secrets/{path}?stage=S</c>: the version holding a stage (<see cref="SecretStages"/>). <c>previous</c> is
    /// served only within the secret's grace window after a promotion (else 404 <c>grace_expired</c>); <c>pending</c>
    /// serves verifiers.
    /// </summary>
    public virtual Task<KeywardSecret> GetSecretStageAsync(string path, string stage, CancellationToken cancellationToken = default)
    {
        if (stage is not (SecretStages.Current or SecretStages.Previous or SecretStages.Pending))
        {
            throw new ArgumentException("The stage is current, previous or pending.", nameof(stage));
        }

        return SendAsync<KeywardSecret>(HttpMethod.Get, SecretUrl(path) + Query(("stage", stage)), null, authenticate: true, cancellationToken);
    }

    /// <summary>
    /// <c>POST /v1/secrets/{path}/rotate</c> (capability <c>rotate</c>): stages a new <c>pending</c> version with
    /// <paramref name="data"/>, or with a value made by the secret's generator when <paramref name="data"/> is null (none
    /// → 400 <c>no_generator</c>). The current version keeps serving until <see cref="PromoteSecretAsync"/>.
    /// </summary>
    public virtual Task<SecretRotationResult> RotateSecretAsync(
        string path, IReadOnlyDictionary<string, string>? data = null, CancellationToken cancellationToken = default) =>
        SendAsync<SecretRotationResult>(
            HttpMethod.Post, SecretUrl(path) + "/rotate",
            new RotateBody(data is null ? null : JsonSerializer.SerializeToElement(data, KeywardJson.Options), null), authenticate: true, cancellationToken);

    /// <summary>
    /// <c>POST /v1/secrets/{path}/rotate {data, reason?}</c> with arbitrary JSON data (an object); <paramref name="now"/>
    /// sends reason <c>anomaly</c> (tenant admin only: promoted at once).
    /// </summary>
    public virtual Task<SecretRotationResult> RotateSecretAsync(string path, JsonElement data, bool now = false, CancellationToken cancellationToken = default)
    {
        if (data.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("Secret data must be a JSON object.", nameof(data));
        }

        return SendAsync<SecretRotationResult>(
            HttpMethod.Post, SecretUrl(path) + "/rotate", new RotateBody(data, now ? "anomaly" : null), authenticate: true, cancellationToken);
    }

    /// <summary>
    /// <c>POST /v1/secrets/{path}/rotate {"reason": "anomaly"}</c> (tenant admin only): stages a generated or given value
    /// and promotes it at once, for a credential believed to be exposed.
    /// </summary>
    public virtual Task<SecretRotationResult> RotateSecretNowAsync(
        string path, IReadOnlyDictionary<string, string>? data = null, CancellationToken cancellationToken = default) =>
        SendAsync<SecretRotationResult>(
            HttpMethod.Post, SecretUrl(path) + "/rotate",
            new RotateBody(data is null ? null : JsonSerializer.SerializeToElement(data, KeywardJson.Options), "anomaly"), authenticate: true, cancellationToken);

    /// <summary>
    /// <c>POST /v1/secrets/{path}/promote {version}</c>: the pending <paramref name="version"/> becomes current and the old
    /// current becomes previous (readable for the grace window). Not the pending version → 409 <c>not_pending</c>.
    /// </summary>
    public virtual Task<SecretPromotion> PromoteSecretAsync(string path, long version, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(version, 0);
        return SendAsync<SecretPromotion>(HttpMethod.Post, SecretUrl(path) + "/promote", new PromoteBody(version), authenticate: true, cancellationToken);
    }

    /// <summary><c>POST /v1/secrets/{path}/rollback</c>: swaps the current and previous versions (no previous → 409 <c>no_previous_version</c>).</summary>
    public virtual Task<SecretPromotion> RollbackSecretAsync(string path, CancellationToken cancellationToken = default) =>
        SendAsync<SecretPromotion>(HttpMethod.Post, SecretUrl(path) + "/rollback", new { }, authenticate: true, cancellationToken);

    /// <summary>
    /// <c>PUT /v1/secret-metadata/{path} {rotation}</c>: sets the secret's rotation policy (null fields are left out and
    /// take their defaults). Capability <c>write</c>.
    /// </summary>
    public virtual Task SetRotationPolicyAsync(string path, RotationPolicy policy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return SendNoContentAsync(HttpMethod.Put, MetadataUrl(path), new RotationMetadataBody(policy), cancellationToken);
    }

    /// <summary><c>GET /v1/secrets?prefix=P</c>: names under the prefix (whole segments) that the token may list.</summary>
    public virtual async Task<IReadOnlyList<string>> ListSecretsAsync(string? prefix = null, CancellationToken cancellationToken = default)
    {
        var url = "v1/secrets" + Query(("prefix", ClientValidation.Prefix(prefix, nameof(prefix))));
        return (await SendAsync<KeyList>(HttpMethod.Get, url, null, authenticate: true, cancellationToken).ConfigureAwait(false)).Keys;
    }

    /// <summary><c>GET /v1/secret-metadata/{path}</c>: versions and settings, never values.</summary>
    public virtual Task<SecretMetadata> GetSecretMetadataAsync(string path, CancellationToken cancellationToken = default) =>
        SendAsync<SecretMetadata>(HttpMethod.Get, MetadataUrl(path), null, authenticate: true, cancellationToken);

    /// <summary>
    /// <c>PUT /v1/secret-metadata/{path}</c>: sets max_versions (1-1000) and/or plaintext custom metadata (never
    /// secrets). Null leaves a setting as it is.
    /// </summary>
    public virtual Task UpdateSecretMetadataAsync(
        string path, int? maxVersions = null, IReadOnlyDictionary<string, string>? customMetadata = null, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Put, MetadataUrl(path), new MetadataBody(maxVersions, customMetadata), cancellationToken);

    /// <summary><c>DELETE /v1/secrets/{path}[?versions=1,2]</c>: soft-deletes the latest version, or the ones named.</summary>
    public virtual Task DeleteSecretAsync(string path, IEnumerable<long>? versions = null, CancellationToken cancellationToken = default)
    {
        var list = versions is null ? null : ClientValidation.Versions(versions, nameof(versions), required: true);
        var query = list is null ? "" : "?versions=" + string.Join(',', list.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return SendNoContentAsync(HttpMethod.Delete, SecretUrl(path) + query, null, cancellationToken);
    }

    /// <summary><c>POST /v1/secrets/{path}/undelete {versions}</c>: restores soft-deleted versions.</summary>
    public virtual Task UndeleteSecretAsync(string path, IEnumerable<long> versions, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(
            HttpMethod.Post, SecretUrl(path) + "/undelete", new VersionsBody(ClientValidation.Versions(versions, nameof(versions), required: true)), cancellationToken);

    /// <summary><c>POST /v1/secrets/{path}/destroy {versions}</c>: erases the versions' ciphertext for good.</summary>
    public virtual Task DestroySecretAsync(string path, IEnumerable<long> versions, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(
            HttpMethod.Post, SecretUrl(path) + "/destroy", new VersionsBody(ClientValidation.Versions(versions, nameof(versions), required: true)), cancellationToken);

    /// <summary><c>DELETE /v1/secret-metadata/{path}</c>: removes the path for good, its metadata and every version.</summary>
    public virtual Task DeleteSecretMetadataAsync(string path, CancellationToken cancellationToken = default) =>
        SendNoContentAsync(HttpMethod.Delete, MetadataUrl(path), null, cancellationToken);

    private Task<SecretWriteResult> PutSecretCoreAsync(string path, JsonElement data, long? cas, CancellationToken cancellationToken)
    {
        if (cas is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(cas), "cas is a version number, 0 or more.");
        }

        return SendAsync<SecretWriteResult>(HttpMethod.Put, SecretUrl(path), new PutSecretBody(data, cas), authenticate: true, cancellationToken);
    }

    private static string SecretUrl(string path) => "v1/secrets/" + ClientValidation.SecretPath(path, nameof(path));

    private static string MetadataUrl(string path) => "v1/secret-metadata/" + ClientValidation.SecretPath(path, nameof(path));

    private sealed record PutSecretBody(JsonElement Data, long? Cas);

    private sealed record VersionsBody(IReadOnlyList<long> Versions);

    private sealed record MetadataBody(int? MaxVersions, IReadOnlyDictionary<string, string>? CustomMetadata);

    private sealed record KeyList(IReadOnlyList<string> Keys);

    private sealed record RotateBody(JsonElement? Data, string? Reason);

    private sealed record PromoteBody(long Version);

    private sealed record RotationMetadataBody(RotationPolicy Rotation);
}
