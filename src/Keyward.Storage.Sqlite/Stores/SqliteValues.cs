namespace Keyward.Storage.Sqlite.Stores;

/// <summary>Column conversions for writing: instants are stored as UTC ticks (INTEGER), so they sort and compare exactly; reading back is <see cref="Keyward.Core.Storage.StoredRows"/>.</summary>
internal static class SqliteValues
{
    public static long Ticks(DateTimeOffset value) => value.UtcTicks;

    public static object? Ticks(DateTimeOffset? value) => value?.UtcTicks;
}
