namespace Gguf2Qnn.Architectures;

/// <summary>
/// <c>qwen3</c> (Qwen3 dense models): qwen2's half-split rope (ggml mode 2, NEOX) without Q/K/V biases, and a per-head
/// RMSNorm of Q and K (<c>attn_q_norm</c>, <c>attn_k_norm</c>, ne = head_dim) applied after the projections and before
/// rope (llama.cpp <c>llm_build_qwen3</c>). The head size comes from <c>qwen3.attention.key_length</c> and may differ
/// from embedding_length / head_count. Small models tie the lm head to the token embedding.
/// </summary>
public sealed class Qwen3 : ArchitectureFamily
{
    /// <inheritdoc />
    public override string Name => "qwen3";

    /// <inheritdoc />
    public override RopeStyle RopeStyle => RopeStyle.Neox;

    /// <inheritdoc />
    public override bool RequiresQkNorm => true;
}
