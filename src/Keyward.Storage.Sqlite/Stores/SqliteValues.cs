using Microsoft.Data.Sqlite;

namespace Keyward.Storage.Sqlite.Stores;

/// <summary>Column conversions: instants are stored as UTC ticks (INTEGER), so they sort and compare exactly.</summary>
internal static class SqliteValues
{
    public static long Ticks(DateTimeOffset value) => value.UtcTicks;

    public static object? Ticks(DateTimeOffset? value) => value?.UtcTicks;

    public static DateTimeOffset Instant(SqliteDataReader reader, int ordinal) => new(reader.GetInt64(ordinal), TimeSpan.Zero);

    public static DateTimeOffset? NullableInstant(SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : new DateTimeOffset(reader.GetInt64(ordinal), TimeSpan.Zero);

    public static string? NullableString(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static byte[]? NullableBlob(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : (byte[])reader.GetValue(ordinal);

    public static byte[] Blob(SqliteDataReader reader, int ordinal) => (byte[])reader.GetValue(ordinal);
}
