using System.Buffers.Text;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Serialization;

namespace Keyward.Client;

/// <summary>
/// An agent session token (<c>kws_</c>) or a token derived from one (<c>kwd_</c>), which can be narrowed offline
/// for a sub-task: <see cref="Attenuate(TokenCaveat[])"/> appends caveats macaroon-style (HMAC chain, no round trip),
/// and the result works with the session's rights minus whatever the caveats take away, and dies with the session.
/// Pass <see cref="Value"/> as the client's token. <see cref="object.ToString"/> never shows the token.
/// </summary>
/// <example>
/// <code>
/// var session = KeywardToken.Parse(sessionToken);
/// var forWorker = session.Attenuate(
///     TokenCaveat.ExpiresAt(DateTimeOffset.UtcNow.AddMinutes(5)),
///     TokenCaveat.Path("apps/web/**"),
///     TokenCaveat.Capabilities("read"),
///     TokenCaveat.SubAgent("worker-7"));
/// using var client = new KeywardClient(address, forWorker.Value);
/// </code>
/// </example>
[DebuggerDisplay("{ToString(),nq}")]
public sealed class KeywardToken
{
    private const string SessionPrefix = "kws_";
    private const string DerivedPrefix = "kwd_";
    private const byte FormatVersion = 1;
    private const int TagBytes = 32;
    private const int TokenIdBytes = 16;
    private const int HeaderBytes = 1 + TokenIdBytes + 1;

    /// <summary>The server refuses more (docs/designs/0004-derived-tokens.md).</summary>
    public const int MaxCaveats = 16;

    /// <summary>The server refuses longer derived tokens.</summary>
    public const int MaxDerivedLength = 2048;

    [DebuggerBrowsable(DebuggerBrowsableState.Never)]
    private readonly byte[] _tag;

    private KeywardToken(string value, string accessor, IReadOnlyList<TokenCaveat> caveats, byte[] tag)
    {
        Value = value;
        Accessor = accessor;
        Caveats = caveats;
        _tag = tag;
    }

    /// <summary>The token string to send. Treat it as a secret: it refuses serialization (<see cref="SecretSerialization"/>) and hides from debuggers.</summary>
    [JsonConverter(typeof(SecretFieldJsonConverter<string>))]
    [DebuggerBrowsable(DebuggerBrowsableState.Never)]
    public string Value { get; }

    /// <summary>Whether this is a derived (<c>kwd_</c>) token.</summary>
    public bool IsDerived => Caveats.Count > 0;

    /// <summary>The session's accessor (not secret): revoking it revokes every token derived from it.</summary>
    public string Accessor { get; }

    /// <summary>
    /// A derived token's id, <c>&lt;accessor&gt;.&lt;32 hex digits of SHA-256(its tag)&gt;</c> (null for a session token): what
    /// its audit records name, and what <see cref="KeywardClient.RevokeDerivedTokenAsync"/> takes to revoke it — and every
    /// token derived from it — while the session lives on. Not a secret: the tag cannot be recovered from it.
    /// </summary>
    public string? DerivedId => IsDerived ? Accessor + "." + Convert.ToHexStringLower(SHA256.HashData(_tag).AsSpan(0, 16)) : null;

    /// <summary>The caveats, in the order they were appended (none for a session token).</summary>
    public IReadOnlyList<TokenCaveat> Caveats { get; }

    /// <summary>The earliest expiry caveat; null for a session token (its expiry is the server's to say).</summary>
    public DateTimeOffset? ExpiresAt =>
        Caveats.Where(c => c.Type == TokenCaveat.ExpiryType).Select(c => (DateTimeOffset?)DateTimeOffset.FromUnixTimeSeconds(long.Parse(c.Value, System.Globalization.CultureInfo.InvariantCulture))).Min();

    /// <summary>Reads an agent session token or a derived token.</summary>
    /// <exception cref="ArgumentException">Not an attenuable token (other kinds, or a session token minted without a root tag).</exception>
    public static KeywardToken Parse(string token) =>
        TryParse(token, out var parsed) ? parsed! : throw new ArgumentException("Not an agent session token (kws_…) or a derived token (kwd_…) this SDK can attenuate.", nameof(token));

    public static bool TryParse(string? token, out KeywardToken? parsed)
    {
        parsed = null;
        if (token is null)
        {
            return false;
        }

        if (token.StartsWith(SessionPrefix, StringComparison.Ordinal))
        {
            // kws_<43 random>.<accessor: 32 lowercase hex>.<base64url(t0): 43>
            var parts = token[SessionPrefix.Length..].Split('.');
            if (parts.Length != 3 || parts[0].Length != 43 || !IsAccessor(parts[1]) || parts[2].Length != 43)
            {
                return false;
            }

            var tag = new byte[TagBytes];
            if (!Base64Url.TryDecodeFromChars(parts[2], tag, out var written) || written != TagBytes || Base64Url.EncodeToString(tag) != parts[2])
            {
                return false;
            }

            parsed = new KeywardToken(token, parts[1], [], tag);
            return true;
        }

        if (!token.StartsWith(DerivedPrefix, StringComparison.Ordinal) || token.Length > MaxDerivedLength)
        {
            return false;
        }

        byte[] payload;
        try
        {
            payload = Base64Url.DecodeFromChars(token.AsSpan(DerivedPrefix.Length));
        }
        catch (FormatException)
        {
            return false;
        }

        if (DerivedPrefix + Base64Url.EncodeToString(payload) != token || payload.Length < HeaderBytes + TagBytes || payload[0] != FormatVersion)
        {
            return false;
        }

        int count = payload[HeaderBytes - 1];
        var caveats = new List<TokenCaveat>(count);
        var offset = HeaderBytes;
        var end = payload.Length - TagBytes;
        for (var i = 0; i < count; i++)
        {
            var caveat = TokenCaveat.TryRead(payload.AsSpan(offset, end - offset), out var consumed);
            if (caveat is null)
            {
                return false;
            }

            caveats.Add(caveat);
            offset += consumed;
        }

        if (offset != end || count is 0 or > MaxCaveats || !caveats.Any(c => c.Type == TokenCaveat.ExpiryType))
        {
            return false;
        }

        parsed = new KeywardToken(token, Convert.ToHexStringLower(payload.AsSpan(1, TokenIdBytes)), caveats, payload[end..]);
        return true;
    }

    /// <summary>
    /// A new, narrower token: this token's caveats plus <paramref name="caveats"/>, chained from this token's tag.
    /// Pure computation, no request. The result must carry an expiry (from <paramref name="caveats"/> or this token).
    /// </summary>
    /// <exception cref="ArgumentException">No expiry, more than <see cref="MaxCaveats"/> caveats, conflicting tool caveats, or too long.</exception>
    public KeywardToken Attenuate(params TokenCaveat[] caveats) => Attenuate((IEnumerable<TokenCaveat>)caveats);

    /// <inheritdoc cref="Attenuate(TokenCaveat[])"/>
    public KeywardToken Attenuate(IEnumerable<TokenCaveat> caveats)
    {
        ArgumentNullException.ThrowIfNull(caveats);
        var added = caveats.ToArray();
        if (added.Length == 0 || Array.Exists(added, c => c is null))
        {
            throw new ArgumentException("Append at least one caveat (and no null).", nameof(caveats));
        }

        var all = Caveats.Concat(added).ToArray();
        if (all.Length > MaxCaveats)
        {
            throw new ArgumentException($"A derived token has at most {MaxCaveats} caveats.", nameof(caveats));
        }

        if (!Array.Exists(all, c => c.Type == TokenCaveat.ExpiryType))
        {
            throw new ArgumentException("A derived token needs an expiry caveat (TokenCaveat.ExpiresAt).", nameof(caveats));
        }

        if (all.Where(c => c.Type == TokenCaveat.ToolType).Select(c => c.Value).Distinct(StringComparer.Ordinal).Count() > 1)
        {
            throw new ArgumentException("Tool caveats naming different tools leave nothing; the server refuses such a token.", nameof(caveats));
        }

        var size = HeaderBytes + all.Sum(c => c.Encoded.Length) + TagBytes;
        var payload = new byte[size];
        payload[0] = FormatVersion;
        Convert.FromHexString(Accessor).CopyTo(payload, 1);
        payload[HeaderBytes - 1] = (byte)all.Length;
        var offset = HeaderBytes;
        var tag = (byte[])_tag.Clone();
        for (var i = 0; i < all.Length; i++)
        {
            all[i].Encoded.CopyTo(payload.AsSpan(offset));
            if (i >= Caveats.Count)
            {
                // t_i = HMAC-SHA256(t_{i-1}, canonical caveat_i)
                var next = HMACSHA256.HashData(tag, all[i].Encoded);
                CryptographicOperations.ZeroMemory(tag);
                tag = next;
            }

            offset += all[i].Encoded.Length;
        }

        tag.CopyTo(payload, offset);
        var value = DerivedPrefix + Base64Url.EncodeToString(payload);
        if (value.Length > MaxDerivedLength)
        {
            throw new ArgumentException($"The derived token would be longer than {MaxDerivedLength} characters.", nameof(caveats));
        }

        return new KeywardToken(value, Accessor, all, tag);
    }

    /// <summary>Describes the token without revealing it.</summary>
    public override string ToString() =>
        $"KeywardToken {{ Kind = {(IsDerived ? "derived" : "agent")}, Accessor = {Accessor}, Caveats = [{string.Join(", ", Caveats)}], Value = (redacted) }}";

    private static bool IsAccessor(string value) =>
        value.Length == TokenIdBytes * 2 && value.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));
}
