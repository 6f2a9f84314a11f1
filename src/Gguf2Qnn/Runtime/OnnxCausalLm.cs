using System.Text.Json.Nodes;
using Gguf2Qnn.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Gguf2Qnn.Runtime;

/// <summary>
/// A converted decoder-only model (artifact folder from <c>convert --target cpu</c>) run by ONNX Runtime on the CPU
/// execution provider. The graph contract is ONNX Runtime GenAI's: inputs <c>input_ids</c> int64 [batch, seq],
/// <c>attention_mask</c> int64 [batch, total_seq], <c>past_key_values.{i}.key|value</c> float32
/// [batch, kv_heads, past_seq, head_size]; outputs <c>logits</c> float32 [batch, seq, vocab] and
/// <c>present.{i}.key|value</c> float32 [batch, kv_heads, total_seq, head_size]. Batch is always 1 here.
/// Not thread-safe: one generation at a time.
/// </summary>
public sealed class OnnxCausalLm : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly string[] _lastOnlyInputNames;
    private readonly string[] _outputNames;
    private readonly OrtValue? _keepOne;

    private OnnxCausalLm(InferenceSession session, string modelPath, int contextLength)
    {
        _session = session;
        ModelPath = modelPath;
        ContextLength = contextLength;

        LayerCount = 0;
        while (session.InputMetadata.ContainsKey(OnnxNames.PastKey(LayerCount)))
        {
            LayerCount++;
        }

        if (LayerCount == 0 || !session.InputMetadata.ContainsKey(OnnxNames.InputIds) ||
            !session.InputMetadata.ContainsKey(OnnxNames.AttentionMask) || !session.OutputMetadata.ContainsKey(OnnxNames.Logits))
        {
            throw new InvalidDataException($"'{modelPath}' does not have the decoder inputs and outputs (input_ids, attention_mask, past_key_values.*, logits).");
        }

        int[] kvDims = session.InputMetadata[OnnxNames.PastKey(0)].Dimensions;
        KvHeadCount = kvDims.Length == 4 ? kvDims[1] : throw new InvalidDataException("past_key_values.0.key is not 4-D.");
        HeadSize = kvDims[3];
        int[] logitDims = session.OutputMetadata[OnnxNames.Logits].Dimensions;
        VocabSize = logitDims.Length == 3 && logitDims[2] > 0 ? logitDims[2] : throw new InvalidDataException("logits must be [batch, seq, vocab] with a fixed vocab.");

        _inputNames = new string[2 + (2 * LayerCount)];
        _outputNames = new string[1 + (2 * LayerCount)];
        _inputNames[0] = OnnxNames.InputIds;
        _inputNames[1] = OnnxNames.AttentionMask;
        _outputNames[0] = OnnxNames.Logits;
        for (int i = 0; i < LayerCount; i++)
        {
            _inputNames[2 + (2 * i)] = OnnxNames.PastKey(i);
            _inputNames[3 + (2 * i)] = OnnxNames.PastValue(i);
            _outputNames[1 + (2 * i)] = OnnxNames.PresentKey(i);
            _outputNames[2 + (2 * i)] = OnnxNames.PresentValue(i);
        }

        // Models from the cpu target take an optional num_logits_to_keep (an overridable initializer); older ones do not.
        HasLastLogitsInput = session.OverridableInitializerMetadata.ContainsKey(OnnxNames.NumLogitsToKeep) ||
            session.InputMetadata.ContainsKey(OnnxNames.NumLogitsToKeep);
        _lastOnlyInputNames = HasLastLogitsInput ? [.. _inputNames, OnnxNames.NumLogitsToKeep] : _inputNames;
        _keepOne = HasLastLogitsInput ? OrtValue.CreateTensorValueFromMemory(new long[] { 1 }, [1]) : null;
    }

    /// <summary>Whether the graph has the <c>num_logits_to_keep</c> input, so a generation prefill computes the
    /// lm head for its last position only.</summary>
    public bool HasLastLogitsInput { get; }

    /// <summary>The .onnx file in use.</summary>
    public string ModelPath { get; }

    /// <summary>Decoder layers (pairs of past/present tensors).</summary>
    public int LayerCount { get; }

    /// <summary>KV heads per layer (dimension 1 of the cache tensors).</summary>
    public int KvHeadCount { get; }

    /// <summary>Head size (dimension 3 of the cache tensors).</summary>
    public int HeadSize { get; }

    /// <summary>Vocabulary size (last dimension of <c>logits</c>).</summary>
    public int VocabSize { get; }

    /// <summary>Most positions (prompt + generated) the graph supports: the rows of its rotary cache
    /// (genai_config.json <c>model.context_length</c>; <see cref="int.MaxValue"/> when the file is absent).</summary>
    public int ContextLength { get; }

    /// <summary>
    /// Opens an artifact folder: the model named by <c>genai_config.json</c> (model.decoder.filename), or
    /// <c>model.onnx</c> when there is no config.
    /// </summary>
    /// <exception cref="FileNotFoundException">The model file is missing.</exception>
    /// <exception cref="InvalidDataException">The model lacks the decoder inputs and outputs.</exception>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime cannot load the model.</exception>
    public static OnnxCausalLm Open(string artifactDir, RuntimeOptions? options = null)
    {
        options ??= new RuntimeOptions();
        string fileName = "model.onnx";
        int contextLength = int.MaxValue;
        string configPath = Path.Combine(artifactDir, "genai_config.json");
        if (File.Exists(configPath))
        {
            var model = JsonNode.Parse(File.ReadAllText(configPath))?["model"];
            fileName = model?["decoder"]?["filename"]?.GetValue<string>() ?? fileName;
            contextLength = model?["context_length"]?.GetValue<int>() ?? contextLength;
        }

        string modelPath = Path.Combine(artifactDir, fileName);
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException("The ONNX model is missing from the artifact folder.", modelPath);
        }

        using var sessionOptions = options.ToSessionOptions();
        var session = new InferenceSession(modelPath, sessionOptions);
        try
        {
            return new OnnxCausalLm(session, modelPath, contextLength);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// One prefill pass over <paramref name="tokens"/> from an empty cache; returns the logits of every position
    /// (<c>result[i]</c> predicts token i + 1, length <see cref="VocabSize"/>).
    /// </summary>
    /// <exception cref="ArgumentException">No tokens, or more than <see cref="ContextLength"/>.</exception>
    public float[][] EvaluateLogits(IReadOnlyList<int> tokens) => EvaluateLogits(tokens, tokens?.Count ?? 0);

    /// <summary>
    /// Prefills the first <paramref name="prefillLength"/> tokens in one pass, then feeds the rest one decode step at
    /// a time through the KV cache (the path <see cref="Generate"/> takes); returns the logits of every position.
    /// Comparing this with the single-pass overload checks the cache handling.
    /// </summary>
    /// <exception cref="ArgumentException">No tokens, more than <see cref="ContextLength"/>, or a prefill length outside [1, count].</exception>
    public float[][] EvaluateLogits(IReadOnlyList<int> tokens, int prefillLength)
    {
        CheckTokens(tokens, 0);
        if (prefillLength < 1 || prefillLength > tokens.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(prefillLength), prefillLength, "The prefill length must be in [1, token count].");
        }

        var result = new float[tokens.Count][];
        var empty = EmptyCache();
        IDisposableReadOnlyCollection<OrtValue>? outputs = null;
        try
        {
            var prefill = tokens.Take(prefillLength).ToArray();
            outputs = Run(prefill, 0, empty);
            CopyRows(outputs[0], result, 0, prefillLength);
            var next = new int[1];
            for (int i = prefillLength; i < tokens.Count; i++)
            {
                next[0] = tokens[i];
                var step = Run(next, i, Presents(outputs));
                outputs.Dispose();
                outputs = step;
                CopyRows(outputs[0], result, i, 1);
            }

            return result;
        }
        finally
        {
            outputs?.Dispose();
            DisposeAll(empty);
        }
    }

    /// <summary>
    /// Generates tokens after <paramref name="prompt"/>, streaming each id as it is picked: one prefill pass, then one
    /// decode step per token in which each layer's <c>present.*</c> OrtValues are fed back, as they are, as the next
    /// step's <c>past_key_values.*</c>. Stops at a stop token (not yielded), after
    /// <see cref="GenerationOptions.MaxNewTokens"/> tokens, or when the context is full.
    /// </summary>
    /// <exception cref="ArgumentException">An empty prompt, or one longer than <see cref="ContextLength"/>.</exception>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckTokens(prompt, 0);
        var sampler = new Sampler(options);
        var stops = new HashSet<int>(options.StopTokens);
        return GenerateCore(prompt, options.MaxNewTokens, sampler, stops);
    }

    /// <summary>
    /// Starts an empty sequence that is extended step by step (<see cref="DecodeSequence.Append"/>), keeping the KV
    /// cache between steps: the low-level loop under <see cref="Generate"/>, for callers that choose every token
    /// themselves (benchmarks, scoring). Dispose it before the model.
    /// </summary>
    public DecodeSequence StartSequence() => new(this);

    /// <inheritdoc />
    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
        _keepOne?.Dispose();
    }

    private IEnumerable<int> GenerateCore(IReadOnlyList<int> prompt, int maxNewTokens, Sampler sampler, HashSet<int> stops)
    {
        if (maxNewTokens == 0)
        {
            yield break;
        }

        var empty = EmptyCache();
        IDisposableReadOnlyCollection<OrtValue>? outputs = null;
        try
        {
            outputs = Run(prompt, 0, empty, lastOnly: true);
            int lastRows = HasLastLogitsInput ? 1 : prompt.Count;
            int total = prompt.Count;
            var next = new int[1];
            for (int produced = 0; ; produced++)
            {
                int token = SampleLast(outputs[0], lastRows, sampler);
                if (stops.Contains(token))
                {
                    yield break;
                }

                yield return token;
                if (produced + 1 >= maxNewTokens || total >= ContextLength)
                {
                    yield break;
                }

                next[0] = token;
                var step = Run(next, total, Presents(outputs));
                outputs.Dispose();
                outputs = step;
                total++;
                lastRows = 1;
            }
        }
        finally
        {
            outputs?.Dispose();
            DisposeAll(empty);
        }
    }

    private void CopyRows(OrtValue logits, float[][] result, int first, int rows)
    {
        ReadOnlySpan<float> all = logits.GetTensorDataAsSpan<float>();
        for (int r = 0; r < rows; r++)
        {
            result[first + r] = all.Slice(r * VocabSize, VocabSize).ToArray();
        }
    }

    private int SampleLast(OrtValue logits, int rows, Sampler sampler) =>
        sampler.Sample(logits.GetTensorDataAsSpan<float>().Slice((rows - 1) * VocabSize, VocabSize));

    private OrtValue[] Presents(IDisposableReadOnlyCollection<OrtValue> outputs)
    {
        var presents = new OrtValue[2 * LayerCount];
        for (int i = 0; i < presents.Length; i++)
        {
            presents[i] = outputs[1 + i];
        }

        return presents;
    }

    // One pass; lastOnly asks (where the graph allows it) for the last position's logits only.
    private IDisposableReadOnlyCollection<OrtValue> Run(IReadOnlyList<int> tokens, int pastLength, IReadOnlyList<OrtValue> past, bool lastOnly = false)
    {
        var ids = new long[tokens.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = tokens[i];
        }

        var mask = new long[pastLength + tokens.Count];
        Array.Fill(mask, 1L);
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [1, ids.Length]);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [1, mask.Length]);
        bool keepOne = lastOnly && _keepOne is not null && tokens.Count > 1;
        var names = keepOne ? _lastOnlyInputNames : _inputNames;
        var inputs = new OrtValue[names.Length];
        inputs[0] = idsValue;
        inputs[1] = maskValue;
        for (int i = 0; i < past.Count; i++)
        {
            inputs[2 + i] = past[i];
        }

        if (keepOne)
        {
            inputs[^1] = _keepOne!;
        }

        return _session.Run(_runOptions, names, inputs, _outputNames);
    }

    private OrtValue[] EmptyCache()
    {
        var values = new OrtValue[2 * LayerCount];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [1, KvHeadCount, 0, HeadSize]);
        }

        return values;
    }

    private static void DisposeAll(OrtValue[] values)
    {
        foreach (var v in values)
        {
            v.Dispose();
        }
    }

    private void CheckTokens(IReadOnlyList<int> tokens, int pastLength)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Count == 0)
        {
            throw new ArgumentException("At least one token is needed.", nameof(tokens));
        }

        if (pastLength + tokens.Count > ContextLength)
        {
            throw new ArgumentException($"{pastLength + tokens.Count} positions exceed the model's context length {ContextLength}.", nameof(tokens));
        }

        foreach (int t in tokens)
        {
            if ((uint)t >= (uint)VocabSize)
            {
                throw new ArgumentException($"Token id {t} is outside the vocabulary [0, {VocabSize}).", nameof(tokens));
            }
        }
    }

    /// <summary>
    /// One sequence's KV cache and last logits (see <see cref="StartSequence"/>). Each <see cref="Append"/> runs one
    /// ONNX Runtime pass over the new tokens with the previous pass's <c>present.*</c> values as <c>past_key_values.*</c>.
    /// </summary>
    public sealed class DecodeSequence : IDisposable
    {
        private readonly OnnxCausalLm _lm;
        private readonly OrtValue[] _empty;
        private IDisposableReadOnlyCollection<OrtValue>? _outputs;
        private int _rows;

        internal DecodeSequence(OnnxCausalLm lm)
        {
            _lm = lm;
            _empty = lm.EmptyCache();
        }

        /// <summary>Positions in the cache (tokens appended so far).</summary>
        public int Length { get; private set; }

        /// <summary>The logits of the last position appended (length <see cref="VocabSize"/>); empty before the first append.</summary>
        public ReadOnlySpan<float> LastLogits =>
            _outputs is null ? [] : _outputs[0].GetTensorDataAsSpan<float>().Slice((_rows - 1) * _lm.VocabSize, _lm.VocabSize);

        /// <summary>
        /// Runs <paramref name="tokens"/> at positions <see cref="Length"/>… (a prefill when there are several, a decode
        /// step for one) and returns their logits, [count, vocab] row-major, valid until the next call or disposal.
        /// With <paramref name="lastLogitsOnly"/> and a graph that has <see cref="HasLastLogitsInput"/>, only the last
        /// position's logits are computed and returned ([1, vocab]); <see cref="LastLogits"/> is the same either way.
        /// </summary>
        /// <exception cref="ArgumentException">No tokens, an id outside the vocabulary, or the context would overflow.</exception>
        public ReadOnlySpan<float> Append(IReadOnlyList<int> tokens, bool lastLogitsOnly = false)
        {
            _lm.CheckTokens(tokens, Length);
            var step = _lm.Run(tokens, Length, _outputs is null ? _empty : _lm.Presents(_outputs), lastLogitsOnly);
            _outputs?.Dispose();
            _outputs = step;
            Length += tokens.Count;
            _rows = _outputs[0].GetTensorDataAsSpan<float>().Length / _lm.VocabSize;
            return _outputs[0].GetTensorDataAsSpan<float>();
        }

        /// <inheritdoc />
        public void Dispose()
        {
            _outputs?.Dispose();
            _outputs = null;
            DisposeAll(_empty);
        }
    }
}
