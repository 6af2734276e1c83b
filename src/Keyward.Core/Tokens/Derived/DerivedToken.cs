using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Keyward.Core.Tokens.Derived;

/// <summary>
/// A derived (<c>kwd_</c>) token, attenuated offline from an agent session macaroon-style
/// (docs/designs/0004-derived-tokens.md). The session token carries its root tag <c>t0 = HMAC-SHA256(K_att,
/// accessor)</c>, K_att derived from the root key; a holder appends caveats with <c>t_i = HMAC-SHA256(t_{i-1},
/// caveat_i)</c>. Wire form: <c>kwd_</c> + unpadded base64url of
/// <c>version (1) ‖ token_id (16: the session accessor's bytes) ‖ count (1) ‖ caveats ‖ tag (32)</c>.
/// Knowing a tag lets one append caveats, never remove one: only K_att can compute a chain from scratch.
/// </summary>
public sealed class DerivedToken
{
    public const string Prefix = "kwd_";

    public const byte Version = 1;

    public const int TagBytes = 32;

    public const int TokenIdBytes = 16;

    /// <summary>Bounds what a presented token can make the server parse and MAC.</summary>
    public const int MaxCaveats = 16;

    /// <summary>Longest derived token string accepted (16 caveats of ordinary size fit easily).</summary>
    public const int MaxLength = 2048;

    private const int HeaderBytes = 1 + TokenIdBytes + 1;

    private readonly byte[] _payload;

    private DerivedToken(string tokenId, Caveat[] caveats, byte[] payload)
    {
        TokenId = tokenId;
        Caveats = caveats;
        _payload = payload;
        Attenuation = new Attenuation(caveats, IdOf(tokenId, payload.AsSpan(payload.Length - TagBytes)));
    }

    /// <summary>Characters of a derived id's hash part: 128 bits of SHA-256 of a tag, lowercase hex.</summary>
    public const int IdHashLength = 32;

    /// <summary>The session's accessor (32 lowercase hex characters): not a secret.</summary>
    public string TokenId { get; }

    public IReadOnlyList<Caveat> Caveats { get; }

    public Attenuation Attenuation { get; }

    private ReadOnlySpan<byte> Tag => _payload.AsSpan(_payload.Length - TagBytes);

    /// <summary>
    /// The hash part of a derived id: the first 128 bits of SHA-256 of a tag, lowercase hex. One-way: the id names the
    /// token (or a prefix of its chain) without giving away the tag, which would let anyone append caveats.
    /// </summary>
    public static string IdHash(ReadOnlySpan<byte> tag)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(tag, hash);
        return Convert.ToHexStringLower(hash[..(IdHashLength / 2)]);
    }

    /// <summary>A derived token's id: <c>&lt;session accessor&gt;.&lt;IdHash(final tag)&gt;</c> — which session, and which token of it.</summary>
    public static string IdOf(string accessor, ReadOnlySpan<byte> tag) => accessor + "." + IdHash(tag);

    /// <summary>Splits a derived id into its session accessor and hash part; false for anything else.</summary>
    public static bool TryParseId(string? id, out string accessor, out string hash)
    {
        accessor = hash = "";
        if (id is not { Length: TokenIdBytes * 2 + 1 + IdHashLength } || id[TokenIdBytes * 2] != '.'
            || id.AsSpan(0, TokenIdBytes * 2).ContainsAnyExcept("0123456789abcdef")
            || id.AsSpan(TokenIdBytes * 2 + 1).ContainsAnyExcept("0123456789abcdef"))
        {
            return false;
        }

        accessor = id[..(TokenIdBytes * 2)];
        hash = id[(TokenIdBytes * 2 + 1)..];
        return true;
    }

    /// <summary>The root tag of a session: <c>HMAC-SHA256(K_att, ASCII(accessor))</c>.</summary>
    public static byte[] RootTag(ReadOnlySpan<byte> attenuationKey, string accessor)
    {
        Span<byte> id = stackalloc byte[TokenIdBytes * 2];
        if (accessor.Length != id.Length || Encoding.ASCII.GetBytes(accessor, id) != id.Length)
        {
            throw new ArgumentException("An accessor is 32 hex characters.", nameof(accessor));
        }

        return HMACSHA256.HashData(attenuationKey, id);
    }

    /// <summary>
    /// Appends <paramref name="caveats"/> to a chain ending in <paramref name="tag"/> (the session's root tag, or a
    /// derived token's final tag) and returns the new <c>kwd_</c> token string.
    /// </summary>
    public static string Encode(string tokenId, IReadOnlyList<Caveat> previous, ReadOnlySpan<byte> tag, IReadOnlyList<Caveat> caveats)
    {
        ArgumentNullException.ThrowIfNull(previous);
        ArgumentNullException.ThrowIfNull(caveats);
        if (tag.Length != TagBytes)
        {
            throw new ArgumentException("A tag is 32 bytes.", nameof(tag));
        }

        var all = previous.Concat(caveats).ToArray();
        if (all.Length is 0 or > MaxCaveats)
        {
            throw new ArgumentException($"A derived token has 1 to {MaxCaveats} caveats.", nameof(caveats));
        }

        if (!all.Any(c => c.Type == CaveatType.Expiry))
        {
            throw new ArgumentException("A derived token needs an expiry caveat.", nameof(caveats));
        }

        var payload = new byte[HeaderBytes + all.Sum(c => c.EncodedLength) + TagBytes];
        payload[0] = Version;
        if (tokenId is not { Length: TokenIdBytes * 2 }
            || Convert.FromHexString(tokenId, payload.AsSpan(1, TokenIdBytes), out _, out _) != System.Buffers.OperationStatus.Done
            || !string.Equals(tokenId, Convert.ToHexStringLower(payload.AsSpan(1, TokenIdBytes)), StringComparison.Ordinal))
        {
            throw new ArgumentException("A token id is 32 lowercase hex characters.", nameof(tokenId));
        }

        payload[HeaderBytes - 1] = (byte)all.Length;
        var offset = HeaderBytes;
        Span<byte> current = stackalloc byte[TagBytes];
        Span<byte> next = stackalloc byte[TagBytes];
        tag.CopyTo(current);
        for (var i = 0; i < all.Length; i++)
        {
            var length = all[i].WriteTo(payload.AsSpan(offset));
            if (i >= previous.Count)
            {
                Chain(current, payload.AsSpan(offset, length), next);
            }

            offset += length;
        }

        current.CopyTo(payload.AsSpan(offset));
        CryptographicOperations.ZeroMemory(current);
        CryptographicOperations.ZeroMemory(next);
        var token = Prefix + Base64Url.EncodeToString(payload);
        if (token.Length > MaxLength)
        {
            throw new ArgumentException($"The derived token would be longer than {MaxLength} characters.", nameof(caveats));
        }

        return token;
    }

    /// <summary>
    /// Parses a presented <c>kwd_</c> token: canonical base64url, bounded, version 1, 1–16 well-formed caveats of
    /// known types, at least one expiry, no conflicting tool caveats, nothing after the tag. No key is involved:
    /// the tag is checked by <see cref="HasValidTag(ReadOnlySpan{byte})"/>. The reason is for the audit log only.
    /// </summary>
    public static bool TryParse(string? token, out DerivedToken? parsed, out string? reason)
    {
        parsed = null;
        if (token is null || !token.StartsWith(Prefix, StringComparison.Ordinal))
        {
            reason = "not a derived token";
            return false;
        }

        if (token.Length > MaxLength)
        {
            reason = "derived token too long";
            return false;
        }

        var text = token.AsSpan(Prefix.Length);
        var maxBytes = Base64Url.GetMaxDecodedLength(text.Length);
        var payload = new byte[maxBytes];
        if (Base64Url.DecodeFromChars(text, payload, out var charsConsumed, out var length) != System.Buffers.OperationStatus.Done
            || charsConsumed != text.Length)
        {
            reason = "bad base64url";
            return false;
        }

        // One token, one spelling: refuse padding and non-zero spare bits by re-encoding.
        if (Base64Url.GetEncodedLength(length) != text.Length || !Reencodes(payload.AsSpan(0, length), text))
        {
            reason = "non-canonical base64url";
            return false;
        }

        var bytes = payload.AsSpan(0, length);
        if (bytes.Length < HeaderBytes + Caveat.HeaderBytes + TagBytes)
        {
            reason = "derived token too short";
            return false;
        }

        if (bytes[0] != Version)
        {
            reason = "unknown derived token version";
            return false;
        }

        int count = bytes[HeaderBytes - 1];
        if (count is 0 or > MaxCaveats)
        {
            reason = "caveat count out of bounds";
            return false;
        }

        var caveats = new Caveat[count];
        var offset = HeaderBytes;
        var end = bytes.Length - TagBytes;
        var hasExpiry = false;
        string? tool = null;
        for (var i = 0; i < count; i++)
        {
            if (!Caveat.TryRead(bytes[offset..end], out var caveat, out var consumed, out reason))
            {
                return false;
            }

            if (caveat!.Type == CaveatType.Tool)
            {
                if (tool is not null && tool != caveat.Text)
                {
                    reason = "conflicting tool caveats";
                    return false;
                }

                tool = caveat.Text;
            }

            hasExpiry |= caveat.Type == CaveatType.Expiry;
            caveats[i] = caveat;
            offset += consumed;
        }

        if (offset != end)
        {
            reason = "bytes between the caveats and the tag";
            return false;
        }

        if (!hasExpiry)
        {
            reason = "no expiry caveat";
            return false;
        }

        var exact = length == payload.Length ? payload : bytes.ToArray();
        parsed = new DerivedToken(Convert.ToHexStringLower(bytes.Slice(1, TokenIdBytes)), caveats, exact);
        reason = null;
        return true;
    }

    /// <summary>
    /// Recomputes the chain from <see cref="TokenId"/> under K_att over the caveats as they were presented and
    /// compares it with the token's tag in constant time.
    /// </summary>
    public bool HasValidTag(ReadOnlySpan<byte> attenuationKey) => HasValidTag(attenuationKey, out _);

    /// <summary>
    /// <see cref="HasValidTag(ReadOnlySpan{byte})"/>, and the <see cref="IdHash"/> of every tag of the chain after the root
    /// (<c>t_1 … t_n</c>, the last being this token's): the token is revoked if any of them is, so revoking a token also
    /// revokes every token derived from it.
    /// </summary>
    public bool HasValidTag(ReadOnlySpan<byte> attenuationKey, out string[] chainIds)
    {
        chainIds = new string[Caveats.Count];
        var link = 0;
        Span<byte> id = stackalloc byte[TokenIdBytes * 2];
        Encoding.ASCII.GetBytes(TokenId, id);
        Span<byte> tag = stackalloc byte[TagBytes];
        Span<byte> next = stackalloc byte[TagBytes];
        HMACSHA256.HashData(attenuationKey, id, tag);
        var offset = HeaderBytes;
        var end = _payload.Length - TagBytes;
        while (offset < end)
        {
            int length = Caveat.HeaderBytes + System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(_payload.AsSpan(offset + 1));
            Chain(tag, _payload.AsSpan(offset, length), next);
            chainIds[link++] = IdHash(tag);
            offset += length;
        }

        var valid = CryptographicOperations.FixedTimeEquals(tag, Tag);
        CryptographicOperations.ZeroMemory(tag);
        CryptographicOperations.ZeroMemory(next);
        return valid;
    }

    /// <summary>This token's final tag, from which more caveats can be appended (the holder's key, not a secret of the server).</summary>
    public byte[] CopyTag() => Tag.ToArray();

    /// <summary>t_i = HMAC-SHA256(t_{i-1}, caveat_i), in place in <paramref name="tag"/> (key and output never overlap).</summary>
    private static void Chain(Span<byte> tag, ReadOnlySpan<byte> caveat, Span<byte> scratch)
    {
        HMACSHA256.HashData(tag, caveat, scratch);
        scratch.CopyTo(tag);
    }

    private static bool Reencodes(ReadOnlySpan<byte> bytes, ReadOnlySpan<char> text)
    {
        Span<char> buffer = text.Length <= 512 ? stackalloc char[text.Length] : new char[text.Length];
        return Base64Url.TryEncodeToChars(bytes, buffer, out var written) && written == text.Length && buffer.SequenceEqual(text);
    }

    /// <summary>Never the tag.</summary>
    public override string ToString() => $"DerivedToken({TokenId}, {Caveats.Count} caveats)";
}
