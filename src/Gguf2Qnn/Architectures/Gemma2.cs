using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Architectures;

/// <summary>
/// <c>gemma2</c> (Gemma 2 2B/9B/27B), as llama.cpp's gemma2 graph builds it: token embeddings × √embedding_length,
/// half-split rope (ggml mode 2, NEOX), Q scaled by 1/√key_length (1/√(embedding_length / head_count) for the 46-layer
/// 27B, which llama.cpp identifies by its layer count), attention scores soft-capped by
/// <c>gemma2.attn_logit_softcapping</c> (default 50), RMSNorm after attention and after the MLP as well as before
/// (<c>post_attention_norm</c>, <c>post_ffw_norm</c>), a GELU(tanh)-gated MLP, a tied lm head and final logits
/// soft-capped by <c>gemma2.final_logit_softcapping</c> (default 30). The even layers attend through a sliding window
/// of <c>gemma2.attention.sliding_window</c> positions (default 4096).
/// </summary>
/// <remarks>The norm weights are used as stored: Hugging Face's (1 + w) was folded into them by the GGUF converter.</remarks>
public sealed class Gemma2 : ArchitectureFamily
{
    /// <inheritdoc />
    public override string Name => "gemma2";

    /// <inheritdoc />
    public override RopeStyle RopeStyle => RopeStyle.Neox;

    /// <inheritdoc />
    public override bool RequiresPostNorms => true;

    /// <inheritdoc />
    internal override ModelConfig Configure(IGgufSource gguf, ModelConfig config) => config with
    {
        EmbeddingScale = MathF.Sqrt(config.EmbeddingLength),
        AttentionScale = config.BlockCount == 46
            ? 1.0f / MathF.Sqrt(config.EmbeddingLength / config.HeadCount)
            : 1.0f / MathF.Sqrt(config.HeadDim),
        AttentionLogitSoftcap = gguf.TryGetDouble(Name + ".attn_logit_softcapping", out double a) ? (float)a : 50f,
        FinalLogitSoftcap = gguf.TryGetDouble(Name + ".final_logit_softcapping", out double f) ? (float)f : 30f,
        SlidingWindow = gguf.TryGetInt64(Name + ".attention.sliding_window", out long w) ? checked((int)w) : 4096,
        SlidingWindowPattern = 2,
        PostNorms = true,
        GeluMlp = true,
    };

    /// <inheritdoc />
    internal override void Validate(IGgufSource gguf, ModelConfig config)
    {
        base.Validate(gguf, config);
        if (config.AttentionLogitSoftcap <= 0f || config.FinalLogitSoftcap <= 0f || config.SlidingWindow <= 0)
        {
            throw new GgufFormatException($"{gguf.Path}: gemma2 soft-capping values and sliding window must be positive.", -1, Name + ".attn_logit_softcapping");
        }
    }
}
