using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Keyward.Client.Internal;
using Keyward.Client.Models;

namespace Keyward.Client;

/// <summary>
/// Response wrapping: a secret read or a credential issuance answered with a single-use <c>kww_</c> wrapping token
/// instead of the value (<see cref="WrapInfo"/>), and <c>POST /v1/wrapping/unwrap</c>, where that token alone is the
/// credential and the original body comes back once.
/// </summary>
public partial class KeywardClient
{
    /// <summary>The header that asks for a wrapped response.</summary>
    public const string WrapTtlHeader = "X-Keyward-Wrap-TTL";

    /// <summary>The longest a wrapped response may wait to be unwrapped.</summary>
    public static readonly TimeSpan MaxWrapTtl = TimeSpan.FromMinutes(10);

    /// <summary>
    /// <c>GET /v1/secrets/{path}[?version=N]</c> with <c>X-Keyward-Wrap-TTL</c>: the read is authorized and audited as
    /// any read (capability <c>read</c>; <c>use</c> never suffices), but what comes back is a wrapping token valid for
    /// <paramref name="ttl"/> (whole seconds, at most 10 minutes). Hand it to whoever should see the value; they call
    /// <see cref="UnwrapSecretAsync"/>.
    /// </summary>
    /// <param name="path">The secret's path.</param>
    /// <param name="ttl">How long the wrapping token may wait to be unwrapped.</param>
    /// <param name="version">A version instead of the current one.</param>
    /// <param name="stage">A stage (<see cref="SecretStages"/>) instead of the current version; not with <paramref name="version"/>.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    public virtual Task<WrapInfo> GetSecretWrappedAsync(
        string path, TimeSpan ttl, long? version = null, string? stage = null, CancellationToken cancellationToken = default)
    {
        if (version is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(version), "Versions are positive integers.");
        }

        if (stage is not (null or SecretStages.Current or SecretStages.Previous or SecretStages.Pending) || (stage is not null && version is not null))
        {
            throw new ArgumentException("The stage is current, previous or pending, and not given with a version.", nameof(stage));
        }

        return WrappedAsync(HttpMethod.Get, SecretUrl(path) + Query(("version", Number(version)), ("stage", stage)), ttl, cancellationToken);
    }

    /// <summary>
    /// <c>POST /v1/creds/postgres/{name}/{role}</c> wrapped: a login is created and its lease owned by this client's token,
    /// as by <see cref="CreatePostgresCredentialAsync"/>, but the username and password travel only inside the wrapping
    /// token (<see cref="UnwrapPostgresCredentialAsync"/>).
    /// </summary>
    public virtual Task<WrapInfo> CreatePostgresCredentialWrappedAsync(string name, string role, TimeSpan ttl, CancellationToken cancellationToken = default) =>
        WrappedAsync(
            HttpMethod.Post,
            "v1/creds/postgres/" + ClientValidation.Segment(name, nameof(name), "connection name") + "/" + ClientValidation.Segment(role, nameof(role), "role name"),
            ttl, cancellationToken);

    /// <summary>
    /// <c>POST /v1/wrapping/unwrap</c> with <paramref name="wrappingToken"/> as the bearer token (this client's own token is
    /// not sent): the wrapped call's original JSON body, once. Used again → 404 <c>wrap_token_used</c> (and the server flags
    /// the anomaly <c>wrap_reuse</c>); expired → 404 <c>wrap_token_expired</c>; invalidated by a lockdown or offboarding →
    /// 404 <c>wrap_token_revoked</c>; unknown → 401 <c>invalid_token</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The token is not a <c>kww_</c> wrapping token.</exception>
    /// <remarks>
    /// The values in the body are registered with the client's scrubber: a secret read's <c>data</c> (every string in it), a
    /// credential's <c>password</c>; a body of any other shape has every string registered, since nothing tells its
    /// values from its names. The wrapping token is registered too.
    /// </remarks>
    public virtual async Task<JsonElement> UnwrapAsync(string wrappingToken, CancellationToken cancellationToken = default)
    {
        var bearer = RequireWrappingToken(wrappingToken);
        _scrubber.Register(bearer);
        using var response = await SendAsync(
            HttpMethod.Post, "v1/wrapping/unwrap", null, authenticate: false, alsoAccept: null,
            request => request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer), cancellationToken).ConfigureAwait(false);
        var body = await ReadAsync<JsonElement>(response, cancellationToken).ConfigureAwait(false);
        RegisterUnwrapped(body);
        return body;
    }

    /// <summary><see cref="UnwrapAsync"/> of a wrapped secret read, as <see cref="GetSecretAsync"/> would have returned it.</summary>
    public virtual async Task<KeywardSecret> UnwrapSecretAsync(string wrappingToken, CancellationToken cancellationToken = default) =>
        Deserialize<KeywardSecret>(await UnwrapAsync(wrappingToken, cancellationToken).ConfigureAwait(false));

    /// <summary><see cref="UnwrapAsync"/> of a wrapped credential, as <see cref="CreatePostgresCredentialAsync"/> would have returned it.</summary>
    public virtual async Task<PostgresCredential> UnwrapPostgresCredentialAsync(string wrappingToken, CancellationToken cancellationToken = default) =>
        Deserialize<PostgresCredential>(await UnwrapAsync(wrappingToken, cancellationToken).ConfigureAwait(false));

    private async Task<WrapInfo> WrappedAsync(HttpMethod method, string relative, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var header = WrapTtlValue(ttl);
        using var response = await SendAsync(
            method, relative, null, authenticate: true, alsoAccept: null, request => request.Headers.Add(WrapTtlHeader, header), cancellationToken).ConfigureAwait(false);
        return (await ReadAsync<WrappedBody>(response, cancellationToken).ConfigureAwait(false)).WrapInfo;
    }

    private static string WrapTtlValue(TimeSpan ttl)
    {
        if (ttl <= TimeSpan.Zero || ttl > MaxWrapTtl || ttl.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), "A wrap TTL is whole seconds, at least 1 s and at most 10 minutes.");
        }

        return ((long)ttl.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s";
    }

    private static string RequireWrappingToken(string wrappingToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(wrappingToken);
        var token = wrappingToken.Trim();
        if (!token.StartsWith("kww_", StringComparison.Ordinal) || token.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw new ArgumentException("This is not a wrapping token (they start with kww_).", nameof(wrappingToken));
        }

        return token;
    }

    /// <summary>The values of an unwrapped body: those of a secret read or a credential, or every string of anything else.</summary>
    private void RegisterUnwrapped(JsonElement body)
    {
        if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("data", out var data) && body.TryGetProperty("path", out _))
        {
            _scrubber.RegisterJson(data);
        }
        else if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("password", out var password) && body.TryGetProperty("lease_id", out _))
        {
            _scrubber.RegisterJson(password);
        }
        else
        {
            _scrubber.RegisterJson(body);
        }
    }

    private T Deserialize<T>(JsonElement body)
    {
        try
        {
            var result = body.Deserialize<T>(KeywardJson.Options) ?? throw new KeywardRequestFailedException(200, "invalid_response", "The unwrapped body is empty.");
            (result as IValueCarrier)?.RegisterValues(_scrubber);
            return result;
        }
        catch (JsonException malformed)
        {
            throw new KeywardRequestFailedException(200, "invalid_response", "The unwrapped body is not what this call wraps.", malformed);
        }
    }

    private sealed record WrappedBody(WrapInfo WrapInfo) : IValueCarrier
    {
        void IValueCarrier.RegisterValues(SecretScrubber scrubber) => (WrapInfo as IValueCarrier)?.RegisterValues(scrubber);
    }
}
