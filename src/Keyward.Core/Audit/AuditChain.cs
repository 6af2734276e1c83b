using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keyward.Crypto.Keys;

namespace Keyward.Core.Audit;

/// <summary>
/// The canonical record encoding and the keyed chain over it. hash = HMAC-SHA256(K_audit, prev_hash ‖ body), with
/// K_audit derived from the root key, so that someone who can write the database but lacks the root key cannot
/// forge or recompute the chain.
/// </summary>
public static class AuditChain
{
    /// <summary>Canonical JSON: fixed field order, no whitespace. Any change to it is a new format.</summary>
    [ThreadStatic]
    private static System.Buffers.ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    public static byte[] Encode(long seq, DateTimeOffset time, AuditDraft draft)
    {
        ArgumentNullException.ThrowIfNull(draft);

        // One buffer and writer per thread: encoding runs on the group committer's serial path.
        var buffer = t_buffer ??= new System.Buffers.ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        var w = t_writer ??= new Utf8JsonWriter(buffer);
        w.Reset(buffer);
        {
            w.WriteStartObject();
            w.WriteNumber("seq", seq);
            w.WriteString("time", Instants.Format(time));
            WriteNullable(w, "tenant", draft.TenantId);
            w.WriteStartObject("actor");
            w.WriteString("kind", draft.Actor.Kind);
            WriteNullable(w, "agent_id", draft.Actor.AgentId);
            WriteNullable(w, "run_id", draft.Actor.RunId);
            WriteNullable(w, "role", draft.Actor.Role);
            WriteNullable(w, "accessor", draft.Actor.Accessor);
            if (draft.Actor.Chain is null)
            {
                w.WriteNull("chain");
            }
            else
            {
                w.WriteStartArray("chain");
                foreach (var link in draft.Actor.Chain)
                {
                    w.WriteStringValue(link);
                }

                w.WriteEndArray();
            }

            WriteNullable(w, "token_hmac", draft.Actor.TokenHmac);
            if (draft.Actor.DerivedId is { } derivedId)
            {
                // Only on records of derived tokens: every other record's bytes stay as they were.
                w.WriteString("derived_id", derivedId);
            }

            w.WriteEndObject();
            w.WriteString("operation", draft.Operation);
            WriteNullable(w, "path", draft.Path);
            if (draft.Version is { } version)
            {
                w.WriteNumber("version", version);
            }
            else
            {
                w.WriteNull("version");
            }

            if (draft.Epoch is { } epoch)
            {
                w.WriteNumber("epoch", epoch);
            }

            w.WriteString("outcome", draft.Outcome);
            w.WriteNumber("status", draft.Status);
            WriteNullable(w, "code", draft.Code);
            WriteNullable(w, "anomaly", draft.Anomaly);
            w.WriteString("request_id", draft.RequestId);
            if (draft.Details is { Count: > 0 } details)
            {
                w.WriteStartObject("details");
                var keys = new string[details.Count];
                details.Keys.CopyTo(keys, 0);
                Array.Sort(keys, StringComparer.Ordinal);
                foreach (var key in keys)
                {
                    w.WriteString(key, details[key]);
                }

                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("details");
            }

            w.WriteEndObject();
            w.Flush();
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] Hash(SecretKey chainKey, ReadOnlySpan<byte> previousHash, ReadOnlySpan<byte> body)
    {
        using var hasher = new Hasher(chainKey);
        return hasher.Hash(previousHash, body);
    }

    /// <summary>
    /// Chains many records under one key with a single HMAC context (the group committer hashes a whole batch
    /// with one; building a native HMAC context per record cost more than the hashing).
    /// </summary>
    public sealed class Hasher : IDisposable
    {
        private readonly IncrementalHash _hmac;

        public Hasher(SecretKey chainKey)
        {
            ArgumentNullException.ThrowIfNull(chainKey);
            _hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, chainKey.Bytes);
        }

        public byte[] Hash(ReadOnlySpan<byte> previousHash, ReadOnlySpan<byte> body)
        {
            _hmac.AppendData(previousHash);
            _hmac.AppendData(body);
            return _hmac.GetHashAndReset();
        }

        public void Dispose() => _hmac.Dispose();
    }

    public static byte[] CheckpointMac(SecretKey checkpointKey, long seq, ReadOnlySpan<byte> hash, DateTimeOffset time)
    {
        Span<byte> message = stackalloc byte[10 + 8 + 32 + 8];
        "checkpoint"u8.CopyTo(message);
        BinaryPrimitives.WriteInt64BigEndian(message[10..], seq);
        hash.CopyTo(message[18..]);
        BinaryPrimitives.WriteInt64BigEndian(message[50..], time.UtcTicks);
        return HMACSHA256.HashData(checkpointKey.Bytes, message);
    }

    /// <summary>
    /// The MAC of the chain head (seq and hash of the newest record), under the checkpoint key with its own label
    /// ("head", where checkpoints carry "checkpoint"), so that neither can stand for the other. The group committer writes
    /// it with every head; a head moved back to hide a cut tail does not verify without the key. A head copied back
    /// from an older copy of the store does: only an anchor kept outside the store (a checkpoint in the log or an audit
    /// sink) tells that one.
    /// </summary>
    public static byte[] HeadMac(SecretKey checkpointKey, long seq, ReadOnlySpan<byte> hash)
    {
        ArgumentNullException.ThrowIfNull(checkpointKey);
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, checkpointKey.Bytes);
        Span<byte> prefix = stackalloc byte[4 + 8];
        "head"u8.CopyTo(prefix);
        BinaryPrimitives.WriteInt64BigEndian(prefix[4..], seq);
        hmac.AppendData(prefix);
        hmac.AppendData(hash);
        return hmac.GetHashAndReset();
    }

    /// <summary>A keyed hash of an identifier (a presented token) so records can correlate attempts without holding it.</summary>
    public static string IdentifierHmac(SecretKey identifierKey, string identifier)
    {
        var mac = HMACSHA256.HashData(identifierKey.Bytes, Encoding.UTF8.GetBytes(identifier));
        return Convert.ToHexStringLower(mac.AsSpan(0, 16));
    }

    private static void WriteNullable(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }
}
