namespace Keyward.Core.Seal;

/// <summary>
/// What the store knows about the root key: how it was split, which share set belongs to it, and a check value
/// that proves a reconstructed key right without revealing anything about it. Never the key itself.
/// </summary>
public sealed record SealConfig(int Shares, int Threshold, uint ShareSetId, byte[] RootCheck, DateTimeOffset CreatedAt);

/// <summary>Storage port for the seal configuration (one row, written once at init).</summary>
public interface ISealStore
{
    Task<SealConfig?> GetAsync(CancellationToken cancellationToken = default);

    /// <summary>Inserts the configuration; returns false if one exists already.</summary>
    Task<bool> TryInsertAsync(SealConfig config, CancellationToken cancellationToken = default);
}
