namespace Keyward.Client.Internal;

/// <summary>
/// A model that carries values the SDK hands out (a secret's data, a password, a token, a key share). The client
/// registers them with its <see cref="SecretScrubber"/> as each answer is read, so that a log line carrying one later
/// is scrubbed. Declared next to the model, with the value properties' <see cref="SecretFieldJsonConverter{T}"/>.
/// </summary>
internal interface IValueCarrier
{
    void RegisterValues(SecretScrubber scrubber);
}
