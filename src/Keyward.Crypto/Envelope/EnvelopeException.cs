namespace Keyward.Crypto.Envelope;

/// <summary>A ciphertext that cannot be opened: tampered, moved, truncated or under a destroyed key. Carries no data.</summary>
public sealed class EnvelopeException : Exception
{
    public EnvelopeException(string message)
        : base(message)
    {
    }

    public EnvelopeException()
    {
    }

    public EnvelopeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
