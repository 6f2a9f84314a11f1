namespace Gguf2Qnn.Evaluation;

/// <summary>
/// One benchmark repetition: a prefill of <paramref name="PromptTokens"/> tokens, then
/// <paramref name="GeneratedTokens"/> single-token decode steps (wall-clock seconds, <see cref="System.Diagnostics.Stopwatch"/>).
/// </summary>
/// <param name="PromptTokens">Tokens in the prefill pass.</param>
/// <param name="GeneratedTokens">Single-token decode steps.</param>
/// <param name="PrefillSeconds">Time of the prefill pass.</param>
/// <param name="DecodeSeconds">Total time of the decode steps.</param>
/// <param name="FirstTokenSeconds">Time from the start of the prefill until the first new token is picked (prefill plus arg-max).</param>
public sealed record BenchTimings(int PromptTokens, int GeneratedTokens, double PrefillSeconds, double DecodeSeconds, double FirstTokenSeconds)
{
    /// <summary>Prefill tokens per second (llama-bench's "pp").</summary>
    public double PrefillTokensPerSecond => PromptTokens / PrefillSeconds;

    /// <summary>Decode tokens per second (llama-bench's "tg"); NaN without decode steps.</summary>
    public double DecodeTokensPerSecond => GeneratedTokens == 0 ? double.NaN : GeneratedTokens / DecodeSeconds;

    /// <summary>Time to first token, milliseconds.</summary>
    public double TimeToFirstTokenMilliseconds => FirstTokenSeconds * 1000.0;
}

/// <summary>The median and range of one measure over repetitions.</summary>
/// <param name="Median">Median (mean of the two middle values for an even count).</param>
/// <param name="Min">Smallest value.</param>
/// <param name="Max">Largest value.</param>
public readonly record struct Spread(double Median, double Min, double Max)
{
    /// <summary>Summarises <paramref name="values"/>.</summary>
    /// <exception cref="ArgumentException">No values.</exception>
    public static Spread Of(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            throw new ArgumentException("No values.", nameof(values));
        }

        int mid = sorted.Length / 2;
        double median = sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
        return new Spread(median, sorted[0], sorted[^1]);
    }

    /// <summary>(max − min) / median, the relative spread.</summary>
    public double Relative => Median == 0 ? double.NaN : (Max - Min) / Median;
}
