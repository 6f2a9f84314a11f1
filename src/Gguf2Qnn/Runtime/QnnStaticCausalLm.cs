using System.Runtime.InteropServices;
using Gguf2Qnn.Onnx;
using Gguf2Qnn.Targets;
using Microsoft.ML.OnnxRuntime;

namespace Gguf2Qnn.Runtime;

/// <summary>
/// Runs a QNN-target artifact folder (<c>convert --target qnn</c>) with ONNX Runtime — the CPU execution provider
/// by default — the way a device runs it: the prompt in windows of N tokens through the AR-N graphs (the last window
/// padded, its padding masked), then one token at a time through the AR-1 graphs, each step running the parts in
/// order (hidden states handed from part to part). The host owns the KV cache: a fixed-size buffer per layer and graph
/// ([kv_heads, context − S, head_size]) into which each step's <c>present.*</c> rows (only the new positions) are
/// written at the next free slots; the <c>attention_mask</c> input opens the filled slots and the causal part of the
/// new block, and <c>position_ids_cos/sin</c> are rows of <c>rotary_cos_sin.bin</c> at the tokens' positions.
/// Generation stops when the context is full. Not thread-safe.
/// </summary>
public sealed class QnnStaticCausalLm : ICausalLm
{
    private readonly QnnModelLayout _layout;
    private readonly InferenceSession[][] _sessions; // [part][0 = AR-N, 1 = AR-1]
    private readonly float[] _cos;
    private readonly float[] _sin;
    private readonly RunOptions _runOptions = new();
    private readonly IReadOnlyList<IReadOnlyList<string>>? _extraOutputs;
    private readonly ActivationObserver? _observe;

    private QnnStaticCausalLm(QnnModelLayout layout, InferenceSession[][] sessions, float[] cos, float[] sin, IReadOnlyList<IReadOnlyList<string>>? extraOutputs, ActivationObserver? observe)
    {
        _layout = layout;
        _sessions = sessions;
        _cos = cos;
        _sin = sin;
        _extraOutputs = extraOutputs;
        _observe = observe;
    }

    /// <summary>Receives one extra float32 output of an AR-N graph run (calibration).</summary>
    /// <param name="name">The tensor's name in the graph.</param>
    /// <param name="values">Its values, all S rows (padding rows included).</param>
    internal delegate void ActivationObserver(string name, ReadOnlySpan<float> values);

    /// <summary>Vocabulary size.</summary>
    public int VocabSize => _layout.VocabSize;

    /// <summary>Fixed context (most positions a sequence can hold).</summary>
    public int ContextLength => _layout.ContextLength;

    /// <summary>The AR-N window.</summary>
    public int PrefillLength => _layout.PrefillLength;

    /// <summary>The folder's layout.</summary>
    public QnnModelLayout Layout => _layout;

    /// <summary>Which kernels run the graphs' weights, in the words <see cref="OnnxCausalLm.KernelsDescription"/> uses:
    /// the static graphs run as written, whatever <see cref="RuntimeOptions.Kernels"/> asks.</summary>
    public const string KernelsDescription = "ONNX Runtime's (a qnn-target folder: its static AR-N/AR-1 graphs run as written; gguf2qnn's kernels run cpu-target folders)";

    /// <summary>Opens every part's AR-N and AR-1 graphs.</summary>
    /// <exception cref="FileNotFoundException">qnn_model.json, a graph or the rotary table is missing.</exception>
    /// <exception cref="InvalidDataException">The layout or the rotary table is malformed.</exception>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime cannot load a graph.</exception>
    public static QnnStaticCausalLm Open(string artifactDir, RuntimeOptions? options = null) =>
        Open(artifactDir, QnnModelLayout.Read(artifactDir), options, null, null);

    /// <summary>
    /// Opens float32 graphs for calibration: <paramref name="layout"/> may name calibration copies of the AR-N graphs
    /// that expose <paramref name="extraOutputs"/>[part] as extra float32 outputs; each AR-N run hands them to
    /// <paramref name="observe"/>.
    /// </summary>
    internal static QnnStaticCausalLm OpenForCalibration(string artifactDir, QnnModelLayout layout, IReadOnlyList<IReadOnlyList<string>> extraOutputs, ActivationObserver observe) =>
        layout.Activations == QnnModelLayout.Float32
            ? Open(artifactDir, layout, null, extraOutputs, observe)
            : throw new NotSupportedException("Calibration runs float32 graphs.");

    private static QnnStaticCausalLm Open(string artifactDir, QnnModelLayout layout, RuntimeOptions? options, IReadOnlyList<IReadOnlyList<string>>? extraOutputs, ActivationObserver? observe)
    {
        options ??= new RuntimeOptions();
        int half = layout.RopeDimensionCount / 2;
        string rotaryPath = Path.Combine(artifactDir, QnnModelLayout.RotaryFileName);
        byte[] rotary = File.ReadAllBytes(rotaryPath);
        long expected = 2L * layout.ContextLength * half * sizeof(float);
        if (rotary.Length != expected)
        {
            throw new InvalidDataException($"{rotaryPath} has {rotary.Length} bytes; context {layout.ContextLength} and rope_dim {layout.RopeDimensionCount} need {expected}.");
        }

        var table = MemoryMarshal.Cast<byte, float>(rotary);
        float[] cos = table[..(layout.ContextLength * half)].ToArray();
        float[] sin = table[(layout.ContextLength * half)..].ToArray();

        var sessions = new List<InferenceSession[]>();
        try
        {
            using var sessionOptions = options.ToSessionOptions();
            options.Log?.Invoke($"kernels: {KernelsDescription}");
            foreach (var part in layout.Parts)
            {
                var pair = new InferenceSession[2];
                sessions.Add(pair);
                pair[0] = new InferenceSession(Path.Combine(artifactDir, part.Graphs[QnnModelLayout.GraphKey(layout.PrefillLength)]), sessionOptions);
                pair[1] = new InferenceSession(Path.Combine(artifactDir, part.Graphs[QnnModelLayout.GraphKey(1)]), sessionOptions);
                options.Log?.Invoke($"onnxruntime: sessions created for {part.Graphs[QnnModelLayout.GraphKey(layout.PrefillLength)]} and {part.Graphs[QnnModelLayout.GraphKey(1)]}");
            }

            return new QnnStaticCausalLm(layout, [.. sessions], cos, sin, extraOutputs, observe);
        }
        catch
        {
            foreach (var pair in sessions)
            {
                foreach (var s in pair)
                {
                    s?.Dispose();
                }
            }

            throw;
        }
    }

    /// <summary>Logits of every position, all through AR-N windows (the device's prompt path).</summary>
    /// <exception cref="ArgumentException">No tokens, more than the context, or a token outside the vocabulary.</exception>
    public float[][] EvaluateLogits(IReadOnlyList<int> tokens) => EvaluateLogits(tokens, tokens?.Count ?? 0);

    /// <summary>
    /// Logits of every position: the first <paramref name="prefillLength"/> tokens through AR-N windows, the rest as
    /// AR-1 steps (<c>result[i]</c> predicts token i + 1).
    /// </summary>
    /// <exception cref="ArgumentException">No tokens, more than the context, a token outside the vocabulary, or a prefill length outside [1, count].</exception>
    public float[][] EvaluateLogits(IReadOnlyList<int> tokens, int prefillLength)
    {
        CheckTokens(tokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefillLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefillLength, tokens.Count);
        var cache = NewCache();
        var result = new List<float[]>(tokens.Count);
        Prefill(tokens.Take(prefillLength).ToArray(), cache, result);
        for (int i = prefillLength; i < tokens.Count; i++)
        {
            result.AddRange(Step(1, [tokens[i]], cache));
        }

        return [.. result];
    }

    /// <summary>Generates after <paramref name="prompt"/> (prompt through AR-N windows, then AR-1 steps), streaming ids.
    /// Stops at a stop token (not yielded), after <see cref="GenerationOptions.MaxNewTokens"/>, or when the context is full.</summary>
    /// <exception cref="ArgumentException">An empty prompt, one longer than the context, or a token outside the vocabulary.</exception>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckTokens(prompt);
        return GenerateCore(prompt.ToArray(), options);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var pair in _sessions)
        {
            foreach (var s in pair)
            {
                s.Dispose();
            }
        }

        _runOptions.Dispose();
    }

    private IEnumerable<int> GenerateCore(int[] prompt, GenerationOptions options)
    {
        if (options.MaxNewTokens == 0)
        {
            yield break;
        }

        var sampler = new Sampler(options);
        var stops = new HashSet<int>(options.StopTokens);
        var cache = NewCache();
        var rows = new List<float[]>();
        Prefill(prompt, cache, rows);
        float[] last = rows[^1];
        for (int produced = 0; ; produced++)
        {
            int token = sampler.Sample(last);
            if (stops.Contains(token))
            {
                yield break;
            }

            yield return token;
            if (produced + 1 >= options.MaxNewTokens || cache.Filled >= _layout.ContextLength)
            {
                yield break;
            }

            last = Step(1, [token], cache)[0];
        }
    }

    private void Prefill(int[] tokens, ICache cache, List<float[]> result)
    {
        int n = _layout.PrefillLength;
        for (int pos = 0; pos < tokens.Length;)
        {
            if (cache.Filled <= _layout.ContextLength - n)
            {
                int count = Math.Min(n, tokens.Length - pos);
                result.AddRange(Step(n, tokens.AsSpan(pos, count).ToArray(), cache));
                pos += count;
            }
            else
            {
                result.AddRange(Step(1, [tokens[pos]], cache));
                pos++;
            }
        }
    }

    private ICache NewCache() => _layout.Activations == QnnModelLayout.Float16 ? new Cache<Float16>(_layout) : new Cache<float>(_layout);

    // ONNX Runtime's C# API maps tensor(float16) to its own Float16 struct (IEEE binary16 bits).
    private float[][] Step(int s, int[] tokens, ICache cache) => cache switch
    {
        Cache<Float16> h => Step(s, tokens, h, static x => new Float16(BitConverter.HalfToUInt16Bits((Half)x)), static x => (float)BitConverter.UInt16BitsToHalf(x.value)),
        Cache<float> f => Step(s, tokens, f, static x => x, static x => x),
        _ => throw new InvalidOperationException("Unknown cache type."),
    };

    // One pass of every part over `tokens` (≤ s of them) with the AR-s graphs; returns the logits of the real tokens.
    // T is the graphs' activation type (float or Half); the host's tables are float32 and are converted per step.
    private float[][] Step<T>(int s, int[] tokens, Cache<T> cache, Func<float, T> fromFloat, Func<T, float> toFloat)
        where T : unmanaged
    {
        int c = _layout.ContextLength, cap = c - s, p = cache.Filled, n = tokens.Length, half = _layout.RopeDimensionCount / 2;
        int graph = s == 1 ? 1 : 0;
        var ids = new int[s];
        tokens.CopyTo(ids, 0);
        var cos = new T[s * half];
        var sin = new T[s * half];
        var mask = new T[s * c];
        Array.Fill(mask, fromFloat(QnnModelLayout.MaskValue));
        for (int i = 0; i < s; i++)
        {
            int position = Math.Min(p + i, c - 1);
            for (int j = 0; j < half; j++)
            {
                cos[(i * half) + j] = fromFloat(_cos[(position * half) + j]);
                sin[(i * half) + j] = fromFloat(_sin[(position * half) + j]);
            }

            mask.AsSpan(i * c, p).Clear();
            mask.AsSpan((i * c) + cap, i + 1).Clear();
        }

        var disposables = new List<IDisposable>();
        try
        {
            var cosValue = Track(disposables, OrtValue.CreateTensorValueFromMemory(cos, [1, 1, s, half]));
            var sinValue = Track(disposables, OrtValue.CreateTensorValueFromMemory(sin, [1, 1, s, half]));
            var maskValue = Track(disposables, OrtValue.CreateTensorValueFromMemory(mask, [1, 1, s, c]));
            OrtValue hidden = Track(disposables, OrtValue.CreateTensorValueFromMemory(ids, [1, s]));
            float[][]? logits = null;
            int kv = _layout.KvHeadCount, d = _layout.HeadSize;
            foreach (var part in _layout.Parts)
            {
                var names = new List<string> { part.HasEmbedding ? QnnNames.InputIds : QnnNames.HiddenStates(part.FirstLayer), QnnNames.PositionCos, QnnNames.PositionSin, QnnNames.AttentionMask };
                var values = new List<OrtValue> { hidden, cosValue, sinValue, maskValue };
                var outputNames = new List<string> { part.HasHead ? QnnNames.Logits : QnnNames.HiddenStates(part.EndLayer) };
                for (int layer = part.FirstLayer; layer < part.EndLayer; layer++)
                {
                    names.Add(OnnxNames.PastKey(layer));
                    values.Add(Track(disposables, OrtValue.CreateTensorValueFromMemory(cache.Keys(layer, graph), [1, kv, cap, d])));
                    names.Add(OnnxNames.PastValue(layer));
                    values.Add(Track(disposables, OrtValue.CreateTensorValueFromMemory(cache.Values(layer, graph), [1, kv, cap, d])));
                    outputNames.Add(OnnxNames.PresentKey(layer));
                    outputNames.Add(OnnxNames.PresentValue(layer));
                }

                int standard = outputNames.Count;
                var extra = graph == 0 ? _extraOutputs?[part.Index] : null;
                if (extra is not null)
                {
                    outputNames.AddRange(extra);
                }

                var outputs = Track(disposables, _sessions[part.Index][graph].Run(_runOptions, names, values, outputNames));
                for (int o = standard; o < outputNames.Count; o++)
                {
                    _observe!(outputNames[o], outputs[o].GetTensorDataAsSpan<float>());
                }

                for (int layer = part.FirstLayer, o = 1; layer < part.EndLayer; layer++, o += 2)
                {
                    cache.Write(layer, outputs[o].GetTensorDataAsSpan<T>(), outputs[o + 1].GetTensorDataAsSpan<T>(), s, n, p);
                }

                if (part.HasHead)
                {
                    var all = outputs[0].GetTensorDataAsSpan<T>();
                    logits = new float[n][];
                    for (int i = 0; i < n; i++)
                    {
                        var row = all.Slice(i * VocabSize, VocabSize);
                        var converted = new float[VocabSize];
                        for (int v = 0; v < converted.Length; v++)
                        {
                            converted[v] = toFloat(row[v]);
                        }

                        logits[i] = converted;
                    }
                }
                else
                {
                    hidden = outputs[0];
                }
            }

            cache.Filled += n;
            return logits ?? throw new InvalidDataException("The last part has no logits output.");
        }
        finally
        {
            for (int i = disposables.Count - 1; i >= 0; i--)
            {
                disposables[i].Dispose();
            }
        }
    }

    private static T Track<T>(List<IDisposable> list, T value)
        where T : IDisposable
    {
        list.Add(value);
        return value;
    }

    private void CheckTokens(IReadOnlyList<int> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Count == 0)
        {
            throw new ArgumentException("At least one token is needed.", nameof(tokens));
        }

        if (tokens.Count > ContextLength)
        {
            throw new ArgumentException($"{tokens.Count} positions exceed the fixed context {ContextLength}.", nameof(tokens));
        }

        foreach (int t in tokens)
        {
            if ((uint)t >= (uint)VocabSize)
            {
                throw new ArgumentException($"Token id {t} is outside the vocabulary [0, {VocabSize}).", nameof(tokens));
            }
        }
    }

    private interface ICache
    {
        int Filled { get; }
    }

    // Per layer and graph (0 = AR-N, 1 = AR-1): keys and values [kv, context − S, head] with slot = position, in the
    // graphs' activation type T.
    private sealed class Cache<T>(QnnModelLayout layout) : ICache
        where T : unmanaged
    {
        private readonly T[][][] _keys = Allocate(layout);
        private readonly T[][][] _values = Allocate(layout);

        public int Filled { get; set; }

        public T[] Keys(int layer, int graph) => _keys[graph][layer];

        public T[] Values(int layer, int graph) => _values[graph][layer];

        // present [1, kv, s, head]: rows 0..n−1 go to slots p..p+n−1 of both graphs' buffers (where they fit).
        public void Write(int layer, ReadOnlySpan<T> presentK, ReadOnlySpan<T> presentV, int s, int n, int p)
        {
            int kv = layout.KvHeadCount, d = layout.HeadSize;
            for (int graph = 0; graph < 2; graph++)
            {
                int cap = layout.ContextLength - (graph == 0 ? layout.PrefillLength : 1);
                int rows = Math.Min(n, cap - p);
                for (int h = 0; h < kv && rows > 0; h++)
                {
                    presentK.Slice(h * s * d, rows * d).CopyTo(_keys[graph][layer].AsSpan(((h * cap) + p) * d));
                    presentV.Slice(h * s * d, rows * d).CopyTo(_values[graph][layer].AsSpan(((h * cap) + p) * d));
                }
            }
        }

        private static T[][][] Allocate(QnnModelLayout l)
        {
            var result = new T[2][][];
            for (int graph = 0; graph < 2; graph++)
            {
                int cap = l.ContextLength - (graph == 0 ? l.PrefillLength : 1);
                result[graph] = new T[l.LayerCount][];
                for (int i = 0; i < l.LayerCount; i++)
                {
                    result[graph][i] = new T[l.KvHeadCount * cap * l.HeadSize];
                }
            }

            return result;
        }
    }
}
