namespace Gguf2Qnn.Reference;

/// <summary>
/// Wall-clock speeds llama.cpp reached in <see cref="LlamaCppModel.Bench"/>, measured with
/// <see cref="System.Diagnostics.Stopwatch"/> around the <c>llama_decode</c> calls (after one warm-up pass).
/// </summary>
/// <param name="PromptTokens">Tokens in the single prefill batch.</param>
/// <param name="GeneratedTokens">Single-token decodes timed after the prefill.</param>
/// <param name="Threads">CPU threads llama.cpp used.</param>
/// <param name="PrefillSeconds">Time of the prefill <c>llama_decode</c>.</param>
/// <param name="DecodeSeconds">Total time of the single-token decodes.</param>
public sealed record ReferenceTimings(int PromptTokens, int GeneratedTokens, int Threads, double PrefillSeconds, double DecodeSeconds)
{
    /// <summary>Prefill throughput, tokens per second (llama-bench's "pp").</summary>
    public double PrefillTokensPerSecond => PromptTokens / PrefillSeconds;

    /// <summary>Decode throughput, tokens per second (llama-bench's "tg"); NaN when no token was decoded.</summary>
    public double DecodeTokensPerSecond => GeneratedTokens == 0 ? double.NaN : GeneratedTokens / DecodeSeconds;

    /// <summary>
    /// Time to first token in milliseconds: the prefill, after which the logits of the first new token are ready
    /// (llama.cpp needs no extra step to produce them).
    /// </summary>
    public double TimeToFirstTokenMilliseconds => PrefillSeconds * 1000.0;
}
