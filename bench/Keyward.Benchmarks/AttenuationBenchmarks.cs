using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Keyward.Core.Policies;
using Keyward.Core.Tokens.Derived;

namespace Keyward.Benchmarks;

/// <summary>
/// Server-side verification of a derived (<c>kwd_</c>) token with three caveats (expiry, path, capabilities), as
/// <c>TokenService</c> does it for every request made with one, minus the session lookup (a cache hit in practice):
/// parse and validate the caveats, recompute the HMAC chain from the token id under K_att, compare in constant time,
/// check the expiry. Target: at most 20 µs.
/// </summary>
[MemoryDiagnoser]
public class AttenuationBenchmarks
{
    private const string Accessor = "0123456789abcdef0123456789abcdef";

    private byte[] _key = [];
    private string _token = "";
    private DateTimeOffset _now;

    [GlobalSetup]
    public void Setup()
    {
        _key = RandomNumberGenerator.GetBytes(32);
        _now = DateTimeOffset.UtcNow;
        _token = DerivedToken.Encode(Accessor, [], DerivedToken.RootTag(_key, Accessor),
        [
            Caveat.Expiry(_now.AddHours(1)),
            Caveat.Path("apps/web/**"),
            Caveat.Allow(Capability.Read | Capability.List),
        ]);
        if (!VerifyDerived3Caveats() || !Attenuation().Allows("apps/web/prod/api-key", Capability.Read))
        {
            throw new InvalidOperationException("The benchmark's token no longer verifies.");
        }
    }

    [Benchmark]
    public bool VerifyDerived3Caveats() =>
        DerivedToken.TryParse(_token, out var parsed, out _)
        && parsed!.HasValidTag(_key)
        && parsed.Attenuation.ExpiresAt > _now;

    private Attenuation Attenuation() => DerivedToken.TryParse(_token, out var parsed, out _) ? parsed!.Attenuation : throw new InvalidOperationException();
}
