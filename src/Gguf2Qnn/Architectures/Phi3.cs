using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Architectures;

/// <summary>
/// <c>phi3</c> (Phi-3 / Phi-3.5 mini and medium, Phi-4 mini): half-split rope (ggml mode 2, NEOX) over
/// <c>phi3.rope.dimension_count</c> leading head dimensions, a fused <c>attn_qkv</c> projection and a fused
/// <c>ffn_up</c> of 2·feed_forward_length outputs (gate half first) feeding SwiGLU (llama.cpp <c>llm_build_phi3</c>).
/// </summary>
/// <remarks>Long-context files with <c>rope_factors_long</c>/<c>rope_factors_short</c> (LongRoPE) are rejected. The
/// graph attends over the whole cache: files with <c>phi3.attention.sliding_window</c> agree with llama.cpp for
/// sequences up to that window.</remarks>
public sealed class Phi3 : ArchitectureFamily
{
    /// <inheritdoc />
    public override string Name => "phi3";

    /// <inheritdoc />
    public override RopeStyle RopeStyle => RopeStyle.Neox;

    /// <inheritdoc />
    internal override void Validate(IGgufSource gguf, ModelConfig config)
    {
        base.Validate(gguf, config);
        if (gguf.FindTensor("rope_factors_long.weight") is not null || gguf.FindTensor("rope_factors_short.weight") is not null)
        {
            throw new NotSupportedException($"{gguf.Path}: phi3 LongRoPE (rope_factors_long/short) is not supported.");
        }

        if (!config.FusedQkv && gguf.FindTensor(GgufTensorNames.AttnQ(0)) is null)
        {
            throw new GgufFormatException($"{gguf.Path}: phi3 needs {GgufTensorNames.AttnQkv(0)} or {GgufTensorNames.AttnQ(0)}.", -1, GgufTensorNames.AttnQkv(0));
        }
    }
}
