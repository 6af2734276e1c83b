using System.Globalization;

namespace Keyward.Core;

/// <summary>Instants on the wire and in audit records: RFC 3339, UTC, seven fractional digits, a Z.</summary>
public static class Instants
{
    public const string Rfc3339Format = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    /// <summary>The round-trip ("O") format of a UTC DateTime is exactly <see cref="Rfc3339Format"/>, on the runtime's fast path.</summary>
    public static string Format(DateTimeOffset value) => value.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);
}
