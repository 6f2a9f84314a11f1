using Gguf2Qnn.Gguf;

namespace Gguf2Qnn.Architectures;

/// <summary>
/// The hyper-parameters of a decoder-only GGUF model, read once from its <c>{arch}.*</c> keys (GGUF spec, "LLM"
/// section) and tensor shapes, with llama.cpp's defaults where a key is optional.
/// </summary>
public sealed record ModelConfig
{
    /// <summary><c>general.architecture</c> (a name in <see cref="ArchitectureFamily.Supported"/>).</summary>
    public required string Architecture { get; init; }

    /// <summary><c>{arch}.block_count</c>: decoder layers.</summary>
    public required int BlockCount { get; init; }

    /// <summary><c>{arch}.embedding_length</c>: hidden size.</summary>
    public required int EmbeddingLength { get; init; }

    /// <summary><c>{arch}.feed_forward_length</c>: MLP inner size.</summary>
    public required int FeedForwardLength { get; init; }

    /// <summary><c>{arch}.attention.head_count</c>: query heads.</summary>
    public required int HeadCount { get; init; }

    /// <summary><c>{arch}.attention.head_count_kv</c> (default: <see cref="HeadCount"/>): key/value heads.</summary>
    public required int HeadCountKv { get; init; }

    /// <summary><c>{arch}.attention.key_length</c> (default: embedding_length / head_count): elements per head.</summary>
    public required int HeadDim { get; init; }

    /// <summary><c>{arch}.context_length</c>: positions the model was trained for.</summary>
    public required int ContextLength { get; init; }

    /// <summary><c>{arch}.attention.layer_norm_rms_epsilon</c>, exactly as stored (float32).</summary>
    public required float RmsEpsilon { get; init; }

    /// <summary><c>{arch}.rope.freq_base</c> (default 10000).</summary>
    public required float RopeFreqBase { get; init; }

    /// <summary><c>{arch}.rope.dimension_count</c> (default: <see cref="HeadDim"/>): leading head dimensions rotated.</summary>
    public required int RopeDimensionCount { get; init; }

    /// <summary>Rope position scale: 1 / <c>{arch}.rope.scaling.factor</c> when <c>rope.scaling.type</c> is linear, else 1.</summary>
    public float RopeFreqScale { get; init; } = 1f;

    /// <summary>
    /// <c>rope_freqs.weight</c> when present (Llama 3.x): pair i's angle is divided by factor i, as ggml does;
    /// null otherwise. Length <see cref="RopeDimensionCount"/> / 2.
    /// </summary>
    public IReadOnlyList<float>? RopeFrequencyFactors { get; init; }

    /// <summary>Dimension pairing of the rotary embedding (from the architecture family).</summary>
    public required RopeStyle RopeStyle { get; init; }

    /// <summary>True when <c>blk.{i}.attn_{q,k,v}.bias</c> exist.</summary>
    public required bool HasQkvBias { get; init; }

    /// <summary>True when <c>blk.{i}.attn_q_norm.weight</c> and <c>attn_k_norm.weight</c> exist: Q and K are RMS-normalized per
    /// head (over head_dim, with the layer's RMS epsilon) before rope, as llama.cpp's qwen3 graph does.</summary>
    public bool HasQkNorm { get; init; }

    /// <summary>True when layers carry one fused <c>blk.{i}.attn_qkv.weight</c> (rows Q, then K, then V) instead of
    /// attn_q/attn_k/attn_v (phi3).</summary>
    public bool FusedQkv { get; init; }

    /// <summary>True when there is no <c>blk.{i}.ffn_gate.weight</c> and <c>ffn_up.weight</c> has 2·feed_forward_length
    /// outputs: the first half is the gate, the second the up projection (llama.cpp's swiglu on the fused tensor; phi3).</summary>
    public bool FusedGateUp { get; init; }

    /// <summary>True when there is no <c>output.weight</c>: the lm head reuses <c>token_embd.weight</c>.</summary>
    public required bool TiedEmbeddings { get; init; }

    /// <summary>Vocabulary size: ne[1] of <c>token_embd.weight</c>.</summary>
    public required int VocabSize { get; init; }

    /// <summary><c>{arch}.embedding_scale</c> (granite): the token embeddings are multiplied by it; 0 when absent (no scaling,
    /// as llama.cpp skips a zero scale).</summary>
    public float EmbeddingScale { get; init; }

    /// <summary><c>{arch}.residual_scale</c> (granite): each attention and MLP block output is multiplied by it before it
    /// is added to the residual stream; 0 when absent (no scaling).</summary>
    public float ResidualScale { get; init; }

    /// <summary><c>{arch}.attention.scale</c> (granite): the factor on Q·Kᵀ; 0 when absent, meaning 1/√head_dim.</summary>
    public float AttentionScale { get; init; }

    /// <summary><c>{arch}.logit_scale</c> (granite): the logits are divided by it; 1 when absent.</summary>
    public float LogitScale { get; init; } = 1f;

    /// <summary>True when each layer normalizes its attention output with <c>blk.{i}.post_attention_norm.weight</c> and its MLP
    /// output with <c>blk.{i}.post_ffw_norm.weight</c> (RMSNorm) before the residual add (gemma2 "sandwich" norms).</summary>
    public bool PostNorms { get; init; }

    /// <summary>True when the gated MLP uses GELU (tanh approximation, ggml_gelu) instead of SiLU: gelu(gate)·up (gemma2).</summary>
    public bool GeluMlp { get; init; }

    /// <summary><c>{arch}.attn_logit_softcapping</c> (gemma2): scaled Q·Kᵀ scores s become c·tanh(s / c) before softmax; 0 for none.</summary>
    public float AttentionLogitSoftcap { get; init; }

    /// <summary><c>{arch}.final_logit_softcapping</c> (gemma2): logits z become c·tanh(z / c); 0 for none.</summary>
    public float FinalLogitSoftcap { get; init; }

    /// <summary><c>{arch}.attention.sliding_window</c>: in the layers <see cref="IsSlidingWindowLayer"/> selects, query position p
    /// sees keys at positions p − window + 1 … p (llama.cpp LLAMA_SWA_TYPE_STANDARD); 0 for none.</summary>
    public int SlidingWindow { get; init; }

    /// <summary>Every how many layers the pattern of sliding-window layers repeats: layer i is windowed when
    /// i mod pattern &lt; pattern − 1 (llama.cpp <c>set_swa_pattern</c>; gemma2: 2, the even layers). 0 when no layer is.</summary>
    public int SlidingWindowPattern { get; init; }

    /// <summary>The rope base of the sliding-window layers when it differs from <see cref="RopeFreqBase"/> (gemma3: 10000,
    /// with freq scale 1 and no frequency factors there); null when every layer uses the same rope.</summary>
    public float? SlidingWindowRopeFreqBase { get; init; }

    /// <summary>True when layer <paramref name="layer"/> attends through the sliding window.</summary>
    public bool IsSlidingWindowLayer(int layer) =>
        SlidingWindow > 0 && SlidingWindowPattern > 0 && layer % SlidingWindowPattern < SlidingWindowPattern - 1;

    /// <summary>The factor on Q·Kᵀ: <see cref="AttentionScale"/> when set, else 1/√<see cref="HeadDim"/>.</summary>
    public float QueryKeyScale => AttentionScale != 0f ? AttentionScale : 1.0f / MathF.Sqrt(HeadDim);

    /// <summary>True when the layers are the plain pre-norm decoder of llama/qwen2 (no architecture-specific extras such as
    /// Q/K norms or granite's scales), which every target builds; false when a target must build this architecture's own steps.</summary>
    public bool IsPlainDecoder => !HasQkNorm && !FusedQkv && !FusedGateUp
        && EmbeddingScale == 0f && ResidualScale == 0f && AttentionScale == 0f && LogitScale == 1f
        && !PostNorms && !GeluMlp && AttentionLogitSoftcap == 0f && FinalLogitSoftcap == 0f && SlidingWindow == 0;

    /// <summary>Query heads per KV head.</summary>
    public int GroupSize => HeadCount / HeadCountKv;

    /// <summary>Reads the configuration of <paramref name="gguf"/>.</summary>
    /// <exception cref="NotSupportedException">The architecture or one of its features is not supported (the message names it).</exception>
    /// <exception cref="GgufFormatException">A required key or tensor is missing, or the values are inconsistent.</exception>
    public static ModelConfig FromGguf(IGgufSource gguf)
    {
        ArgumentNullException.ThrowIfNull(gguf);
        var family = ArchitectureFamily.ForArchitecture(gguf.Architecture);
        string arch = family.Name;

        int blocks = RequirePositive(gguf, GgufKeys.BlockCount(arch));
        int embd = RequirePositive(gguf, GgufKeys.EmbeddingLength(arch));
        int ffn = RequirePositive(gguf, GgufKeys.FeedForwardLength(arch));
        int heads = RequirePositive(gguf, GgufKeys.HeadCount(arch));
        int kvHeads = OptionalPositive(gguf, GgufKeys.HeadCountKv(arch), heads);
        int headDim = OptionalPositive(gguf, GgufKeys.KeyLength(arch), embd / heads);
        int valueDim = OptionalPositive(gguf, GgufKeys.ValueLength(arch), headDim);
        int context = RequirePositive(gguf, GgufKeys.ContextLength(arch));
        float eps = (float)gguf.GetDouble(GgufKeys.RmsEpsilon(arch));
        float freqBase = gguf.TryGetDouble(GgufKeys.RopeFreqBase(arch), out double b) ? (float)b : 10000f;
        int ropeDims = OptionalPositive(gguf, GgufKeys.RopeDimensionCount(arch), headDim);

        if (heads % kvHeads != 0)
        {
            throw Inconsistent(gguf, GgufKeys.HeadCountKv(arch), $"head_count {heads} is not a multiple of head_count_kv {kvHeads}");
        }

        if (valueDim != headDim)
        {
            throw new NotSupportedException($"{gguf.Path}: value_length {valueDim} differs from key_length {headDim}.");
        }

        if (ropeDims > headDim || ropeDims % 2 != 0)
        {
            throw Inconsistent(gguf, GgufKeys.RopeDimensionCount(arch), $"rope dimension count {ropeDims} must be even and at most the head size {headDim}");
        }

        float freqScale = 1f;
        if (gguf.TryGetString(GgufKeys.RopeScalingType(arch), out string scaling) && scaling != "none")
        {
            if (scaling != "linear")
            {
                throw new NotSupportedException($"{gguf.Path}: rope scaling '{scaling}' is not supported (none and linear are).");
            }

            double factor = gguf.GetDouble(GgufKeys.RopeScalingFactor(arch));
            freqScale = factor > 0 ? (float)(1.0 / factor) : 1f;
        }

        IReadOnlyList<float>? freqFactors = null;
        if (gguf.FindTensor(GgufTensorNames.RopeFrequencies) is { } rf)
        {
            if (rf.ElementCount != ropeDims / 2)
            {
                throw Inconsistent(gguf, rf.Name, $"has {rf.ElementCount} factors; rope needs {ropeDims / 2}");
            }

            freqFactors = Array.AsReadOnly(gguf.DequantizeTensor(rf));
        }

        var embedding = gguf.GetTensor(GgufTensorNames.TokenEmbedding);
        if (embedding.Dimensions.Length != 2 || embedding.Dimensions[0] != embd)
        {
            throw Inconsistent(gguf, embedding.Name, $"shape {embedding.ShapeText} does not start with the embedding length {embd}");
        }

        bool hasBias = gguf.FindTensor(GgufTensorNames.AttnQBias(0)) is not null;
        var config = new ModelConfig
        {
            Architecture = arch,
            BlockCount = blocks,
            EmbeddingLength = embd,
            FeedForwardLength = ffn,
            HeadCount = heads,
            HeadCountKv = kvHeads,
            HeadDim = headDim,
            ContextLength = context,
            RmsEpsilon = eps,
            RopeFreqBase = freqBase,
            RopeDimensionCount = ropeDims,
            RopeFreqScale = freqScale,
            RopeFrequencyFactors = freqFactors,
            RopeStyle = family.RopeStyle,
            HasQkvBias = hasBias,
            FusedQkv = gguf.FindTensor(GgufTensorNames.AttnQkv(0)) is not null,
            FusedGateUp = gguf.FindTensor(GgufTensorNames.FfnGate(0)) is null && gguf.FindTensor(GgufTensorNames.FfnUp(0)) is { } up && up.Dimensions.Length == 2 && up.Dimensions[1] == 2L * ffn,
            HasQkNorm = gguf.FindTensor(GgufTensorNames.AttnQNorm(0)) is not null && gguf.FindTensor(GgufTensorNames.AttnKNorm(0)) is not null,
            TiedEmbeddings = gguf.FindTensor(GgufTensorNames.Output) is null,
            VocabSize = checked((int)embedding.Dimensions[1]),
        };
        config = family.Configure(gguf, config);
        family.Validate(gguf, config);
        return config;
    }

    private static int RequirePositive(IGgufSource gguf, string key)
    {
        long v = gguf.GetInt64(key);
        return v is > 0 and <= int.MaxValue ? (int)v : throw Inconsistent(gguf, key, $"value {v} is not a positive 32-bit count");
    }

    private static int OptionalPositive(IGgufSource gguf, string key, int fallback) =>
        gguf.TryGetValue(key, out _) ? RequirePositive(gguf, key) : fallback;

    private static GgufFormatException Inconsistent(IGgufSource gguf, string field, string message) =>
        new($"{gguf.Path}: {field}: {message}.", -1, field);
}
