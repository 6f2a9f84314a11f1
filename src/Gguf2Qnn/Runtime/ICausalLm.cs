using Gguf2Qnn.Targets;

namespace Gguf2Qnn.Runtime;

/// <summary>
/// A converted decoder run by ONNX Runtime: <see cref="OnnxCausalLm"/> for a cpu-target folder (one dynamic-shape
/// graph) or <see cref="QnnStaticCausalLm"/> for a qnn-target folder (static AR-N / AR-1 part graphs). Not thread-safe.
/// </summary>
public interface ICausalLm : IDisposable
{
    /// <summary>Vocabulary size (columns of each logit row).</summary>
    int VocabSize { get; }

    /// <summary>Most positions a sequence can hold.</summary>
    int ContextLength { get; }

    /// <summary>Logits of every position of <paramref name="tokens"/> from an empty cache, all of them through the
    /// model's prompt path (<c>result[i]</c> predicts token i + 1).</summary>
    /// <exception cref="ArgumentException">No tokens, more than <see cref="ContextLength"/>, or a token outside the vocabulary.</exception>
    float[][] EvaluateLogits(IReadOnlyList<int> tokens);

    /// <summary>Generates after <paramref name="prompt"/>, streaming ids; stops at a stop token (not yielded), after
    /// <see cref="GenerationOptions.MaxNewTokens"/>, or when the context is full.</summary>
    /// <exception cref="ArgumentException">An empty prompt or one longer than <see cref="ContextLength"/>.</exception>
    IEnumerable<int> Generate(IReadOnlyList<int> prompt, GenerationOptions options);
}

/// <summary>Opens an artifact folder with the runtime its layout needs.</summary>
public static class CausalLm
{
    /// <summary>Whether <paramref name="artifactDir"/> was written by <c>convert --target qnn</c> (it holds
    /// <see cref="QnnModelLayout.FileName"/>).</summary>
    public static bool IsQnnTarget(string artifactDir) => File.Exists(Path.Combine(artifactDir, QnnModelLayout.FileName));

    /// <summary>
    /// A qnn-target folder opens as <see cref="QnnStaticCausalLm"/> (its AR-N/AR-1 graphs on the CPU EP), any other
    /// as <see cref="OnnxCausalLm"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder lacks the files its layout names.</exception>
    /// <exception cref="InvalidDataException">The folder's model or layout is malformed.</exception>
    public static ICausalLm Open(string artifactDir, RuntimeOptions? options = null) =>
        IsQnnTarget(artifactDir) ? QnnStaticCausalLm.Open(artifactDir, options) : OnnxCausalLm.Open(artifactDir, options);
}
