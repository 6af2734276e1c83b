using System.Collections.Concurrent;
using System.Text.RegularExpressions;

namespace Keyward.Core.Storage;

/// <summary>
/// What a write transaction changed, as far as a node's caches are concerned: the group committer invalidates exactly
/// the caches (<see cref="IStoreCache"/>) that watch what the batch changed, around its commit — so a cache is never
/// left serving a row a write replaced, however that write was made, and a change that no cache holds (a lease, a
/// budget count, an audit record) leaves the caches warm.
/// </summary>
[Flags]
public enum StoreChanges
{
    None = 0,

    /// <summary>Secrets and their versions (<c>secrets</c>, <c>secret_versions</c>).</summary>
    SecretRows = 1,

    /// <summary>Tokens and derived-token revocations (<c>tokens</c>, <c>derived_revocations</c>).</summary>
    Tokens = 2,

    /// <summary>Tenants (<c>tenants</c>): their state and lockdown epoch.</summary>
    Tenants = 4,

    /// <summary>Tenant key versions (<c>tenant_keys</c>).</summary>
    KeyRings = 8,

    All = SecretRows | Tokens | Tenants | KeyRings,
}

/// <summary>
/// Reads what a SQL statement changes from its text: the table after each <c>INSERT INTO</c>, <c>UPDATE</c> and
/// <c>DELETE FROM</c> (CTEs and several statements included), mapped to <see cref="StoreChanges"/>. The stores call it for
/// every statement a write session runs, so no write path has to remember which caches it makes stale. Statements are
/// constant strings: each is classified once.
/// </summary>
public static partial class StoreStatements
{
    private static readonly ConcurrentDictionary<string, StoreChanges> Classified = new(StringComparer.Ordinal);

    private static readonly Dictionary<string, StoreChanges> Tables = new(StringComparer.OrdinalIgnoreCase)
    {
        ["secrets"] = StoreChanges.SecretRows,
        ["secret_versions"] = StoreChanges.SecretRows,
        ["tokens"] = StoreChanges.Tokens,
        ["derived_revocations"] = StoreChanges.Tokens,
        ["tenants"] = StoreChanges.Tenants,
        ["tenant_keys"] = StoreChanges.KeyRings,
    };

    /// <summary>The caches a statement makes stale if it runs in a write transaction.</summary>
    public static StoreChanges Changes(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        return Classified.TryGetValue(sql, out var known) ? known : Classified.GetOrAdd(sql, Classify);
    }

    private static StoreChanges Classify(string sql)
    {
        var changes = StoreChanges.None;
        foreach (Match match in WrittenTable().Matches(sql))
        {
            if (Tables.TryGetValue(match.Groups["table"].Value, out var change))
            {
                changes |= change;
            }
        }

        return changes;
    }

    // "ON CONFLICT ... DO UPDATE SET" and "FOR UPDATE" capture SET, SKIP, OF...: not tables, ignored.
    [GeneratedRegex(@"\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+""?(?<table>[A-Za-z_][A-Za-z0-9_]*)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex WrittenTable();
}

/// <summary>A node-local cache of stored rows that must not outlive a change of them (see <see cref="StoreChanges"/>).</summary>
public interface IStoreCache
{
    /// <summary>The changes that make this cache stale.</summary>
    StoreChanges Watches { get; }

    /// <summary>Makes every entry stale (cheap: a generation bump); called before and after the commit of a watched change.</summary>
    void Invalidate();
}
