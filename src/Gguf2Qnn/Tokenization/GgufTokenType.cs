namespace Gguf2Qnn.Tokenization;

/// <summary>
/// The values of <c>tokenizer.ggml.token_type</c> (GGUF spec, "Tokenizer": 1 normal, 2 unknown, 3 control,
/// 4 user defined, 5 unused, 6 byte; llama.cpp's <c>llama_token_type</c>, where 0 is undefined).
/// </summary>
public enum GgufTokenType
{
    /// <summary>0: undefined (llama.cpp renders such a token as nothing).</summary>
    Undefined = 0,

    /// <summary>1: an ordinary vocabulary piece.</summary>
    Normal = 1,

    /// <summary>2: the unknown token (<c>&lt;unk&gt;</c>).</summary>
    Unknown = 2,

    /// <summary>3: a control token (BOS, EOS, <c>&lt;|im_end|&gt;</c> …): matched in text only with parse_special.</summary>
    Control = 3,

    /// <summary>4: a user-defined token: always matched as a whole in text, before the model runs.</summary>
    UserDefined = 4,

    /// <summary>5: an unused slot.</summary>
    Unused = 5,

    /// <summary>6: a byte-fallback token <c>&lt;0xXX&gt;</c> (SentencePiece).</summary>
    Byte = 6,
}
