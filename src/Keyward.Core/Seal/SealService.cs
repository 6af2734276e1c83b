using System.Security.Cryptography;
using Keyward.Core.Audit;
using Keyward.Core.Diagnostics;
using Keyward.Core.Errors;
using Keyward.Core.Storage;
using Keyward.Core.Tokens;
using Keyward.Crypto.Keys;
using Keyward.Crypto.Shamir;
using Microsoft.Extensions.Logging;

namespace Keyward.Core.Seal;

public sealed record InitResult(IReadOnlyList<string> Keys, string RootToken);

public sealed record UnsealStatus(bool Sealed, int Progress, int Threshold);

/// <summary>
/// Initialization (root key generated and split into Shamir shares, returned once), unsealing from a threshold of
/// shares, sealing (keys zeroed), and the root token's retirement and regeneration from shares.
/// </summary>
public sealed class SealService
{
    /// <summary>Unseal progress is forgotten this long after the first share, so a half-done unseal cannot linger.</summary>
    public static readonly TimeSpan UnsealProgressLifetime = TimeSpan.FromMinutes(10);

    private readonly IKeywardStore _store;
    private readonly KeyHierarchy _keys;
    private readonly GroupCommitter _committer;
    private readonly TokenService _tokens;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<KeyShare> _progress = [];
    private DateTimeOffset _progressStarted;

    public SealService(IKeywardStore store, KeyHierarchy keys, GroupCommitter committer, TokenService tokens, TimeProvider time, ILogger<SealService> logger)
    {
        _store = store;
        _keys = keys;
        _committer = committer;
        _tokens = tokens;
        _time = time;
        _logger = logger;
    }

    /// <summary>Reads the seal configuration at start: uninitialized or sealed.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken = default)
    {
        await using var session = await _store.ReadAsync(cancellationToken);
        _keys.SetConfig(await session.Seal.GetAsync(cancellationToken));
    }

    public UnsealStatus Status
    {
        get
        {
            var config = _keys.Config;
            lock (_progress)
            {
                return new UnsealStatus(_keys.State != SealState.Unsealed, _progress.Count, config?.Threshold ?? 0);
            }
        }
    }

    /// <summary>
    /// Generates the root key, splits it, stores only the check value and the share set id, and mints the root
    /// token (or adopts <paramref name="rootToken"/>, for dev mode). The server is unsealed afterwards.
    /// </summary>
    public async Task<InitResult> InitializeAsync(int shares, int threshold, AuditDraft audit, string? rootToken = null)
    {
        if (shares is < 1 or > ShamirSecretSharing.MaxShares)
        {
            throw KeywardErrors.InvalidField("shares", $"must be between 1 and {ShamirSecretSharing.MaxShares}");
        }

        if (threshold < 1 || threshold > shares)
        {
            throw KeywardErrors.InvalidField("threshold", "must be between 1 and shares");
        }

        if (shares > 1 && threshold < 2)
        {
            throw KeywardErrors.InvalidField("threshold", "must be at least 2 when there is more than one share (otherwise every share is the whole key)");
        }

        await _gate.WaitAsync();
        try
        {
            if (_keys.State != SealState.Uninitialized)
            {
                throw KeywardErrors.AlreadyInitialized();
            }

            var root = RootKey.Generate();
            var setId = BitConverter.ToUInt32(RandomNumberGenerator.GetBytes(4));
            var split = ShamirSecretSharing.Split(root.Material, shares, threshold);
            var config = new SealConfig(shares, threshold, setId, root.ComputeCheck(), _time.GetUtcNow());
            var encoded = split.Select(s =>
            {
                using var share = new KeyShare(setId, s.X, s.Y);
                return share.Encode();
            }).ToArray();

            _keys.Install(config, root);
            var (token, record) = _tokens.Mint(TokenKind.Root, null, null, null, "root", token: rootToken);
            audit.AddDetail("shares", shares);
            audit.AddDetail("threshold", threshold);
            audit.AddDetail("root_accessor", record.Accessor);
            try
            {
                await _committer.ExecuteAsync(audit, async session =>
                {
                    if (!await session.Seal.TryInsertAsync(config))
                    {
                        throw KeywardErrors.AlreadyInitialized();
                    }

                    await session.Tokens.InsertAsync(record);
                });
            }
            catch
            {
                await _keys.SealAsync(0, TimeSpan.Zero, _time);
                await LoadAsync();
                throw;
            }

            KeywardLog.Initialized(_logger, shares, threshold);
            return new InitResult(encoded, token);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Takes one share. A share of another initialization, or a threshold of shares that does not reconstruct
    /// the root key, is refused with <c>unseal_failed</c>, clears the progress and leaves the server sealed.
    /// </summary>
    public async Task<UnsealStatus> SubmitShareAsync(string? encodedShare, AuditDraft audit)
    {
        await _gate.WaitAsync();
        try
        {
            var config = _keys.Config ?? throw KeywardErrors.NotInitialized();
            if (_keys.State == SealState.Unsealed)
            {
                return Status;
            }

            lock (_progress)
            {
                if (_progress.Count > 0 && _time.GetUtcNow() - _progressStarted > UnsealProgressLifetime)
                {
                    ClearProgress();
                }
            }

            if (!KeyShare.TryParse(encodedShare, SecretKey.SizeInBytes, out var share, out var reason))
            {
                KeywardLog.UnsealFailed(_logger, reason!);
                throw KeywardErrors.UnsealFailed($"The key share is malformed: {reason}.");
            }

            RootKey? candidate = null;
            lock (_progress)
            {
                if (share!.SetId != config.ShareSetId)
                {
                    share.Dispose();
                    ClearProgress();
                    KeywardLog.UnsealFailed(_logger, "share of another initialization");
                    throw KeywardErrors.UnsealFailed("This key share belongs to a different initialization (another server or an earlier init); progress was cleared.");
                }

                if (_progress.Exists(s => s.X == share.X))
                {
                    share.Dispose();
                    throw KeywardErrors.UnsealFailed("This key share was already submitted; progress is unchanged.");
                }

                if (_progress.Count == 0)
                {
                    _progressStarted = _time.GetUtcNow();
                }

                _progress.Add(share);
                if (_progress.Count < config.Threshold)
                {
                    return new UnsealStatus(true, _progress.Count, config.Threshold);
                }

                candidate = Reconstruct(config, _progress);
                ClearProgress();
            }

            if (candidate is null)
            {
                KeywardLog.UnsealFailed(_logger, "shares do not reconstruct the root key");
                throw KeywardErrors.UnsealFailed("The key shares do not reconstruct this server's root key; progress was cleared and the server stays sealed.");
            }

            _keys.Install(config, candidate);
            _tokens.InvalidateCache();
            KeywardLog.Unsealed(_logger);
            audit.SuccessStatus = 200;
            audit.Succeeded();
            await _committer.AuditAsync(audit);
            return Status;
        }
        finally
        {
            _gate.Release();
        }
    }

    public UnsealStatus ResetProgress()
    {
        lock (_progress)
        {
            ClearProgress();
        }

        return Status;
    }

    /// <summary>Unseals from a key file or the dev key: every share in it, at once.</summary>
    public async Task UnsealWithSharesAsync(IEnumerable<string> shares, AuditDraft audit)
    {
        ResetProgress();
        foreach (var share in shares)
        {
            var status = await SubmitShareAsync(share, audit);
            if (!status.Sealed)
            {
                return;
            }
        }

        if (_keys.State != SealState.Unsealed)
        {
            throw KeywardErrors.UnsealFailed("The key file holds fewer shares than the threshold.");
        }
    }

    /// <summary>Records the seal, then wipes every key from memory. Requests then get 503 until unsealed.</summary>
    public async Task SealAsync(Principal caller, AuditDraft audit)
    {
        caller.RequireRoot();
        audit.Succeeded();
        await _committer.AuditAsync(audit);
        await _keys.SealAsync(ownRequests: 1, drainTimeout: TimeSpan.FromSeconds(2), _time);
        _tokens.InvalidateCache();
        KeywardLog.SealedNow(_logger);
    }

    /// <summary>Retires every root token. A new one needs a threshold of shares (generate-root).</summary>
    public async Task RevokeRootTokensAsync(Principal caller, AuditDraft audit)
    {
        caller.RequireRoot();
        var count = await _committer.ExecuteAsync(audit, session => session.Tokens.RevokeRootTokensAsync(_time.GetUtcNow()));
        KeywardLog.RootTokensRevoked(_logger, count);
    }

    /// <summary>Mints a new root token from a threshold of shares, retiring any other root token.</summary>
    public async Task<string> GenerateRootAsync(IReadOnlyList<string>? shares, AuditDraft audit)
    {
        var config = _keys.Config ?? throw KeywardErrors.NotInitialized();
        _keys.Require();
        if (shares is null || shares.Count == 0)
        {
            throw KeywardErrors.MissingField("keys");
        }

        var parsed = new List<KeyShare>();
        try
        {
            foreach (var text in shares)
            {
                if (!KeyShare.TryParse(text, SecretKey.SizeInBytes, out var share, out var reason))
                {
                    throw KeywardErrors.UnsealFailed($"A key share is malformed: {reason}.");
                }

                parsed.Add(share!);
            }

            if (parsed.Exists(s => s.SetId != config.ShareSetId) || parsed.Select(s => s.X).Distinct().Count() != parsed.Count
                || parsed.Count < config.Threshold)
            {
                throw KeywardErrors.UnsealFailed($"Need {config.Threshold} distinct key shares of this server's initialization.");
            }

            using var candidate = Reconstruct(config, parsed);
            if (candidate is null)
            {
                throw KeywardErrors.UnsealFailed("The key shares do not reconstruct this server's root key.");
            }
        }
        finally
        {
            parsed.ForEach(s => s.Dispose());
        }

        var token = await ReplaceRootTokenAsync(audit, null);
        KeywardLog.RootTokenGenerated(_logger);
        return token;
    }

    /// <summary>Revokes every root token and installs a new one (given, for dev mode, or random).</summary>
    public async Task<string> ReplaceRootTokenAsync(AuditDraft audit, string? rootToken)
    {
        var (token, record) = _tokens.Mint(TokenKind.Root, null, null, null, "root", token: rootToken);
        audit.AddDetail("root_accessor", record.Accessor);
        await _committer.ExecuteAsync(audit, async session =>
        {
            await session.Tokens.RevokeRootTokensAsync(_time.GetUtcNow());
            if (await session.Tokens.GetByHashAsync(record.Hash) is { } same)
            {
                // Dev mode given the same --dev-root-token again: the string is reinstated under a new accessor.
                await session.Tokens.DeleteAsync(same.Accessor);
            }

            await session.Tokens.InsertAsync(record);
            return true;
        });
        return token;
    }

    /// <summary>
    /// Reconstructs the root key from shares and checks it against the stored check value; null if wrong.
    /// Also used offline, by operator verbs working on a stopped server's data.
    /// </summary>
    public static RootKey? Reconstruct(SealConfig config, IReadOnlyList<KeyShare> shares)
    {
        var material = ShamirSecretSharing.Combine(shares.Select(s => (s.X, s.Y)).ToArray());
        try
        {
            var candidate = RootKey.Import(material);
            if (candidate.MatchesCheck(config.RootCheck))
            {
                return candidate;
            }

            candidate.Dispose();
            return null;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(material);
        }
    }

    /// <summary>Parses shares (key file lines or flags) and reconstructs, for offline verbs.</summary>
    public static RootKey ReconstructFromText(SealConfig config, IEnumerable<string> encodedShares)
    {
        var shares = new List<KeyShare>();
        try
        {
            foreach (var text in encodedShares)
            {
                if (!KeyShare.TryParse(text, SecretKey.SizeInBytes, out var share, out var reason))
                {
                    throw KeywardErrors.UnsealFailed($"A key share is malformed: {reason}.");
                }

                if (share!.SetId != config.ShareSetId)
                {
                    share.Dispose();
                    throw KeywardErrors.UnsealFailed("A key share belongs to a different initialization.");
                }

                if (!shares.Exists(s => s.X == share.X))
                {
                    shares.Add(share);
                }
            }

            if (shares.Count < config.Threshold)
            {
                throw KeywardErrors.UnsealFailed($"Need {config.Threshold} distinct key shares; got {shares.Count}.");
            }

            return Reconstruct(config, shares) ?? throw KeywardErrors.UnsealFailed("The key shares do not reconstruct this store's root key.");
        }
        finally
        {
            shares.ForEach(s => s.Dispose());
        }
    }

    private void ClearProgress()
    {
        _progress.ForEach(s => s.Dispose());
        _progress.Clear();
    }
}
