using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Keyward.Crypto.Envelope;

namespace Keyward.Benchmarks;

/// <summary>
/// Where an envelope operation's time goes: one AES-256-GCM open of 256 bytes through <see cref="Aead.Open(System.ReadOnlySpan{byte}, System.ReadOnlySpan{byte}, System.ReadOnlySpan{byte})"/>
/// (which builds a new <see cref="AesGcm"/>, i.e. a native cipher context and key schedule, per call) next to
/// the same open on an <see cref="AesGcm"/> instance that is kept. Not part of the `bench/run micro` line.
/// </summary>
[MemoryDiagnoser]
public class AeadBenchmarks : IDisposable
{
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _associatedData = RandomNumberGenerator.GetBytes(64);
    private readonly byte[] _plaintext = EnvelopeBenchmarks.JsonValue(EnvelopeBenchmarks.ValueBytes);
    private readonly byte[] _output = new byte[EnvelopeBenchmarks.ValueBytes];
    private byte[] _sealed = [];
    private AesGcm? _kept;

    [GlobalSetup]
    public void Setup()
    {
        _sealed = Aead.Seal(_key, _plaintext, _associatedData);
        _kept = new AesGcm(_key, Aead.TagSize);
    }

    [GlobalCleanup]
    public void Cleanup() => Dispose();

    [Benchmark(Baseline = true)]
    public byte[] OpenNewAesGcmPerCall() => Aead.Open(_key, _sealed, _associatedData);

    [Benchmark]
    public byte[] OpenKeptAesGcm()
    {
        var body = _sealed.AsSpan(Aead.NonceSize, _output.Length);
        _kept!.Decrypt(_sealed.AsSpan(0, Aead.NonceSize), body, _sealed.AsSpan(_sealed.Length - Aead.TagSize), _output, _associatedData);
        return _output;
    }

    public void Dispose()
    {
        _kept?.Dispose();
        _kept = null;
        GC.SuppressFinalize(this);
    }
}
