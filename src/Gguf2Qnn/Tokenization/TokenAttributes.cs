namespace Gguf2Qnn.Tokenization;

/// <summary>
/// Per-token attributes, the same bits as llama.cpp's <c>llama_token_attr</c>. Mostly derived from
/// <see cref="GgufTokenType"/>; llama.cpp adds <see cref="Control"/> to tokens whose text marks them as
/// end-of-generation or fill-in-the-middle tokens, and <see cref="LStrip"/>/<see cref="RStrip"/> for a few models.
/// </summary>
[Flags]
internal enum TokenAttributes
{
    None = 0,
    Undefined = 1 << 0,
    Unknown = 1 << 1,
    Unused = 1 << 2,
    Normal = 1 << 3,
    Control = 1 << 4,
    UserDefined = 1 << 5,
    Byte = 1 << 6,
    Normalized = 1 << 7,
    LStrip = 1 << 8,
    RStrip = 1 << 9,
    SingleWord = 1 << 10,
}

internal static class TokenAttributesExtensions
{
    /// <summary>llama.cpp's mapping from the GGUF token type to attributes (an unlisted value is undefined).</summary>
    public static TokenAttributes ToAttributes(this GgufTokenType type) => type switch
    {
        GgufTokenType.Normal => TokenAttributes.Normal,
        GgufTokenType.Unknown => TokenAttributes.Unknown,
        GgufTokenType.Control => TokenAttributes.Control,
        GgufTokenType.UserDefined => TokenAttributes.UserDefined,
        GgufTokenType.Unused => TokenAttributes.Unused,
        GgufTokenType.Byte => TokenAttributes.Byte,
        _ => TokenAttributes.Undefined,
    };
}
