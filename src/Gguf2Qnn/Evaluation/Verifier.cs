namespace Gguf2Qnn.Evaluation;

/// <summary>Progress of a verification: <paramref name="Completed"/> of <paramref name="Total"/> windows.</summary>
public sealed record VerificationProgress(int Completed, int Total, int Positions);

/// <summary>
/// Compares two models' logits on the same token ids, window by window (<c>gguf2qnn verify</c>). Each window is
/// evaluated from an empty KV cache by both models; long texts are cut into windows of at most
/// <c>windowLength</c> tokens. When the text starts with BOS, every later window starts with BOS too (as
/// llama.cpp's perplexity tool does), so each window is a well-formed sequence; the inserted BOS positions are compared
/// as well (their logits predict the window's first text token).
/// </summary>
public static class Verifier
{
    /// <summary>Runs the comparison.</summary>
    /// <param name="tokens">The text's token ids (as the reference tokenizer produced them, BOS included if it adds one).</param>
    /// <param name="windowLength">Most tokens per window (≥ 2; at most both models' context).</param>
    /// <param name="bosToken">BOS id to start later windows with when <c>tokens[0]</c> is it; -1 for none.</param>
    /// <param name="reference">Evaluates one window with the reference, returning one logit row per token.</param>
    /// <param name="ours">Evaluates one window with our model, returning one logit row per token.</param>
    /// <param name="progress">Reports after each window.</param>
    /// <returns>The summary over every position of every window.</returns>
    /// <exception cref="ArgumentException">No tokens, a window below 2, or an evaluator returned the wrong number of rows.</exception>
    public static VerificationReport Compare(
        IReadOnlyList<int> tokens,
        int windowLength,
        int bosToken,
        Func<IReadOnlyList<int>, float[][]> reference,
        Func<IReadOnlyList<int>, float[][]> ours,
        IProgress<VerificationProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(ours);
        ArgumentOutOfRangeException.ThrowIfLessThan(windowLength, 2);
        if (tokens.Count == 0)
        {
            throw new ArgumentException("There are no tokens to compare.", nameof(tokens));
        }

        var windows = Windows(tokens, windowLength, bosToken);
        var comparison = new LogitComparison();
        for (int w = 0; w < windows.Count; w++)
        {
            var (ids, next) = windows[w];
            var expected = reference(ids);
            var actual = ours(ids);
            if (expected.Length != ids.Length || actual.Length != ids.Length)
            {
                throw new ArgumentException($"Window {w}: {ids.Length} tokens but {expected.Length} reference and {actual.Length} rows of ours.");
            }

            for (int i = 0; i < ids.Length; i++)
            {
                comparison.Add(expected[i], actual[i], next[i]);
            }

            progress?.Report(new VerificationProgress(w + 1, windows.Count, comparison.Positions));
        }

        return comparison.ToReport();
    }

    /// <summary>
    /// Cuts <paramref name="tokens"/> into windows; each comes with, per position, the text token that follows it
    /// (-1 after the last token of the text).
    /// </summary>
    public static IReadOnlyList<(int[] Ids, int[] Next)> Windows(IReadOnlyList<int> tokens, int windowLength, int bosToken)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(windowLength, 2);
        bool restartWithBos = bosToken >= 0 && tokens.Count > 0 && tokens[0] == bosToken;
        var result = new List<(int[], int[])>();
        int start = 0;
        while (start < tokens.Count)
        {
            bool addBos = restartWithBos && start > 0;
            int take = Math.Min(windowLength - (addBos ? 1 : 0), tokens.Count - start);
            var ids = new List<int>(take + 1);
            var next = new List<int>(take + 1);
            if (addBos)
            {
                ids.Add(bosToken);
                next.Add(tokens[start]);
            }

            for (int i = start; i < start + take; i++)
            {
                ids.Add(tokens[i]);
                next.Add(i + 1 < tokens.Count ? tokens[i + 1] : -1);
            }

            result.Add((ids.ToArray(), next.ToArray()));
            start += take;
        }

        return result;
    }
}
