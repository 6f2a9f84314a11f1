namespace Gguf2Qnn.Architectures;

/// <summary>
/// How rotary position embedding pairs the dimensions of a head (llama.cpp <c>llama_rope_type</c>; ggml rope mode).
/// Both rotate pair i by theta_i = pos * freq_base^(-2i / rope_dim), i in [0, rope_dim / 2).
/// </summary>
public enum RopeStyle
{
    /// <summary>ggml mode 0 (LLAMA_ROPE_TYPE_NORM): pair i is dimensions (2i, 2i+1), adjacent. Used by <c>llama</c>, whose
    /// converter permuted the Q/K rows so that this matches the Hugging Face half-split form.</summary>
    Normal = 0,

    /// <summary>ggml mode 2 (LLAMA_ROPE_TYPE_NEOX): pair i is dimensions (i, i + rope_dim/2), half split. Used by <c>qwen2</c>.</summary>
    Neox = 2,
}
