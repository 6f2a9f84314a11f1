namespace Gguf2Qnn.Runtime;

/// <summary>
/// Picks the next token from one row of logits: arg-max when greedy, otherwise temperature → top-k → softmax →
/// top-p → one draw from <see cref="System.Random"/> (seeded from <see cref="GenerationOptions.Seed"/>).
/// Candidates are ranked by logit, descending, ties broken by the lower token id, so results do not depend on
/// sort stability. Not thread-safe (one sampler per generation).
/// </summary>
public sealed class Sampler
{
    private readonly GenerationOptions _options;
    private readonly Random _random;
    private readonly Comparer<int> _rank;
    private readonly Comparer<int> _reverseRank;
    private int[] _order = [];
    private double[] _probabilities = [];
    private float[] _keys = [];

    /// <summary>Creates a sampler for <paramref name="options"/> (validated here).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public Sampler(GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _random = options.Seed is int seed ? new Random(seed) : new Random();
        _rank = Comparer<int>.Create(Rank);
        _reverseRank = Comparer<int>.Create((a, b) => Rank(b, a));
    }

    /// <summary>The index of the largest value; the lowest index wins a tie. NaN never wins.</summary>
    /// <exception cref="ArgumentException">The span is empty.</exception>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("No logits.", nameof(logits));
        }

        int best = 0;
        float bestValue = float.NegativeInfinity;
        bool found = false;
        for (int i = 0; i < logits.Length; i++)
        {
            float v = logits[i];
            if (!found ? !float.IsNaN(v) : v > bestValue)
            {
                best = i;
                bestValue = v;
                found = true;
            }
        }

        return best;
    }

    /// <summary>Picks a token id from <paramref name="logits"/> (one value per vocabulary entry).</summary>
    /// <exception cref="ArgumentException">The span is empty.</exception>
    public int Sample(ReadOnlySpan<float> logits)
    {
        if (_options.IsGreedy)
        {
            return ArgMax(logits);
        }

        int count = Candidates(logits, out double[] probabilities);
        double u = _random.NextDouble();
        double cumulative = 0;
        for (int i = 0; i < count - 1; i++)
        {
            cumulative += probabilities[i];
            if (u < cumulative)
            {
                return _order[i];
            }
        }

        return _order[count - 1];
    }

    /// <summary>
    /// The candidate tokens after temperature, top-k and top-p, most likely first, with their renormalised
    /// probabilities (used by tests and by callers that want the distribution).
    /// </summary>
    public IReadOnlyList<(int Token, double Probability)> Distribution(ReadOnlySpan<float> logits)
    {
        if (_options.IsGreedy)
        {
            return [(ArgMax(logits), 1.0)];
        }

        int count = Candidates(logits, out double[] probabilities);
        var result = new (int, double)[count];
        for (int i = 0; i < count; i++)
        {
            result[i] = (_order[i], probabilities[i]);
        }

        return result;
    }

    private int Candidates(ReadOnlySpan<float> logits, out double[] probabilities)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("No logits.", nameof(logits));
        }

        int n = logits.Length;
        if (_order.Length != n)
        {
            _order = new int[n];
            _probabilities = new double[n];
            _keys = new float[n];
        }

        float[] keys = _keys;
        logits.CopyTo(keys);

        // Rank: descending logit, ascending id. NaN logits rank last and get probability 0.
        int[] order = _order;
        for (int i = 0; i < n; i++)
        {
            order[i] = i;
        }

        int k = _options.TopK > 0 ? Math.Min(_options.TopK, n) : n;
        if (k < n)
        {
            // Partial selection: keep the k best, then sort them.
            var heap = new PriorityQueue<int, int>(k + 1, _reverseRank);
            for (int i = 0; i < n; i++)
            {
                heap.Enqueue(i, i);
                if (heap.Count > k)
                {
                    heap.Dequeue();
                }
            }

            for (int i = k - 1; i >= 0; i--)
            {
                order[i] = heap.Dequeue();
            }
        }
        else
        {
            Array.Sort(order, 0, n, _rank);
        }

        // Softmax over the kept candidates, in double, max-subtracted; the temperature divides the logits first.
        double temperature = _options.Temperature;
        double max = keys[order[0]] / temperature;
        double sum = 0;
        probabilities = _probabilities;
        for (int i = 0; i < k; i++)
        {
            float v = keys[order[i]];
            double p = float.IsNaN(v) ? 0 : Math.Exp((v / temperature) - max);
            probabilities[i] = p;
            sum += p;
        }

        // Top-p: the smallest prefix whose probability reaches TopP (at least one token).
        int count = k;
        if (_options.TopP < 1f)
        {
            double cumulative = 0;
            for (int i = 0; i < k; i++)
            {
                cumulative += probabilities[i] / sum;
                if (cumulative >= _options.TopP)
                {
                    count = i + 1;
                    break;
                }
            }
        }

        double kept = 0;
        for (int i = 0; i < count; i++)
        {
            kept += probabilities[i];
        }

        for (int i = 0; i < count; i++)
        {
            probabilities[i] /= kept;
        }

        return count;
    }

    // Descending logit, then ascending id; NaN last.
    private int Rank(int a, int b)
    {
        float x = _keys[a], y = _keys[b];
        bool xn = float.IsNaN(x), yn = float.IsNaN(y);
        if (xn || yn)
        {
            return xn == yn ? a.CompareTo(b) : (xn ? 1 : -1);
        }

        int c = y.CompareTo(x);
        return c != 0 ? c : a.CompareTo(b);
    }
}
