using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Evaluation;

/// <summary>
/// The agreement <c>gguf2qnn verify</c> requires, chosen by the weight type of the model's linear layers. The values
/// come from measurements against llama.cpp (F32 KV cache, no flash attention) written up in docs/BENCHMARKS.md
/// ("verify thresholds"). Measured on the built-in stories: F32 stories260K mean KL 1.7e-12, F16 llama-2-tiny-random
/// 6.5e-11, llama.cpp-quantized Q4_0 qwen2 test model 5.3e-5 (max 6.3e-4, top-1 100%); another model's weights give
/// mean KL ≈ 39. Each KL bound sits about two orders of magnitude above the measured mean (real, trained models have
/// more near-ties than the test models), and top-1 must reach 99% (1 flip per 100 positions).
/// </summary>
/// <param name="MinTop1Agreement">Least fraction of positions whose arg-max must agree.</param>
/// <param name="MaxKlMean">Largest allowed mean KL(P_llama.cpp ‖ P_ours), nats.</param>
public sealed record VerificationThresholds(double MinTop1Agreement, double MaxKlMean)
{
    /// <summary>
    /// Float weights (F32, F16, BF16): both sides compute the same float math (llama.cpp rounds F16 weights'
    /// activations to F16, we do not), so agreement is near exact.
    /// </summary>
    public static VerificationThresholds Float { get; } = new(0.99, 1e-4);

    /// <summary>
    /// 8-bit weights (Q8_0 and friends): llama.cpp also quantizes activations to 8 bits; we keep them in float.
    /// </summary>
    public static VerificationThresholds EightBit { get; } = new(0.99, 2e-3);

    /// <summary>
    /// 4- to 6-bit weights (Q4_0, Q4_1, Q5_*, K-quants): the 8-bit activation rounding of llama.cpp moves logits by up
    /// to ~0.25 on small models, which flips near-ties.
    /// </summary>
    public static VerificationThresholds LowBit { get; } = new(0.99, 5e-3);

    /// <summary>The thresholds for a weight type.</summary>
    public static VerificationThresholds For(GgmlType weightType) => weightType switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.F64 => Float,
        GgmlType.Q8_0 or GgmlType.Q8_1 or GgmlType.Q8_K or GgmlType.Q6_K => EightBit,
        _ => LowBit,
    };

    /// <summary>
    /// The weight type that decides the thresholds: that of <c>blk.0.attn_q.weight</c> (the bulk of a model's
    /// linear weights share it), else of the tensor with the most bytes.
    /// </summary>
    /// <exception cref="ArgumentException">The file has no tensors.</exception>
    public static GgmlType DominantWeightType(IGgufSource gguf)
    {
        ArgumentNullException.ThrowIfNull(gguf);
        if (gguf.FindTensor(GgufTensorNames.AttnQ(0)) is { } q)
        {
            return q.Type;
        }

        return gguf.Tensors.Count == 0
            ? throw new ArgumentException("The GGUF file has no tensors.", nameof(gguf))
            : gguf.Tensors.MaxBy(t => t.ByteSize)!.Type;
    }

    /// <summary>Whether <paramref name="report"/> meets these thresholds.</summary>
    public bool IsMetBy(VerificationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        return report.Top1Agreement >= MinTop1Agreement && report.KlMean <= MaxKlMean;
    }
}
