namespace Keyward.Benchmarks.Agents;

/// <summary>Server-side verification cost of an offline-derived (kwd_) token, measured in-process.</summary>
internal static class DeriveVerify
{
    /// <summary>Placeholder until the derived-token verifier lands: NaN prints as "nan".</summary>
    public static double MeasureMicroseconds() => double.NaN;
}
