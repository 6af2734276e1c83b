using System.Text;
using BenchmarkDotNet.Attributes;
using Keyward.Crypto.Envelope;
using Keyward.Crypto.Keys;

namespace Keyward.Benchmarks;

/// <summary>
/// Envelope encryption of one stored value as the secret write and read paths do it: a fresh data key per value,
/// sealed under the tenant's current key (two AES-256-GCM operations each way, context bound as associated data).
/// </summary>
[MemoryDiagnoser]
public class EnvelopeBenchmarks
{
    /// <summary>The size of the value, as the read load test writes it: ~256 bytes of JSON.</summary>
    public const int ValueBytes = 256;

    private KeyRing? _ring;
    private byte[] _plaintext = [];
    private byte[] _ciphertext = [];
    private EnvelopeContext _context;

    [GlobalSetup]
    public void Setup()
    {
        _ring = new KeyRing(new Dictionary<int, SecretKey> { [1] = SecretKey.Generate() });
        _context = EnvelopeContext.ForSecret("3f9c2a71d04e4b8e9d6a51c2e8f07b14", "apps/billing/prod/db-password", 7);
        _plaintext = JsonValue(ValueBytes);
        _ciphertext = SecretEnvelope.Encrypt(_ring, _context, _plaintext);
    }

    [GlobalCleanup]
    public void Cleanup() => _ring?.Dispose();

    [Benchmark]
    public byte[] Encrypt256() => SecretEnvelope.Encrypt(_ring!, _context, _plaintext);

    [Benchmark]
    public byte[] Decrypt256() => SecretEnvelope.Decrypt(_ring!, _context, _ciphertext);

    /// <summary><c>{"data":{"password":"…"}}</c> padded with seeded pseudo-random letters to exactly <paramref name="bytes"/>.</summary>
    internal static byte[] JsonValue(int bytes)
    {
        const string Prefix = "{\"data\":{\"password\":\"";
        const string Suffix = "\"}}";
        const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        var random = new Random(256);
        var text = new StringBuilder(Prefix, bytes);
        while (text.Length < bytes - Suffix.Length)
        {
            text.Append(Alphabet[random.Next(Alphabet.Length)]);
        }

        return Encoding.UTF8.GetBytes(text.Append(Suffix).ToString());
    }
}
