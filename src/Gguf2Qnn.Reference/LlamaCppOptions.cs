namespace Gguf2Qnn.Reference;

/// <summary>How <see cref="LlamaCppModel.Load"/> sets up llama.cpp. Defaults aim at exact float comparisons on CPU.</summary>
public sealed record LlamaCppOptions
{
    /// <summary>Context length in tokens (<c>n_ctx</c>); llama.cpp may round it up (to a multiple of 256). Default 512.</summary>
    public int ContextSize { get; init; } = 512;

    /// <summary>CPU threads for prefill and decode (<c>n_threads</c> and <c>n_threads_batch</c>). Default: all logical processors.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Most tokens handed to one <c>llama_decode</c> (<c>n_batch</c>; <c>n_ubatch</c> is set to the same value, so a
    /// batch is computed as one graph). llama.cpp caps it at the context size. Default 512.
    /// </summary>
    public int BatchSize { get; init; } = 512;

    /// <summary>
    /// Store the KV cache as F32 (<c>type_k</c> = <c>type_v</c> = GGML_TYPE_F32) instead of llama.cpp's default F16, so
    /// comparisons are not limited by the cache's rounding (on stories260K the F16 cache moves logits by up to 0.014).
    /// Default true.
    /// </summary>
    public bool F32KvCache { get; init; } = true;

    /// <summary>
    /// Use llama.cpp's flash-attention kernel (<c>LLAMA_FLASH_ATTENTION_TYPE_ENABLED</c>) instead of the separate
    /// KQ / softmax / KQV ops. Default false (<c>DISABLED</c>): ggml's CPU flash-attention path computes in F16
    /// even with an F32 cache. Measured on stories260K, 100 positions: enabling it moves logits by up to 0.0158,
    /// exactly as much as flash attention with an F16 cache, while the non-flash path with an F32 cache is the
    /// exact float reference. llama.cpp's own default (AUTO) turns it on for the CPU backend.
    /// </summary>
    public bool FlashAttention { get; init; }

    /// <summary>
    /// Seed of the pseudo-random token ids <see cref="LlamaCppModel.Bench"/> feeds. llama.cpp's forward pass has no
    /// randomness and <see cref="LlamaCppModel.GenerateGreedy"/> uses no sampler, so nothing else reads it. Default 42.
    /// </summary>
    public int Seed { get; init; } = 42;

    /// <summary>Checks the values; called by <see cref="LlamaCppModel.Load"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A size or thread count is not positive.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ContextSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Threads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(BatchSize);
    }
}
