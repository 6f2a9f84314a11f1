using System.Text.Json.Nodes;
using Gguf2Qnn.Onnx;
using Gguf2Qnn.Onnx.Proto;
using Gguf2Qnn.Runtime.Kernels;
using Google.Protobuf;
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
public sealed class OnnxCausalLm : ICausalLm
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly string[] _lastOnlyInputNames;
    private readonly string[] _outputNames;
    private readonly OrtValue? _keepOne;
    private bool _profiling;

    private OnnxCausalLm(InferenceSession session, string modelPath, int contextLength, KernelChoice kernels, bool profiling)
    {
        _session = session;
        _profiling = profiling;
        ModelPath = modelPath;
        ContextLength = contextLength;
        Gguf2QnnKernelNodes = kernels.Nodes;
        Gguf2QnnQ6_KNodes = kernels.Q6_KNodes;
        KernelsDescription = kernels.Description;

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
        SharesKvBuffers = session.ModelMetadata.CustomMetadataMap.TryGetValue(KvCacheMetadataKey, out string? kv) &&
            kv == KvCacheSharedBuffer;
    }

    /// <summary>Model metadata key (ModelProto.metadata_props) the cpu target sets to <see cref="KvCacheSharedBuffer"/>
    /// when every layer's cache goes through GroupQueryAttention.</summary>
    public const string KvCacheMetadataKey = "gguf2qnn.kv_cache";

    /// <summary>The <see cref="KvCacheMetadataKey"/> value: past and present may be one buffer (GroupQueryAttention's
    /// past_present_share_buffer mode: present has max(past buffer, total) positions and only new positions are written).</summary>
    public const string KvCacheSharedBuffer = "group_query_attention_shared_buffer";

    /// <summary>Whether the KV cache lives in one preallocated buffer per layer and tensor, bound as both past and
    /// present (IOBinding), instead of new present tensors each step; see <see cref="KvCacheMetadataKey"/>.</summary>
    public bool SharesKvBuffers { get; }

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

    /// <summary>How many MatMulNBits nodes gguf2qnn's kernels run (Q4_0 and Q6_K, <see cref="RuntimeOptions.Kernels"/>);
    /// 0 when ONNX Runtime's kernels run every node.</summary>
    public int Gguf2QnnKernelNodes { get; }

    /// <summary>How many of <see cref="Gguf2QnnKernelNodes"/> are Q6_K weights (<see cref="Q6_KKernelRewriter"/>).</summary>
    public int Gguf2QnnQ6_KNodes { get; }

    /// <summary>Which kernels run the Q4_0 and Q6_K weights and why, in one line (what <see cref="RuntimeOptions.Log"/> receives
    /// after "kernels: "), e.g. "ONNX Runtime's (as asked)".</summary>
    public string KernelsDescription { get; }

    /// <summary>
    /// Opens an artifact folder: the model named by <c>genai_config.json</c> (model.decoder.filename), or
    /// <c>model.onnx</c> when there is no config.
    /// </summary>
    /// <exception cref="FileNotFoundException">The model file is missing.</exception>
    /// <exception cref="InvalidDataException">The model lacks the decoder inputs and outputs.</exception>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime cannot load the model (or, with <see cref="CpuKernels.Gguf2Qnn"/>,
    /// gguf2qnn's kernels cannot take one of its Q4_0 weights).</exception>
    /// <exception cref="PlatformNotSupportedException"><see cref="CpuKernels.Gguf2Qnn"/> on a CPU without AVX-512BW.</exception>
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

        var (session, kernels) = CreateSession(modelPath, options);
        options.Log?.Invoke($"kernels: {kernels.Description}");
        options.Log?.Invoke($"onnxruntime: session created for {modelPath}");
        try
        {
            return new OnnxCausalLm(session, modelPath, contextLength, kernels, options.ProfilePathPrefix is not null);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens the session, with gguf2qnn's Q4_0 and Q6_K kernels in place of ONNX Runtime's where <see cref="RuntimeOptions.Kernels"/>
    /// asks for them: the model is read, its Q4_0 and Q6_K MatMulNBits nodes rewritten in memory (<see cref="Q4_0KernelRewriter"/>,
    /// <see cref="Q6_KKernelRewriter"/>; a Q6_K-shaped node whose data are not a Q6_K weight's stays as it is, and the
    /// reason is logged) and the session created from those bytes, with <see cref="Gguf2QnnKernels.Domain"/> among the options'
    /// <see cref="RuntimeOptions.CustomOpDomains"/> and the folder of <paramref name="modelPath"/> as the place of the
    /// external weights. With <see cref="CpuKernels.Auto"/>, a model gguf2qnn's kernels cannot load (their factory
    /// refuses a weight) opens with ONNX Runtime's kernels instead, and the reason is logged.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException"><see cref="CpuKernels.Gguf2Qnn"/> on a CPU without AVX-512BW.</exception>
    private static (InferenceSession Session, KernelChoice Kernels) CreateSession(string modelPath, RuntimeOptions options)
    {
        static InferenceSession FromPath(string modelPath, RuntimeOptions options)
        {
            using var sessionOptions = options.ToSessionOptions();
            return new InferenceSession(modelPath, sessionOptions);
        }

        bool ours = options.Kernels switch
        {
            CpuKernels.OnnxRuntime => false,
            CpuKernels.Gguf2Qnn => Q4_0MatMul.IsSupported ? true : throw new PlatformNotSupportedException(
                "gguf2qnn's Q4_0 and Q6_K kernels need an x86-64 CPU with AVX-512BW, which this one lacks; use --kernels auto or onnxruntime."),
            _ => Q4_0MatMul.IsSupported,
        };
        if (!ours)
        {
            return (FromPath(modelPath, options), new KernelChoice(0, 0, options.Kernels == CpuKernels.OnnxRuntime
                ? "ONNX Runtime's (as asked)"
                : "ONNX Runtime's (gguf2qnn's Q4_0 and Q6_K kernels need AVX-512BW, which this CPU lacks)"));
        }

        ModelProto model;
        using (var file = File.OpenRead(modelPath))
        {
            model = ModelProto.Parser.ParseFrom(file);
        }

        string folder = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        var rewritten = Q4_0KernelRewriter.Rewrite(model);
        var q6 = Q6_KKernelRewriter.Rewrite(model, folder);
        foreach (var node in q6.LeftAlone)
        {
            options.Log?.Invoke($"kernels: Q6_K-shaped MatMulNBits node {node}; ONNX Runtime's kernel runs it");
        }

        if (rewritten.Nodes == 0 && q6.Nodes == 0)
        {
            // The rewriters take only accuracy_level 4 (int8 activations); convert --accuracy-level 0 writes Q4_0 at level 0.
            return (FromPath(modelPath, options),
                new KernelChoice(0, 0, q6.LeftAlone.Count > 0
                    ? $"ONNX Runtime's (the model has no Q4_0 MatMulNBits node at accuracy_level 4, and the data of its {q6.LeftAlone.Count} Q6_K-shaped node(s) are not a Q6_K weight's that gguf2qnn's kernel can take; --verbose says why)"
                    : "ONNX Runtime's (the model has no Q4_0 or Q6_K MatMulNBits node at accuracy_level 4, the forms gguf2qnn's kernels run)"));
        }

        var withKernels = options with
        {
            CustomOpDomains = [.. options.CustomOpDomains, Gguf2QnnKernels.Domain],
            ConfigEntries = new Dictionary<string, string>(options.ConfigEntries) { ["session.model_external_initializers_file_folder_path"] = folder },
        };
        InferenceSession session;
        try
        {
            using var sessionOptions = withKernels.ToSessionOptions();
            session = new InferenceSession(model.ToByteArray(), sessionOptions);
        }
        catch (OnnxRuntimeException e) when (options.Kernels == CpuKernels.Auto)
        {
            // E.g. an int4 model from another tool whose scales are not binary16 numbers: ONNX Runtime's kernels take
            // any model that loads, so auto never fails where they would not. A model that is broken for ORT too
            // fails again below with ORT's own error.
            return (FromPath(modelPath, options),
                new KernelChoice(0, 0, $"ONNX Runtime's (gguf2qnn's could not take this model: {e.Message.ReplaceLineEndings(" ")})"));
        }

        return (session, new KernelChoice(rewritten.Nodes + q6.Nodes, q6.Nodes, $"gguf2qnn's {Q4_0KernelRewriter.Domain}.{Q4_0KernelRewriter.OpType} (AVX-512BW) for {rewritten.Nodes} Q4_0 MatMulNBits nodes ({rewritten.BiasAdds} bias Adds, {rewritten.Splits} Splits and {rewritten.SwiGlus} SwiGLUs fused into them) and {Q4_0KernelRewriter.Domain}.{Q6_KKernelRewriter.OpType} for {q6.Nodes} Q6_K MatMulNBits nodes; ONNX Runtime's for the rest"));
    }

    /// <summary>What <see cref="CreateSession"/> chose: the nodes gguf2qnn's kernels run (all, and the Q6_K ones), and the
    /// line that says so.</summary>
    private readonly record struct KernelChoice(int Nodes, int Q6_KNodes, string Description);

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
        using var cache = new KvCache(this, tokens.Count);
        cache.Step(tokens.Take(prefillLength).ToArray(), lastOnly: false);
        CopyRows(cache.Logits, result, 0, prefillLength);
        var next = new int[1];
        for (int i = prefillLength; i < tokens.Count; i++)
        {
            next[0] = tokens[i];
            cache.Step(next, lastOnly: false);
            CopyRows(cache.Logits, result, i, 1);
        }

        return result;
    }

    /// <summary>
    /// Generates tokens after <paramref name="prompt"/>, streaming each id as it is picked: one prefill pass (lm head
    /// on the last position only where the graph has <c>num_logits_to_keep</c>), then one decode step per token
    /// through the KV cache (see <see cref="SharesKvBuffers"/>). Stops at a stop token (not yielded), after
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

    /// <summary>
    /// Stops ONNX Runtime's profiler (<see cref="RuntimeOptions.ProfilePathPrefix"/>) and returns the path of the
    /// Chrome-trace JSON it wrote (<c>PREFIX_&lt;date&gt;.json</c>); null when profiling is off.
    /// </summary>
    public string? EndProfiling()
    {
        if (!_profiling) return null;
        _profiling = false;
        return Path.GetFullPath(_session.EndProfiling());
    }

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

        using var cache = new KvCache(this, (int)Math.Min(ContextLength, (long)prompt.Count + maxNewTokens));
        cache.Step(prompt, lastOnly: true);
        var next = new int[1];
        for (int produced = 0; ; produced++)
        {
            int token = sampler.Sample(cache.LastLogits);
            if (stops.Contains(token))
            {
                yield break;
            }

            yield return token;
            if (produced + 1 >= maxNewTokens || cache.Length >= ContextLength)
            {
                yield break;
            }

            next[0] = token;
            cache.Step(next, lastOnly: true);
        }
    }

    private void CopyRows(ReadOnlySpan<float> all, float[][] result, int first, int rows)
    {
        for (int r = 0; r < rows; r++)
        {
            result[first + r] = all.Slice(r * VocabSize, VocabSize).ToArray();
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
    /// ONNX Runtime pass over the new tokens at the next positions.
    /// </summary>
    public sealed class DecodeSequence : IDisposable
    {
        private readonly KvCache _cache;

        internal DecodeSequence(OnnxCausalLm lm) => _cache = new KvCache(lm, 256);

        /// <summary>Positions in the cache (tokens appended so far).</summary>
        public int Length => _cache.Length;

        /// <summary>The logits of the last position appended (length <see cref="VocabSize"/>); empty before the first append.</summary>
        public ReadOnlySpan<float> LastLogits => _cache.Length == 0 ? [] : _cache.LastLogits;

        /// <summary>
        /// Runs <paramref name="tokens"/> at positions <see cref="Length"/>… (a prefill when there are several, a decode
        /// step for one) and returns their logits, [count, vocab] row-major, valid until the next call or disposal.
        /// With <paramref name="lastLogitsOnly"/> and a graph that has <see cref="HasLastLogitsInput"/>, only the last
        /// position's logits are computed and returned ([1, vocab]); <see cref="LastLogits"/> is the same either way.
        /// </summary>
        /// <exception cref="ArgumentException">No tokens, an id outside the vocabulary, or the context would overflow.</exception>
        public ReadOnlySpan<float> Append(IReadOnlyList<int> tokens, bool lastLogitsOnly = false)
        {
            _cache.Step(tokens, lastLogitsOnly);
            return _cache.Logits;
        }

        /// <inheritdoc />
        public void Dispose() => _cache.Dispose();
    }

    /// <summary>
    /// The KV cache of one sequence and the logits of its last pass. With <see cref="SharesKvBuffers"/> each layer's
    /// key and value live in one buffer [1, kv_heads, capacity, head_size] bound (IOBinding) as both
    /// <c>past_key_values.*</c> and <c>present.*</c>: GroupQueryAttention sees the same address for both and writes only
    /// the new positions in place (its past_present_share_buffer mode), so no step copies or reallocates the cache;
    /// when the capacity is reached the buffers are doubled once (one copy). Otherwise each pass's
    /// <c>present.*</c> OrtValues are fed back, as they are, as the next pass's <c>past_key_values.*</c>.
    /// </summary>
    private sealed class KvCache : IDisposable
    {
        private readonly OnnxCausalLm _lm;
        private readonly OrtValue[] _empty;
        private IDisposableReadOnlyCollection<OrtValue>? _outputs;
        private OrtValue[]? _buffers;
        private int _capacity;
        private OrtValue? _logits;

        public KvCache(OnnxCausalLm lm, int capacity)
        {
            _lm = lm;
            _capacity = Math.Max(1, capacity);
            _empty = lm.SharesKvBuffers ? [] : lm.CacheValues(0);
        }

        public int Length { get; private set; }

        private int Rows { get; set; }

        public ReadOnlySpan<float> Logits => (_logits ?? _outputs![0]).GetTensorDataAsSpan<float>();

        public ReadOnlySpan<float> LastLogits => Logits.Slice((Rows - 1) * _lm.VocabSize, _lm.VocabSize);

        public void Step(IReadOnlyList<int> tokens, bool lastOnly)
        {
            _lm.CheckTokens(tokens, Length);
            int total = Length + tokens.Count;
            var ids = new long[tokens.Count];
            for (int i = 0; i < ids.Length; i++)
            {
                ids[i] = tokens[i];
            }

            var mask = new long[total];
            Array.Fill(mask, 1L);
            using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [1, ids.Length]);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [1, mask.Length]);
            bool keepOne = lastOnly && _lm._keepOne is not null && tokens.Count > 1;
            if (_lm.SharesKvBuffers)
            {
                EnsureCapacity(total);
                using var binding = _lm._session.CreateIoBinding();
                binding.BindInput(OnnxNames.InputIds, idsValue);
                binding.BindInput(OnnxNames.AttentionMask, maskValue);
                if (keepOne)
                {
                    binding.BindInput(OnnxNames.NumLogitsToKeep, _lm._keepOne!);
                }

                binding.BindOutputToDevice(OnnxNames.Logits, OrtMemoryInfo.DefaultInstance); // bound first: outputs[0] below
                for (int i = 0; i < _buffers!.Length; i++)
                {
                    binding.BindInput(_lm._inputNames[2 + i], _buffers[i]);
                    binding.BindOutput(_lm._outputNames[1 + i], _buffers[i]);
                }

                _lm._session.RunWithBinding(_lm._runOptions, binding);
                // Not `using`: disposing the collection would dispose the logits kept below as well.
                var outputs = binding.GetOutputValues();
                for (int i = 1; i < outputs.Count; i++)
                {
                    outputs[i].Dispose(); // new wrappers of the bound cache buffers; the buffers stay ours
                }

                _logits?.Dispose();
                _logits = outputs[0];
            }
            else
            {
                var names = keepOne ? _lm._lastOnlyInputNames : _lm._inputNames;
                var inputs = new OrtValue[names.Length];
                inputs[0] = idsValue;
                inputs[1] = maskValue;
                for (int i = 0; i < 2 * _lm.LayerCount; i++)
                {
                    inputs[2 + i] = _outputs is null ? _empty[i] : _outputs[1 + i];
                }

                if (keepOne)
                {
                    inputs[^1] = _lm._keepOne!;
                }

                var step = _lm._session.Run(_lm._runOptions, names, inputs, _lm._outputNames);
                _outputs?.Dispose();
                _outputs = step;
            }

            Length = total;
            Rows = Logits.Length / _lm.VocabSize;
        }

        public void Dispose()
        {
            _outputs?.Dispose();
            _outputs = null;
            _logits?.Dispose();
            _logits = null;
            DisposeAll(_empty);
            if (_buffers is not null)
            {
                DisposeAll(_buffers);
                _buffers = null;
            }
        }

        // Allocates the shared buffers, or doubles them (keeping the first Length positions of every head) when
        // `total` positions would not fit.
        private void EnsureCapacity(int total)
        {
            if (_buffers is not null && total <= _capacity)
            {
                return;
            }

            int capacity = Math.Max(total, _buffers is null ? _capacity : Math.Min(_lm.ContextLength, Math.Max(total, 2 * _capacity)));
            var grown = _lm.CacheValues(capacity);
            if (_buffers is not null)
            {
                int headSize = _lm.HeadSize;
                for (int i = 0; i < grown.Length; i++)
                {
                    var src = _buffers[i].GetTensorDataAsSpan<float>();
                    var dst = grown[i].GetTensorMutableDataAsSpan<float>();
                    for (int h = 0; h < _lm.KvHeadCount; h++)
                    {
                        src.Slice(h * _capacity * headSize, Length * headSize).CopyTo(dst.Slice(h * capacity * headSize));
                    }
                }

                DisposeAll(_buffers);
            }

            _buffers = grown;
            _capacity = capacity;
        }
    }

    // One float32 tensor [1, kv_heads, positions, head_size] per past/present name (zero-filled when positions > 0).
    private OrtValue[] CacheValues(int positions)
    {
        var values = new OrtValue[2 * LayerCount];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [1, KvHeadCount, positions, HeadSize]);
            if (positions > 0)
            {
                values[i].GetTensorMutableDataAsSpan<float>().Clear();
            }
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
}
