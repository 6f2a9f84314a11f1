namespace Gguf2Qnn.Gguf;

/// <summary>
/// Metadata keys of split models (llama.cpp <c>gguf-split</c>; llama-arch.cpp <c>LLM_KV_SPLIT_*</c>). Every part
/// carries <see cref="No"/> and <see cref="Count"/>; the first part also carries <see cref="TensorsCount"/> and all
/// the model's other metadata. Parts are named <c>PREFIX-00001-of-00003.gguf</c> … (1-based, 5 digits; GGUF spec,
/// naming convention, "Shard").
/// </summary>
public static class GgufSplitKeys
{
    /// <summary><c>split.no</c> (uint16): this part's 0-based index.</summary>
    public const string No = "split.no";

    /// <summary><c>split.count</c> (uint16): number of parts.</summary>
    public const string Count = "split.count";

    /// <summary><c>split.tensors.count</c> (int32): tensors in all parts together.</summary>
    public const string TensorsCount = "split.tensors.count";
}
