using System.Text.Json;
using Keyward.Core.Storage;

namespace Keyward.Core.Events;

/// <summary>Writes events inside the caller's transaction, so that an event exists exactly when its change does.</summary>
public static class EventLog
{

    public static Task<long> AppendAsync(
        IWriteSession session, string tenantUid, string type, DateTimeOffset at, object data, string? path = null, string? subjectAccessor = null) =>
        session.Events.AppendAsync(Record(tenantUid, type, at, data, path, subjectAccessor));

    /// <summary>An event to append later (its id is assigned by the store), its data serialized once, here.</summary>
    public static EventRecord Record(string tenantUid, string type, DateTimeOffset at, object data, string? path = null, string? subjectAccessor = null) =>
        new(0, tenantUid, type, path, subjectAccessor, JsonSerializer.Serialize(data, StoredJson.SnakeCase), at);
}
