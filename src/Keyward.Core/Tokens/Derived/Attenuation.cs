using Keyward.Core.Policies;

namespace Keyward.Core.Tokens.Derived;

/// <summary>
/// What the caveats of a derived token leave of its session's rights. A request is allowed only if the session's
/// rules allow it AND every caveat does: path caveats must all match (whole segments), capability caveats
/// intersect, the earliest expiry wins. A tool caveat restricts the token to calls of that one integration, so every
/// capability check outside such a call fails closed.
/// </summary>
public sealed class Attenuation
{
    private readonly PathGlob[] _paths;

    internal Attenuation(IReadOnlyList<Caveat> caveats, string id)
    {
        Id = id;
        var paths = new List<PathGlob>();
        var capabilities = Caveat.AllCapabilities;
        var expiry = long.MaxValue;
        var agents = new List<string>();
        var chain = new List<string>();
        foreach (var caveat in caveats)
        {
            switch (caveat.Type)
            {
                case CaveatType.Expiry:
                    expiry = Math.Min(expiry, caveat.UnixSeconds);
                    break;
                case CaveatType.Path:
                    paths.Add(caveat.Glob!);
                    break;
                case CaveatType.Capabilities:
                    capabilities &= caveat.Capabilities;
                    break;
                case CaveatType.Tool:
                    Tool = caveat.Text;
                    chain.Add("tool:" + caveat.Text);
                    break;
                case CaveatType.Agent:
                    agents.Add(caveat.Text!);
                    chain.Add("agent:" + caveat.Text);
                    break;
            }
        }

        _paths = [.. paths];
        Capabilities = capabilities;
        ExpiresAt = DateTimeOffset.FromUnixTimeSeconds(expiry);
        SubAgents = agents;
        Links = chain;
    }

    /// <summary>The token's id (<c>&lt;session accessor&gt;.&lt;hash&gt;</c>): named in its audit records, revoked by <c>POST /v1/auth/revoke {derived_id}</c>.</summary>
    public string Id { get; }

    /// <summary>The capabilities every capability caveat leaves (all six if there is none).</summary>
    public Capability Capabilities { get; }

    /// <summary>The path globs a path must all match (none: any path the session allows).</summary>
    public IReadOnlyList<PathGlob> Paths => _paths;

    /// <summary>The earliest expiry caveat (the session's own expiry applies too).</summary>
    public DateTimeOffset ExpiresAt { get; }

    /// <summary>The integration the token is restricted to (a <c>tool</c> caveat), if any: it may call that one and do nothing else.</summary>
    public string? Tool { get; }

    /// <summary>The sub-agent ids of the delegation chain, outermost first.</summary>
    public IReadOnlyList<string> SubAgents { get; }

    /// <summary>The delegation links after the session (<c>agent:…</c>, <c>tool:…</c>) in caveat order.</summary>
    public IReadOnlyList<string> Links { get; }

    /// <summary>Whether the caveats allow <paramref name="capability"/> on <paramref name="path"/> outside the gateway.</summary>
    public bool Allows(string path, Capability capability) => Tool is null && AllowsPath(path, capability);

    /// <summary>
    /// Whether the caveats allow a call of <paramref name="integration"/> (the HTTP gateway; MCP once it exists), whose
    /// secret is <paramref name="secretPath"/>, with <paramref name="capability"/> (<c>use</c>): a <c>tool</c> caveat must
    /// name that integration, and path and capability caveats apply to its secret.
    /// </summary>
    public bool AllowsCall(string integration, string secretPath, Capability capability) =>
        (Tool is null || string.Equals(Tool, integration, StringComparison.Ordinal)) && AllowsPath(secretPath, capability);

    private bool AllowsPath(string path, Capability capability)
    {
        if (capability == Capability.None || (Capabilities & capability) != capability)
        {
            return false;
        }

        foreach (var glob in _paths)
        {
            if (!glob.Matches(path))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The audit chain of a request made with this token: <c>session:&lt;accessor&gt;</c>, then the links.</summary>
    public IReadOnlyList<string> Chain(string sessionAccessor)
    {
        var chain = new string[Links.Count + 1];
        chain[0] = "session:" + sessionAccessor;
        for (var i = 0; i < Links.Count; i++)
        {
            chain[i + 1] = Links[i];
        }

        return chain;
    }
}
