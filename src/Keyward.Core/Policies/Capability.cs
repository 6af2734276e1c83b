namespace Keyward.Core.Policies;

/// <summary>
/// What a rule grants on the paths its glob matches. <see cref="Use"/> lets the gateway inject a value the agent
/// never sees; it never implies <see cref="Read"/>.
/// </summary>
[Flags]
public enum Capability
{
    None = 0,
    Read = 1,
    Use = 2,
    List = 4,
    Write = 8,
    Delete = 16,
    Rotate = 32,
}

public static class Capabilities
{
    private static readonly (string Name, Capability Value)[] All =
    [
        ("read", Capability.Read),
        ("use", Capability.Use),
        ("list", Capability.List),
        ("write", Capability.Write),
        ("delete", Capability.Delete),
        ("rotate", Capability.Rotate),
    ];

    public static bool TryParse(string? name, out Capability capability)
    {
        foreach (var (n, v) in All)
        {
            if (string.Equals(n, name, StringComparison.Ordinal))
            {
                capability = v;
                return true;
            }
        }

        capability = Capability.None;
        return false;
    }

    public static string Name(Capability capability)
    {
        foreach (var (n, v) in All)
        {
            if (v == capability)
            {
                return n;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(capability), capability, "Not a single capability.");
    }

    public static IReadOnlyList<string> Names(Capability capabilities) =>
        All.Where(c => (capabilities & c.Value) != 0).Select(c => c.Name).ToArray();

    public static IEnumerable<Capability> Each(Capability capabilities) =>
        All.Select(c => c.Value).Where(v => (capabilities & v) != 0);
}
