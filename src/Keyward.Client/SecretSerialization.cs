using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Keyward.Client;

/// <summary>
/// The explicit opt-in to serializing the SDK's value-carrying models with System.Text.Json. Every property that holds
/// a value — <see cref="Models.KeywardSecret.Data"/>, <see cref="Models.PostgresCredential.Password"/>,
/// <see cref="Models.WrapInfo.Token"/>, the tokens of <see cref="Models.IssuedToken"/>, <see cref="Models.AgentSessionToken"/>,
/// <see cref="Models.JwtSession"/>, <see cref="Models.IssuedBootstrapToken"/>, <see cref="Models.RootTokenResult"/>, the key
/// shares and root token of <see cref="Models.InitializeResult"/>, <see cref="Models.PostgresConnectionSpec.Password"/>,
/// <see cref="KeywardToken.Value"/> and <see cref="KeywardClientOptions.Token"/> — carries a
/// <see cref="SecretFieldJsonConverter{T}"/> that throws <see cref="InvalidOperationException"/> on write and read, so a
/// log sink, a checkpoint or an API response that serializes such a model fails loudly instead of writing the value.
/// </summary>
/// <remarks>
/// Code that means to write values (a CLI printing a secret it was asked for, the SDK's own requests and answers) opts in
/// with options made by <see cref="AllowValues(JsonSerializerOptions)"/>, or adds <see cref="AllowValues(JsonTypeInfo)"/>
/// to its own resolver's modifiers (<c>context.WithAddedModifier(SecretSerialization.AllowValues)</c>). A
/// <see cref="SecretValue"/> is not covered: it refuses serialization always (store a <see cref="SecretRef"/>).
/// </remarks>
public static class SecretSerialization
{
    /// <summary>
    /// A copy of <paramref name="options"/> that writes and reads values (the given options stay refusing). Its resolver
    /// is <paramref name="options"/>'s (default: reflection) with <see cref="AllowValues(JsonTypeInfo)"/> added.
    /// </summary>
    public static JsonSerializerOptions AllowValues(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var resolver = options.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver();
        return new JsonSerializerOptions(options) { TypeInfoResolver = resolver.WithAddedModifier(AllowValues) };
    }

    /// <summary>
    /// A <see cref="JsonTypeInfo"/> modifier that lets value properties serialize normally: it removes their
    /// <see cref="SecretFieldJsonConverter{T}"/> (the property's type's own converter then applies).
    /// </summary>
    public static void AllowValues(JsonTypeInfo typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        if (typeInfo.Kind != JsonTypeInfoKind.Object)
        {
            return;
        }

        foreach (var property in typeInfo.Properties)
        {
            if (property.CustomConverter is ISecretFieldConverter)
            {
                property.CustomConverter = null;
            }
        }
    }
}

/// <summary>Marks the converter <see cref="SecretSerialization.AllowValues(JsonTypeInfo)"/> removes.</summary>
internal interface ISecretFieldConverter;

/// <summary>
/// On a property that holds a value: refuses to write or read it unless the options opt in
/// (<see cref="SecretSerialization.AllowValues(JsonSerializerOptions)"/>). A null is written as null (it reveals nothing).
/// </summary>
public sealed class SecretFieldJsonConverter<T> : JsonConverter<T>, ISecretFieldConverter
{
    private static readonly string Message =
        $"A Keyward model property holding a secret value (a secret's data, a password, a token or a key share; here a {typeof(T).Name}) is not " +
        "serialized by default, so that a log sink, a checkpoint or an API response cannot carry it by accident. Store a SecretRef " +
        "(kw://path#version) instead, or opt in explicitly with options from SecretSerialization.AllowValues(options).";

    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new InvalidOperationException(Message);

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) =>
        throw new InvalidOperationException(Message);
}
