using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Architectures;

/// <summary>
/// <c>llama</c> (Llama 1/2/3, Mistral-style dense models, TinyLlama, stories*): adjacent-pair rope (ggml mode 0,
/// the converter already permuted Q/K rows), Q/K/V biases optional, output.weight optional (tied when absent).
/// Mixture-of-experts files (<c>llama.expert_count</c> &gt; 0) are rejected.
/// </summary>
public sealed class Llama : ArchitectureFamily
{
    /// <inheritdoc />
    public override string Name => "llama";

    /// <inheritdoc />
    public override RopeStyle RopeStyle => RopeStyle.Normal;

    /// <inheritdoc />
    internal override void Validate(IGgufSource gguf, ModelConfig config)
    {
        base.Validate(gguf, config);
        if (gguf.FindTensor(GgufTensorNames.Block(0, "ffn_gate_inp.weight")) is not null)
        {
            throw new NotSupportedException($"{gguf.Path}: mixture-of-experts llama models are not supported.");
        }
    }
}
