using System.Diagnostics;
using Gguf2Qnn.Runtime;

namespace Gguf2Qnn.Evaluation;

/// <summary>
/// Measures a converted model's prefill and decode speed on ONNX Runtime the way llama-bench (and
/// <c>LlamaCppModel.Bench</c>) do: a prefill of pseudo-random ids, then single-token decodes of further pseudo-random
/// ids (the ids do not change the cost). Like llama.cpp's prefill, ours computes the lm head for the last prompt
/// position only (<c>num_logits_to_keep</c> = 1, where the graph has it). Only the ONNX Runtime passes (and the first arg-max, for time to first token)
/// are timed.
/// </summary>
public static class OnnxBench
{
    /// <summary>
    /// Runs one warm-up (a prefill and one decode, not counted) when <paramref name="warmUp"/> is set, then one
    /// measured repetition.
    /// </summary>
    /// <param name="lm">The model.</param>
    /// <param name="promptTokens">Prefill length (≥ 1).</param>
    /// <param name="genTokens">Decode steps (≥ 0); prompt plus generated must fit the context.</param>
    /// <param name="seed">Seed of the pseudo-random ids.</param>
    /// <param name="warmUp">Run the uncounted warm-up first.</param>
    /// <exception cref="ArgumentOutOfRangeException">A count is out of range.</exception>
    public static BenchTimings Run(OnnxCausalLm lm, int promptTokens, int genTokens, int seed, bool warmUp)
    {
        ArgumentNullException.ThrowIfNull(lm);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(promptTokens);
        ArgumentOutOfRangeException.ThrowIfNegative(genTokens);
        if ((long)promptTokens + genTokens > lm.ContextLength)
        {
            throw new ArgumentOutOfRangeException(nameof(genTokens), $"{promptTokens} + {genTokens} tokens exceed the model's context length {lm.ContextLength}.");
        }

        var random = new Random(seed);
        var prompt = new int[promptTokens];
        var decodeIds = new int[genTokens];
        for (int i = 0; i < prompt.Length; i++)
        {
            prompt[i] = random.Next(lm.VocabSize);
        }

        for (int i = 0; i < decodeIds.Length; i++)
        {
            decodeIds[i] = random.Next(lm.VocabSize);
        }

        if (warmUp)
        {
            Measure(lm, prompt, decodeIds.AsSpan(0, Math.Min(1, genTokens)).ToArray());
        }

        return Measure(lm, prompt, decodeIds);
    }

    private static BenchTimings Measure(OnnxCausalLm lm, int[] prompt, int[] decodeIds)
    {
        using var sequence = lm.StartSequence();
        long start = Stopwatch.GetTimestamp();
        sequence.Append(prompt, lastLogitsOnly: true);
        double prefill = Stopwatch.GetElapsedTime(start).TotalSeconds;
        _ = Sampler.ArgMax(sequence.LastLogits);
        double firstToken = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var next = new int[1];
        double decode = 0;
        foreach (int id in decodeIds)
        {
            next[0] = id;
            long t = Stopwatch.GetTimestamp();
            sequence.Append(next);
            decode += Stopwatch.GetElapsedTime(t).TotalSeconds;
        }

        return new BenchTimings(prompt.Length, decodeIds.Length, prefill, decode, firstToken);
    }
}
