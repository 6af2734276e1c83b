using Npgsql;

namespace Keyward.Storage.Postgres.Stores;

/// <summary>Column conversions: instants are stored as UTC ticks (<c>bigint</c>), so they sort and compare exactly.</summary>
internal static class PostgresValues
{
    public static long Ticks(DateTimeOffset value) => value.UtcTicks;

    public static object? Ticks(DateTimeOffset? value) => value?.UtcTicks;

    public static DateTimeOffset Instant(NpgsqlDataReader reader, int ordinal) => new(reader.GetInt64(ordinal), TimeSpan.Zero);

    public static DateTimeOffset? NullableInstant(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : new DateTimeOffset(reader.GetInt64(ordinal), TimeSpan.Zero);

    public static string? NullableString(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static long? NullableInt64(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal);

    public static byte[]? NullableBlob(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetFieldValue<byte[]>(ordinal);

    public static byte[] Blob(NpgsqlDataReader reader, int ordinal) => reader.GetFieldValue<byte[]>(ordinal);
}
