namespace Keyward.Benchmarks;

/// <summary>Percentiles of the drivers' samples (nearest rank).</summary>
internal static class Percentiles
{
    /// <summary>The <paramref name="p"/> (0–1) percentile of <paramref name="sorted"/> (ascending, not empty).</summary>
    public static double Of(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
