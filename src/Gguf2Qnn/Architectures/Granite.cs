using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Architectures;

/// <summary>
/// <c>granite</c> (IBM Granite 3.x dense): the llama layer (adjacent-pair rope, ggml mode 0) with four scalars, all
/// required by llama.cpp's loader (<c>llm_build_granite</c>): <c>granite.embedding_scale</c> multiplies the token
/// embeddings, <c>granite.residual_scale</c> multiplies each attention and MLP output before its residual add,
/// <c>granite.attention.scale</c> replaces 1/√head_dim on Q·Kᵀ, and the logits are divided by <c>granite.logit_scale</c>.
/// </summary>
/// <remarks>Files with <c>granite.rope.scaling.finetuned</c> = false (llama.cpp then skips rope) and mixture-of-experts
/// files are rejected.</remarks>
public sealed class Granite : ArchitectureFamily
{
    /// <inheritdoc />
    public override string Name => "granite";

    /// <inheritdoc />
    public override RopeStyle RopeStyle => RopeStyle.Normal;

    /// <inheritdoc />
    internal override ModelConfig Configure(IGgufSource gguf, ModelConfig config) => config with
    {
        EmbeddingScale = (float)gguf.GetDouble(Name + ".embedding_scale"),
        ResidualScale = (float)gguf.GetDouble(Name + ".residual_scale"),
        AttentionScale = (float)gguf.GetDouble(Name + ".attention.scale"),
        LogitScale = (float)gguf.GetDouble(Name + ".logit_scale"),
    };

    /// <inheritdoc />
    internal override void Validate(IGgufSource gguf, ModelConfig config)
    {
        base.Validate(gguf, config);
        if (gguf.TryGetBool(Name + ".rope.scaling.finetuned", out bool finetuned) && !finetuned)
        {
            throw new NotSupportedException($"{gguf.Path}: granite without rope (granite.rope.scaling.finetuned = false) is not supported.");
        }

        if (gguf.FindTensor(GgufTensorNames.Block(0, "ffn_gate_inp.weight")) is not null)
        {
            throw new NotSupportedException($"{gguf.Path}: mixture-of-experts granite models are not supported.");
        }

        if (config.LogitScale == 0f)
        {
            throw new GgufFormatException($"{gguf.Path}: granite.logit_scale is 0.", -1, Name + ".logit_scale");
        }
    }
}
