using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Architectures;

/// <summary>
/// <c>gemma3</c> (Gemma 3 text decoders), as llama.cpp's gemma3 graph builds it: gemma2's layer (embeddings ×
/// √embedding_length, half-split rope, pre- and post-norms around attention and MLP, GELU(tanh)-gated MLP, tied head)
/// plus per-head RMSNorm of Q and K before rope (<c>attn_q_norm</c>, <c>attn_k_norm</c>), without soft-capping. Q is
/// scaled by 1/√key_length (1/√(embedding_length / head_count) for the 62-layer 27B). Five of every six layers
/// (i mod 6 &lt; 5) attend through a sliding window of <c>gemma3.attention.sliding_window</c> positions and rotate with
/// base 10000 unscaled; the others use <c>gemma3.rope.freq_base</c> and the file's rope scaling.
/// </summary>
/// <remarks>The norm weights are used as stored: Hugging Face's (1 + w) was folded into them by the GGUF converter.</remarks>
public sealed class Gemma3 : ArchitectureFamily
{
    /// <inheritdoc />
    public override string Name => "gemma3";

    /// <inheritdoc />
    public override RopeStyle RopeStyle => RopeStyle.Neox;

    /// <inheritdoc />
    public override bool RequiresPostNorms => true;

    /// <inheritdoc />
    public override bool RequiresQkNorm => true;

    /// <inheritdoc />
    internal override ModelConfig Configure(IGgufSource gguf, ModelConfig config) => config with
    {
        EmbeddingScale = MathF.Sqrt(config.EmbeddingLength),
        AttentionScale = config.BlockCount == 62
            ? 1.0f / MathF.Sqrt(config.EmbeddingLength / config.HeadCount)
            : 1.0f / MathF.Sqrt(config.HeadDim),
        SlidingWindow = checked((int)gguf.GetInt64(Name + ".attention.sliding_window")),
        SlidingWindowPattern = 6,
        SlidingWindowRopeFreqBase = 10000f,
        PostNorms = true,
        GeluMlp = true,
    };

    /// <inheritdoc />
    internal override void Validate(IGgufSource gguf, ModelConfig config)
    {
        base.Validate(gguf, config);
        if (config.SlidingWindow <= 0)
        {
            throw new GgufFormatException($"{gguf.Path}: gemma3.attention.sliding_window must be positive.", -1, Name + ".attention.sliding_window");
        }
    }
}
