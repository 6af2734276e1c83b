using System.Text.Json;

namespace Keyward.Client.Models;

/// <summary>
/// One server-sent event: its id (null for a reset), its type (<c>secret.written</c>, <c>token.revoked</c>, …) and its
/// JSON data (paths, versions, accessors — never a value).
/// </summary>
public sealed record KeywardEvent(long? Id, string Type, JsonElement Data)
{
    /// <summary>Events were missed for good (pruned): drop every cached value and start over.</summary>
    public const string ResetType = "reset";

    public bool IsReset => Type == ResetType;
}
