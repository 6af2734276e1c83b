using System.Diagnostics;
using System.Security.Cryptography;
using Keyward.Core.Policies;
using Keyward.Core.Tokens.Derived;

namespace Keyward.Benchmarks.Agents;

/// <summary>
/// Server-side verification cost of an offline-derived (kwd_) token, measured in-process: the same work as
/// <see cref="AttenuationBenchmarks"/> (parse, HMAC chain under K_att, constant-time compare, expiry; session lookup
/// excluded), as a plain timed loop so that `bench/run agents` needs no BenchmarkDotNet run.
/// </summary>
internal static class DeriveVerify
{
    private const int Warmup = 20_000;
    private const int Measured = 100_000;

    public static double MeasureMicroseconds()
    {
        const string Accessor = "0123456789abcdef0123456789abcdef";
        var key = RandomNumberGenerator.GetBytes(32);
        var now = DateTimeOffset.UtcNow;
        var token = DerivedToken.Encode(Accessor, [], DerivedToken.RootTag(key, Accessor),
            [Caveat.Expiry(now.AddHours(1)), Caveat.Path("apps/web/**"), Caveat.Allow(Capability.Read | Capability.List)]);
        var ok = 0;
        for (var i = 0; i < Warmup; i++)
        {
            ok += Verify(token, key, now) ? 1 : 0;
        }

        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < Measured; i++)
        {
            ok += Verify(token, key, now) ? 1 : 0;
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        return ok == Warmup + Measured ? elapsed.TotalMicroseconds / Measured : throw new InvalidOperationException("The derived token did not verify.");
    }

    private static bool Verify(string token, byte[] key, DateTimeOffset now) =>
        DerivedToken.TryParse(token, out var parsed, out _) && parsed!.HasValidTag(key) && parsed.Attenuation.ExpiresAt > now;
}
