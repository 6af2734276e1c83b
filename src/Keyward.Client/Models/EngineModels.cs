using System.Diagnostics;
using System.Text.Json.Serialization;
using Keyward.Client.Internal;

namespace Keyward.Client.Models;

/// <summary>A PostgreSQL connection of the tenant, as reads return it (never its password).</summary>
public sealed record PostgresConnection(
    string Name, string ConnectionUrl, string Username, int? MaxOpenLeases, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? RootRotatedAt);

/// <summary>
/// What <c>PUT /v1/engines/postgres/{name}</c> sends; <see cref="Password"/> may be null on a later PUT to the same target
/// (the stored one is kept). A PUT that changes the connection URL or the username must send it again (400
/// <c>password_required</c>), and is refused while a lease of the connection is open (409 <c>engine_in_use</c>).
/// </summary>
[DebuggerDisplay("{ToString(),nq}")]
public sealed record PostgresConnectionSpec(
    string ConnectionUrl, string Username,
    [property: JsonConverter(typeof(SecretFieldJsonConverter<string>)), DebuggerBrowsable(DebuggerBrowsableState.Never)]
    string? Password, int? MaxOpenLeases = null)
{
    /// <summary>Never prints the password.</summary>
    public override string ToString() => $"PostgresConnectionSpec {{ ConnectionUrl = {ConnectionUrl}, Username = {Username}, MaxOpenLeases = {MaxOpenLeases} }}";
}

/// <summary>A role of a connection: the SQL that creates and drops a login (<c>{{name}}</c>, <c>{{password}}</c>, <c>{{expiration}}</c>), and its lease terms.</summary>
public sealed record PostgresRole(
    string Connection, string Name, IReadOnlyList<string> CreationStatements, IReadOnlyList<string>? RevocationStatements,
    TimeSpan DefaultTtl, TimeSpan MaxTtl, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>A login of one's own on a tenant database, owned by a lease; <see cref="ToString"/> never prints the password.</summary>
[DebuggerDisplay("{ToString(),nq}")]
public sealed record PostgresCredential(
    string Username,
    [property: JsonConverter(typeof(SecretFieldJsonConverter<string>)), DebuggerBrowsable(DebuggerBrowsableState.Never)]
    string Password, string LeaseId, TimeSpan LeaseDuration, bool Renewable) : IValueCarrier
{
    void IValueCarrier.RegisterValues(SecretScrubber scrubber) => scrubber.RegisterIfAny(Password);

    public override string ToString() => $"PostgresCredential {{ Username = {Username}, Password = (redacted), LeaseId = {LeaseId}, LeaseDuration = {LeaseDuration} }}";
}
