using Gguf2Qnn.Runtime;

namespace Gguf2Qnn.Evaluation;

/// <summary>
/// Accumulates the per-position agreement between a reference model's logits (llama.cpp) and ours on the same token
/// ids: arg-max (top-1) agreement, the Kullback–Leibler divergence KL(P_reference ‖ P_ours) of the softmax
/// distributions (natural log, nats), the largest absolute logit difference, and both models' negative
/// log-likelihood of the actual next token (for perplexity). All sums are in double precision.
/// </summary>
/// <remarks>Not thread-safe.</remarks>
public sealed class LogitComparison
{
    private double[] _logRef = [];
    private double[] _logOurs = [];
    private double _klSum;
    private double _nllRefSum;
    private double _nllOursSum;

    /// <summary>Positions added.</summary>
    public int Positions { get; private set; }

    /// <summary>Positions whose arg-max agrees (ties go to the lowest id in both).</summary>
    public int Top1Agreements { get; private set; }

    /// <summary>Positions that had a next token (scored for perplexity).</summary>
    public int ScoredPositions { get; private set; }

    /// <summary>Largest KL(P_reference ‖ P_ours) of one position, in nats.</summary>
    public double KlMax { get; private set; }

    /// <summary>Largest |reference − ours| over every logit of every position.</summary>
    public double MaxAbsLogitDiff { get; private set; }

    /// <summary>
    /// Adds one position.
    /// </summary>
    /// <param name="reference">The reference logits (raw, before softmax), one per vocabulary id.</param>
    /// <param name="ours">Our logits for the same position; same length.</param>
    /// <param name="nextToken">The token that follows this position in the text, or -1 at the end of a window (not scored for perplexity).</param>
    /// <exception cref="ArgumentException">The rows differ in length, are empty, or <paramref name="nextToken"/> is outside them.</exception>
    public void Add(ReadOnlySpan<float> reference, ReadOnlySpan<float> ours, int nextToken)
    {
        if (reference.Length != ours.Length || reference.Length == 0)
        {
            throw new ArgumentException($"Logit rows must be non-empty and of equal length (reference {reference.Length}, ours {ours.Length}).", nameof(ours));
        }

        if (nextToken >= reference.Length || nextToken < -1)
        {
            throw new ArgumentException($"Next token {nextToken} is outside the vocabulary [0, {reference.Length}).", nameof(nextToken));
        }

        if (_logRef.Length != reference.Length)
        {
            _logRef = new double[reference.Length];
            _logOurs = new double[reference.Length];
        }

        LogSoftmax(reference, _logRef);
        LogSoftmax(ours, _logOurs);
        double kl = 0;
        double maxDiff = 0;
        for (int v = 0; v < reference.Length; v++)
        {
            double lp = _logRef[v];
            kl += Math.Exp(lp) * (lp - _logOurs[v]);
            maxDiff = Math.Max(maxDiff, Math.Abs((double)reference[v] - ours[v]));
        }

        kl = Math.Max(kl, 0); // rounding can leave a tiny negative sum for identical distributions
        _klSum += kl;
        KlMax = Math.Max(KlMax, kl);
        MaxAbsLogitDiff = Math.Max(MaxAbsLogitDiff, maxDiff);
        if (Sampler.ArgMax(reference) == Sampler.ArgMax(ours))
        {
            Top1Agreements++;
        }

        if (nextToken >= 0)
        {
            _nllRefSum -= _logRef[nextToken];
            _nllOursSum -= _logOurs[nextToken];
            ScoredPositions++;
        }

        Positions++;
    }

    /// <summary>The summary so far.</summary>
    /// <exception cref="InvalidOperationException">No position was added.</exception>
    public VerificationReport ToReport()
    {
        if (Positions == 0)
        {
            throw new InvalidOperationException("No positions were compared.");
        }

        return new VerificationReport(
            Positions,
            (double)Top1Agreements / Positions,
            _klSum / Positions,
            KlMax,
            MaxAbsLogitDiff,
            ScoredPositions == 0 ? double.NaN : Math.Exp(_nllOursSum / ScoredPositions),
            ScoredPositions == 0 ? double.NaN : Math.Exp(_nllRefSum / ScoredPositions));
    }

    /// <summary>log softmax(x) in double precision: x − max − log Σ exp(x − max).</summary>
    private static void LogSoftmax(ReadOnlySpan<float> x, Span<double> result)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x)
        {
            max = Math.Max(max, v);
        }

        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sum += Math.Exp(x[i] - max);
        }

        double logSum = Math.Log(sum) + max;
        for (int i = 0; i < x.Length; i++)
        {
            result[i] = x[i] - logSum;
        }
    }
}
