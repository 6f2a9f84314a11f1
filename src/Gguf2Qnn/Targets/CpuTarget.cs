using Gguf2Qnn.Architectures;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Onnx;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Targets;

/// <summary>
/// The decoder graph for ONNX Runtime's CPU execution provider: dynamic batch and sequence, ONNX Runtime GenAI
/// input/output names, com.microsoft fused ops.
/// </summary>
/// <remarks>
/// <para>Inputs: <c>input_ids</c> int64 [batch_size, sequence_length]; <c>attention_mask</c> int64
/// [batch_size, total_sequence_length]; <c>past_key_values.{i}.key|value</c> float32
/// [batch_size, kv_heads, past_sequence_length, head_size]; optional <c>num_logits_to_keep</c> int64 [1] (default 0:
/// logits for every position; n: for the last n). Outputs: <c>logits</c> float32
/// [batch_size, sequence_length (or num_logits_to_keep), vocab]; <c>present.{i}.key|value</c> float32
/// [batch_size, kv_heads, total_sequence_length, head_size].</para>
/// <para>Per layer (llama.cpp <c>llm_build_llama</c> / <c>llm_build_qwen2</c> order): RMSNorm
/// (SimplifiedLayerNormalization, or SkipSimplifiedLayerNormalization which also emits the residual sum) → Q/K/V
/// projections (+ bias) → GroupQueryAttention (rotary inside, do_rotary = 1, rotary_interleaved = 1 for
/// <see cref="RopeStyle.Normal"/>, 0 for <see cref="RopeStyle.Neox"/>; seqlens_k = sum(attention_mask) − 1 and
/// total_sequence_length as int32) → o_proj → residual + RMSNorm → SwiGLU MLP (silu(gate)·up → down) → residual.
/// Then the final RMSNorm and the lm head (output.weight, or token_embd.weight when tied).</para>
/// <para>ORT 1.31.1 CPU constraints handled here: GroupQueryAttention's own rotary needs head_size and rotary_dim to be
/// multiples of 16 (else Q and K go through com.microsoft RotaryEmbedding with position_ids from the attention mask),
/// and GroupQueryAttention needs head_size to be a multiple of 8 (else an explicit MatMul/Softmax attention with a
/// Concat KV cache is built). Linear layers are MatMul on float32 [K, N], Cast + MatMul for float16, or
/// MatMulNBits for re-packed Q4_0/Q8_0; <see cref="ConvertOptions.EmulateLlamaCppActivations"/> inserts llama.cpp's
/// activation rounding in front of them.</para>
/// </remarks>
public static class CpuTarget
{
    /// <summary>
    /// True when ORT's CPU GroupQueryAttention accepts this head size (its helper requires a multiple of 8); other
    /// models get the explicit attention subgraph (MatMul, Softmax, Concat for the cache).
    /// </summary>
    public static bool SupportsGroupQueryAttention(ModelConfig config) => config.HeadDim % 8 == 0;

    /// <summary>
    /// True when every layer's cache goes through GroupQueryAttention (not the explicit Concat attention), so past and
    /// present may be one preallocated buffer: the graph then carries <see cref="Runtime.OnnxCausalLm.KvCacheMetadataKey"/>
    /// and genai_config.json sets <c>search.past_present_share_buffer</c>.
    /// </summary>
    internal static bool SharesKvBuffers(ModelConfig config, ConvertOptions options) =>
        !options.ForceExplicitAttention && SupportsGroupQueryAttention(config);

    internal static void Build(IGgufSource gguf, ModelConfig config, GraphBuilder g, WeightWriter weights, ConvertOptions options, int contextLength) =>
        new Builder(gguf, config, g, weights, contextLength, options.AccuracyLevel,
            !SharesKvBuffers(config, options), options.EmulateLlamaCppActivations).Build();

    // The embedding lookup node "embed_tokens" for ids int64 [batch, sequence]: output float32 [batch, sequence, hidden].
    internal static string AddEmbeddingLookup(GraphBuilder g, EmbeddingWeight e, string ids)
    {
        if (e.Scales is null)
        {
            return g.Add("Gather", "embed_tokens", [e.Data, ids], OnnxDomains.Onnx, Attr.Int("axis", 0));
        }

        return g.Add("GatherBlockQuantized", "embed_tokens", [e.Data, ids, e.Scales], OnnxDomains.Microsoft,
            Attr.Int("bits", e.Bits), Attr.Int("block_size", MatMulNBitsPacking.BlockSize),
            Attr.Int("gather_axis", 0), Attr.Int("quantize_axis", 1));
    }

    private sealed class Builder(
        IGgufSource gguf, ModelConfig c, GraphBuilder g, WeightWriter weights, int contextLength, int accuracyLevel, bool explicitAttention, bool emulateActivations)
    {
        private const string Batch = "batch_size";
        private const string Sequence = "sequence_length";
        private const string Total = "total_sequence_length";
        private const string Past = "past_sequence_length";
        private const string LogitsSequence = "logits_sequence_length";

        private readonly Dictionary<(string, ActivationFormat), string> _roundedActivations = [];
        private readonly Dictionary<(string, int), string> _blockSums = [];

        private string _seqlensK = "";
        private string _totalLength = "";
        private string _cos = "";
        private string _sin = "";
        private string _cosLocal = "";
        private string _sinLocal = "";
        private string _positionIds = "";
        private string _attentionBias = "";
        private string _slidingAttentionBias = "";

        // GroupQueryAttention's built-in rotary (CPU kernel, ORT group_query_attention_helper.h) needs head_size and
        // rotary_dim to be multiples of 16; otherwise rotate Q and K with com.microsoft RotaryEmbedding first.
        private bool FusedRotary => !explicitAttention && c.HeadDim % 16 == 0 && c.RopeDimensionCount % 16 == 0;

        public void Build()
        {
            g.AddInput(OnnxNames.InputIds, DataType.Int64, Batch, Sequence);
            g.AddInput(OnnxNames.AttentionMask, DataType.Int64, Batch, Total);
            for (int i = 0; i < c.BlockCount; i++)
            {
                g.AddInput(OnnxNames.PastKey(i), DataType.Float, Batch, (long)c.HeadCountKv, Past, (long)c.HeadDim);
                g.AddInput(OnnxNames.PastValue(i), DataType.Float, Batch, (long)c.HeadCountKv, Past, (long)c.HeadDim);
            }

            RotaryTables();
            if (!FusedRotary)
            {
                PositionIds();
            }

            if (explicitAttention)
            {
                AttentionBias();
            }
            else
            {
                AttentionLengths();
            }

            string hidden = Embedding();

            // The residual stream: `residual` is the running sum, `pending` the block output not yet added to it.
            string residual = hidden;
            string? pending = null;
            for (int i = 0; i < c.BlockCount; i++)
            {
                string norm = OnnxNames.Layer(i, "attn_norm");
                string x = RmsNorm(norm, GgufTensorNames.AttnNorm(i), ref residual, pending);
                string attention = ResidualScaled(OnnxNames.Layer(i, "attn/residual_scale"), Attention(i, x));
                if (c.PostNorms)
                {
                    attention = Norm(OnnxNames.Layer(i, "attn_post_norm"), GgufTensorNames.AttnPostNorm(i), attention);
                }

                string ffnNorm = OnnxNames.Layer(i, "ffn_norm");
                string y = RmsNorm(ffnNorm, GgufTensorNames.FfnNorm(i), ref residual, attention);
                pending = ResidualScaled(OnnxNames.Layer(i, "mlp/residual_scale"), Mlp(i, y));
                if (c.PostNorms)
                {
                    pending = Norm(OnnxNames.Layer(i, "ffn_post_norm"), GgufTensorNames.FfnPostNorm(i), pending);
                }

            }

            string final = LastPositions(RmsNorm("final_norm", GgufTensorNames.OutputNorm, ref residual, pending));
            var head = gguf.FindTensor(GgufTensorNames.Output) ?? gguf.GetTensor(GgufTensorNames.TokenEmbedding);
            if (c.LogitScale == 1f && c.FinalLogitSoftcap == 0f)
            {
                Linear("lm_head", head, final, c.EmbeddingLength, c.VocabSize, OnnxNames.Logits);
            }
            else if (c.FinalLogitSoftcap == 0f)
            {
                // llama.cpp (granite) scales the logits by 1 / logit_scale, computed in float32.
                string inverse = g.AddInitializer<float>("lm_head/logit_scale_inverse", DataType.Float, [], [1.0f / c.LogitScale]);
                g.AddNode("Mul", "lm_head/logit_scale", [Linear("lm_head", head, final, c.EmbeddingLength, c.VocabSize), inverse], [OnnxNames.Logits]);
            }
            else
            {
                // gemma2: logits z → cap · tanh(z / cap), as llama.cpp scales by 1/cap, tanh, scales by cap.
                string logits = Linear("lm_head", head, final, c.EmbeddingLength, c.VocabSize);
                string inverse = g.AddInitializer<float>("lm_head/softcap_inverse", DataType.Float, [], [1.0f / c.FinalLogitSoftcap]);
                string cap = g.AddInitializer<float>("lm_head/softcap", DataType.Float, [], [c.FinalLogitSoftcap]);
                string tanh = g.Add("Tanh", "lm_head/softcap_tanh", [g.Add("Mul", "lm_head/softcap_divide", [logits, inverse])]);
                g.AddNode("Mul", "lm_head/softcap_multiply", [tanh, cap], [OnnxNames.Logits]);
            }

            if (!explicitAttention)
            {
                g.Model.MetadataProps.Add(new Onnx.Proto.StringStringEntryProto { Key = Runtime.OnnxCausalLm.KvCacheMetadataKey, Value = Runtime.OnnxCausalLm.KvCacheSharedBuffer });
            }

            g.AddOutput(OnnxNames.Logits, DataType.Float, Batch, LogitsSequence, (long)c.VocabSize);
            for (int i = 0; i < c.BlockCount; i++)
            {
                g.AddOutput(OnnxNames.PresentKey(i), DataType.Float, Batch, (long)c.HeadCountKv, Total, (long)c.HeadDim);
                g.AddOutput(OnnxNames.PresentValue(i), DataType.Float, Batch, (long)c.HeadCountKv, Total, (long)c.HeadDim);
            }
        }

        // The last num_logits_to_keep positions of the final hidden states [batch, sequence, hidden] (all of them for
        // the default 0: Slice from −0 = 0), so a generation prefill runs lm_head on one row instead of every row.
        private string LastPositions(string hidden)
        {
            string keep = g.AddInputWithDefault<long>(OnnxNames.NumLogitsToKeep, DataType.Int64, [1], [0L]);
            string start = g.Add("Neg", "logits_to_keep/start", [keep]);
            string end = g.AddInt64("logits_to_keep/end", [1], long.MaxValue);
            string axes = g.AddInt64("logits_to_keep/axes", [1], 1);
            return g.Add("Slice", "logits_to_keep/slice", [hidden, start, end, axes]);
        }

        // Token ids → hidden states float32 [batch, sequence, hidden]: GatherBlockQuantized over the 4/8-bit table when
        // the weight writer kept it quantized, else Gather over the float32 table.
        private string Embedding()
        {
            string embedded = AddEmbeddingLookup(g, weights.GatherEmbedding(gguf.GetTensor(GgufTensorNames.TokenEmbedding), "embed_tokens", c.EmbeddingLength, c.VocabSize), OnnxNames.InputIds);
            if (c.EmbeddingScale == 0f)
            {
                return embedded;
            }

            string scale = g.AddInitializer<float>("embed_tokens/scale", DataType.Float, [], [c.EmbeddingScale]);
            return g.Add("Mul", "embed_tokens/scaled", [embedded, scale]);
        }

        // A block output times residual_scale (granite) before it joins the residual stream; unchanged when the scale is 0.
        private string ResidualScaled(string node, string x)
        {
            if (c.ResidualScale == 0f)
            {
                return x;
            }

            string scale = g.AddInitializer<float>(node + "/scale", DataType.Float, [], [c.ResidualScale]);
            return g.Add("Mul", node, [x, scale]);
        }

        // seqlens_k = ReduceSum(attention_mask, axis 1) − 1 as int32 [batch]; total = attention_mask.shape[1] as int32 scalar.
        private void AttentionLengths()
        {
            string axes = g.AddInt64("attention/axes_1", [1], 1);
            string one = g.AddInt64("attention/one", [], 1);
            string sum = g.Add("ReduceSum", "attention/mask_sum", [OnnxNames.AttentionMask, axes], OnnxDomains.Onnx, Attr.Int("keepdims", 0));
            string minusOne = g.Add("Sub", "attention/mask_sum_minus_1", [sum, one]);
            _seqlensK = g.Add("Cast", "attention/seqlens_k", [minusOne], OnnxDomains.Onnx, Attr.Int("to", (long)DataType.Int32));
            string shape = g.Add("Shape", "attention/mask_shape", [OnnxNames.AttentionMask]);
            string index = g.AddInt64("attention/index_1", [], 1);
            string total = g.Add("Gather", "attention/total_length_i64", [shape, index], OnnxDomains.Onnx, Attr.Int("axis", 0));
            _totalLength = g.Add("Cast", "attention/total_sequence_length", [total], OnnxDomains.Onnx, Attr.Int("to", (long)DataType.Int32));
        }

        // position_ids int64 [batch, sequence] = the last sequence_length columns of cumsum(attention_mask) − 1, at least 0.
        private void PositionIds()
        {
            string axis = g.AddInt64("positions/axis_1", [], 1);
            string one = g.AddInt64("positions/one", [], 1);
            string zero = g.AddInt64("positions/zero", [], 0);
            string cumsum = g.Add("CumSum", "positions/mask_cumsum", [OnnxNames.AttentionMask, axis]);
            string minusOne = g.Add("Sub", "positions/cumsum_minus_1", [cumsum, one]);
            string clamped = g.Add("Max", "positions/clamp", [minusOne, zero]);
            string idsShape = g.Add("Shape", "positions/ids_shape", [OnnxNames.InputIds]);
            string seqIndex = g.AddInt64("positions/index_1", [1], 1);
            string seq = g.Add("Gather", "positions/sequence_length", [idsShape, seqIndex], OnnxDomains.Onnx, Attr.Int("axis", 0));
            string start = g.Add("Neg", "positions/start", [seq]);
            string end = g.AddInt64("positions/end", [1], long.MaxValue);
            string axes = g.AddInt64("positions/axes", [1], 1);
            _positionIds = g.Add("Slice", "positions/position_ids", [clamped, start, end, axes]);
        }

        private void RotaryTables()
        {
            var (cos, sin) = RotaryCache.Compute(c, contextLength);
            long[] dims = [contextLength, c.RopeDimensionCount / 2];
            _cos = g.AddInitializer<float>("rotary/cos_cache", DataType.Float, dims, cos);
            _sin = g.AddInitializer<float>("rotary/sin_cache", DataType.Float, dims, sin);
            _cosLocal = _cos;
            _sinLocal = _sin;
            if (c.SlidingWindowRopeFreqBase is { } localBase)
            {
                // gemma3: the sliding-window layers rotate with their own base, unscaled and without frequency factors.
                var (cosLocal, sinLocal) = RotaryCache.Compute(c with { RopeFreqBase = localBase, RopeFreqScale = 1f, RopeFrequencyFactors = null }, contextLength);
                _cosLocal = g.AddInitializer<float>("rotary/cos_cache_local", DataType.Float, dims, cosLocal);
                _sinLocal = g.AddInitializer<float>("rotary/sin_cache_local", DataType.Float, dims, sinLocal);
            }
        }

        // RMSNorm of x alone (gemma2's post-attention and post-MLP norms).
        private string Norm(string node, string tensorName, string x) => RmsNorm(node, tensorName, ref x, null);

        // RMSNorm of (residual + pending), updating residual to that sum; with no pending block output, of residual alone.
        private string RmsNorm(string node, string tensorName, ref string residual, string? pending)
        {
            string weight = weights.Vector(
                gguf.GetTensor(tensorName),
                OnnxNames.Initializer(node, "weight"),
                pending is null ? "SimplifiedLayerNormalization" : "SkipSimplifiedLayerNormalization",
                c.EmbeddingLength);
            var epsilon = Attr.Float("epsilon", c.RmsEpsilon);
            if (pending is null)
            {
                return g.Add("SimplifiedLayerNormalization", node, [residual, weight], OnnxDomains.Onnx,
                    epsilon, Attr.Int("axis", -1), Attr.Int("stash_type", 1));
            }

            var outputs = g.AddNode("SkipSimplifiedLayerNormalization", node, [pending, residual, weight],
                [OnnxNames.Output(node, 0), "", "", OnnxNames.Output(node, 3)], OnnxDomains.Microsoft, epsilon);
            residual = outputs[3];
            return outputs[0];
        }

        private string Attention(int layer, string x)
        {
            int qWidth = c.HeadCount * c.HeadDim;
            int kvWidth = c.HeadCountKv * c.HeadDim;
            string q, k, v;
            if (c.FusedQkv)
            {
                string qkv = Linear(OnnxNames.Layer(layer, "attn/qkv_proj"), gguf.GetTensor(GgufTensorNames.AttnQkv(layer)), x, c.EmbeddingLength, qWidth + (2 * kvWidth));
                (q, k, v) = SplitLast(OnnxNames.Layer(layer, "attn/qkv_split"), qkv, qWidth, kvWidth, kvWidth);
            }
            else if (FusedProjection(OnnxNames.Layer(layer, "attn/qkv_proj"),
                [GgufTensorNames.AttnQ(layer), GgufTensorNames.AttnK(layer), GgufTensorNames.AttnV(layer)],
                c.HasQkvBias ? [GgufTensorNames.AttnQBias(layer), GgufTensorNames.AttnKBias(layer), GgufTensorNames.AttnVBias(layer)] : null,
                x, [qWidth, kvWidth, kvWidth]) is { } qkvFused)
            {
                (q, k, v) = SplitLast(OnnxNames.Layer(layer, "attn/qkv_split"), qkvFused, qWidth, kvWidth, kvWidth);
            }
            else
            {
                q = Projection(OnnxNames.Layer(layer, "attn/q_proj"), GgufTensorNames.AttnQ(layer), GgufTensorNames.AttnQBias(layer), x, qWidth);
                k = Projection(OnnxNames.Layer(layer, "attn/k_proj"), GgufTensorNames.AttnK(layer), GgufTensorNames.AttnKBias(layer), x, kvWidth);
                v = Projection(OnnxNames.Layer(layer, "attn/v_proj"), GgufTensorNames.AttnV(layer), GgufTensorNames.AttnVBias(layer), x, kvWidth);
            }

            if (c.HasQkNorm)
            {
                q = HeadNorm(OnnxNames.Layer(layer, "attn/q_norm"), GgufTensorNames.AttnQNorm(layer), q, c.HeadCount);
                k = HeadNorm(OnnxNames.Layer(layer, "attn/k_norm"), GgufTensorNames.AttnKNorm(layer), k, c.HeadCountKv);
            }

            if (!FusedRotary)
            {
                q = Rotary(layer, OnnxNames.Layer(layer, "attn/q_rotary"), q, c.HeadCount);
                k = Rotary(layer, OnnxNames.Layer(layer, "attn/k_rotary"), k, c.HeadCountKv);
            }

            string attended = explicitAttention ? ExplicitAttention(layer, q, k, v) : GroupQueryAttention(layer, q, k, v);
            return Linear(OnnxNames.Layer(layer, "attn/o_proj"), gguf.GetTensor(GgufTensorNames.AttnOutput(layer)), attended, qWidth, c.EmbeddingLength);
        }

        // RMSNorm of each head of x [B, S, heads·D] over its D values with weight [D] (qwen3 attn_q_norm/attn_k_norm).
        private string HeadNorm(string node, string tensorName, string x, int heads)
        {
            string weight = weights.Vector(gguf.GetTensor(tensorName), OnnxNames.Initializer(node, "weight"), "SimplifiedLayerNormalization", c.HeadDim);
            string split = g.AddInt64(node + "/heads_shape", [4], 0, 0, heads, c.HeadDim);
            string merge = g.AddInt64(node + "/merge_shape", [3], 0, 0, heads * c.HeadDim);
            string normed = g.Add("SimplifiedLayerNormalization", node, [g.Add("Reshape", node + "/split", [x, split]), weight], OnnxDomains.Onnx,
                Attr.Float("epsilon", c.RmsEpsilon), Attr.Int("axis", -1), Attr.Int("stash_type", 1));
            return g.Add("Reshape", node + "/merge", [normed, merge]);
        }

        private string GroupQueryAttention(int layer, string q, string k, string v)
        {
            string node = OnnxNames.Layer(layer, "attn/gqa");
            var outputs = g.AddNode(
                "GroupQueryAttention",
                node,
                FusedRotary
                    ? [q, k, v, OnnxNames.PastKey(layer), OnnxNames.PastValue(layer), _seqlensK, _totalLength, Cos(layer), Sin(layer)]
                    : [q, k, v, OnnxNames.PastKey(layer), OnnxNames.PastValue(layer), _seqlensK, _totalLength],
                [OnnxNames.Output(node), OnnxNames.PresentKey(layer), OnnxNames.PresentValue(layer)],
                OnnxDomains.Microsoft,
                [.. GroupQueryAttentionAttributes(layer)]);
            return outputs[0];
        }

        // softcap: c·tanh(s / c) on the scaled scores; local_window_size = the window W: ORT's CPU kernel then lets query p
        // see keys p − W + 1 … p, llama.cpp's p − key < W (checked against llama.cpp by the gemma2-window test).
        private IEnumerable<Onnx.Proto.AttributeProto> GroupQueryAttentionAttributes(int layer)
        {
            yield return Attr.Int("num_heads", c.HeadCount);
            yield return Attr.Int("kv_num_heads", c.HeadCountKv);
            yield return Attr.Int("do_rotary", FusedRotary ? 1 : 0);
            yield return Attr.Int("rotary_interleaved", c.RopeStyle == RopeStyle.Normal ? 1 : 0);
            yield return Attr.Float("scale", c.QueryKeyScale);
            if (c.AttentionLogitSoftcap != 0f)
            {
                yield return Attr.Float("softcap", c.AttentionLogitSoftcap);
            }

            if (c.IsSlidingWindowLayer(layer))
            {
                yield return Attr.Int("local_window_size", c.SlidingWindow);
            }
        }

        // Additive mask float32 [batch, 1, sequence, total]: 0 where key j may be seen by query i (j <= past + i and
        // attention_mask[b, j] = 1), float.MinValue elsewhere. Shared by every layer's explicit attention.
        private void AttentionBias()
        {
            string zero = g.AddInt64("mask/zero", [], 0);
            string one = g.AddInt64("mask/one", [], 1);
            string index1 = g.AddInt64("mask/index_1", [], 1);
            string total = g.Add("Gather", "mask/total", [g.Add("Shape", "mask/mask_shape", [OnnxNames.AttentionMask]), index1], OnnxDomains.Onnx, Attr.Int("axis", 0));
            string seq = g.Add("Gather", "mask/sequence", [g.Add("Shape", "mask/ids_shape", [OnnxNames.InputIds]), index1], OnnxDomains.Onnx, Attr.Int("axis", 0));
            string past = g.Add("Sub", "mask/past", [total, seq]);
            string queryPositions = g.Add("Range", "mask/query_positions", [past, total, one]);
            string keyPositions = g.Add("Range", "mask/key_positions", [zero, total, one]);
            string axis0 = g.AddInt64("mask/axis_0", [1], 0);
            string axis1 = g.AddInt64("mask/axis_1", [1], 1);
            string keys = g.Add("Unsqueeze", "mask/key_row", [keyPositions, axis0]);
            string queries = g.Add("Unsqueeze", "mask/query_column", [queryPositions, axis1]);
            string causal = g.Add("LessOrEqual", "mask/causal", [keys, queries]);
            string padding = g.Add("Cast", "mask/keep", [OnnxNames.AttentionMask], OnnxDomains.Onnx, Attr.Int("to", (long)DataType.Bool));
            string axes12 = g.AddInt64("mask/axes_1_2", [2], 1, 2);
            string padding4 = g.Add("Unsqueeze", "mask/keep_4d", [padding, axes12]);
            string allowed = g.Add("And", "mask/allowed", [causal, padding4]);
            string open = g.AddInitializer<float>("mask/open", DataType.Float, [], [0f]);
            string closed = g.AddInitializer<float>("mask/closed", DataType.Float, [], [float.MinValue]);
            _attentionBias = g.Add("Where", "mask/bias", [allowed, open, closed]);
            if (c.SlidingWindow > 0)
            {
                // Sliding-window layers also hide keys at query − key ≥ window (llama.cpp LLAMA_SWA_TYPE_STANDARD).
                string distance = g.Add("Sub", "mask/distance", [queries, keys]);
                string window = g.AddInt64("mask/window", [], c.SlidingWindow);
                string inWindow = g.Add("Less", "mask/in_window", [distance, window]);
                string allowedWindow = g.Add("And", "mask/allowed_window", [allowed, inWindow]);
                _slidingAttentionBias = g.Add("Where", "mask/bias_window", [allowedWindow, open, closed]);
            }
        }

        // softmax(q·kᵀ·scale + mask)·v with the cache as Concat(past, new) (llama.cpp's non-flash path, in float32).
        private string ExplicitAttention(int layer, string q, string k, string v)
        {
            string P(string part) => OnnxNames.Layer(layer, "attn/" + part);
            string headsShape = g.AddInt64(P("q_heads_shape"), [4], 0, 0, c.HeadCount, c.HeadDim);
            string kvShape = g.AddInt64(P("kv_heads_shape"), [4], 0, 0, c.HeadCountKv, c.HeadDim);
            var bnsh = Attr.Ints("perm", 0, 2, 1, 3);
            string qh = g.Add("Transpose", P("q_bnsh"), [g.Add("Reshape", P("q_split"), [q, headsShape])], OnnxDomains.Onnx, bnsh);
            string kh = g.Add("Transpose", P("k_bnsh"), [g.Add("Reshape", P("k_split"), [k, kvShape])], OnnxDomains.Onnx, bnsh);
            string vh = g.Add("Transpose", P("v_bnsh"), [g.Add("Reshape", P("v_split"), [v, kvShape])], OnnxDomains.Onnx, bnsh);
            string presentK = g.AddNode("Concat", P("k_cache"), [OnnxNames.PastKey(layer), kh], [OnnxNames.PresentKey(layer)], OnnxDomains.Onnx, Attr.Int("axis", 2))[0];
            string presentV = g.AddNode("Concat", P("v_cache"), [OnnxNames.PastValue(layer), vh], [OnnxNames.PresentValue(layer)], OnnxDomains.Onnx, Attr.Int("axis", 2))[0];
            string keys = presentK, values = presentV;
            if (c.GroupSize > 1)
            {
                // [B, KV, T, D] → [B, KV, G, T, D] → [B, H, T, D]: query head h reads KV head h / G (ggml's broadcast).
                string axis2 = g.AddInt64(P("group_axis"), [1], 2);
                string expand = g.AddInt64(P("group_expand"), [5], 1, 1, c.GroupSize, 1, 1);
                string merged = g.AddInt64(P("group_merge"), [4], 0, c.HeadCount, -1, c.HeadDim);
                keys = g.Add("Reshape", P("k_groups"), [g.Add("Expand", P("k_expand"), [g.Add("Unsqueeze", P("k_unsqueeze"), [presentK, axis2]), expand]), merged]);
                values = g.Add("Reshape", P("v_groups"), [g.Add("Expand", P("v_expand"), [g.Add("Unsqueeze", P("v_unsqueeze"), [presentV, axis2]), expand]), merged]);
            }

            string kt = g.Add("Transpose", P("k_transpose"), [keys], OnnxDomains.Onnx, Attr.Ints("perm", 0, 1, 3, 2));
            string scale = g.AddInitializer<float>(P("scale"), DataType.Float, [], [c.QueryKeyScale]);
            string scores = g.Add("Mul", P("scores_scaled"), [g.Add("MatMul", P("scores"), [qh, kt]), scale]);
            if (c.AttentionLogitSoftcap != 0f)
            {
                // gemma2: s → cap · tanh(s / cap) before the mask and softmax, as llama.cpp's build_attn_mha.
                string inverse = g.AddInitializer<float>(P("softcap_inverse"), DataType.Float, [], [1.0f / c.AttentionLogitSoftcap]);
                string cap = g.AddInitializer<float>(P("softcap"), DataType.Float, [], [c.AttentionLogitSoftcap]);
                scores = g.Add("Mul", P("softcap_multiply"), [g.Add("Tanh", P("softcap_tanh"), [g.Add("Mul", P("softcap_divide"), [scores, inverse])]), cap]);
            }

            string masked = g.Add("Add", P("scores_masked"), [scores, c.IsSlidingWindowLayer(layer) ? _slidingAttentionBias : _attentionBias]);
            string probs = g.Add("Softmax", P("softmax"), [masked], OnnxDomains.Onnx, Attr.Int("axis", -1));
            string context = g.Add("MatMul", P("context"), [probs, values]);
            string merge = g.AddInt64(P("merge_shape"), [3], 0, 0, c.HeadCount * c.HeadDim);
            return g.Add("Reshape", P("merge"), [g.Add("Transpose", P("context_bsnh"), [context], OnnxDomains.Onnx, bnsh), merge]);
        }

        // The rotary tables of a layer: the sliding-window ones (gemma3's local base) or the global ones.
        private string Cos(int layer) => c.IsSlidingWindowLayer(layer) ? _cosLocal : _cos;

        private string Sin(int layer) => c.IsSlidingWindowLayer(layer) ? _sinLocal : _sin;

        private string Rotary(int layer, string node, string x, int heads) =>
            g.Add("RotaryEmbedding", node, [x, _positionIds, Cos(layer), Sin(layer)], OnnxDomains.Microsoft,
                Attr.Int("interleaved", c.RopeStyle == RopeStyle.Normal ? 1 : 0),
                Attr.Int("num_heads", heads),
                Attr.Int("rotary_embedding_dim", c.RopeDimensionCount));

        private string Projection(string node, string weightName, string biasName, string x, int width)
        {
            string y = Linear(node, gguf.GetTensor(weightName), x, c.EmbeddingLength, width);
            if (!c.HasQkvBias)
            {
                return y;
            }

            string bias = weights.Vector(gguf.GetTensor(biasName), OnnxNames.Initializer(node, "bias"), "Add", width);
            return g.Add("Add", node + "/add_bias", [y, bias]);
        }

        // Several Q4_0 projections of the same input x as one MatMulNBits over their rows concatenated along N (one
        // pass over x and one kernel launch instead of several; the same weights, so the same values), plus the
        // concatenated biases when given. Null when a weight is not Q4_0 kept as MatMulNBits (the caller then emits
        // the separate projections).
        private string? FusedProjection(string node, string[] weightNames, string[]? biasNames, string x, int[] widths)
        {
            var tensors = weightNames.Select(gguf.GetTensor).ToArray();
            if (emulateActivations || tensors.Any(t => t.Type != GgmlType.Q4_0))
            {
                return null;
            }

            var w = weights.FusedNBits(tensors, node, c.EmbeddingLength, widths);
            if (w is null)
            {
                return null;
            }

            string y = g.AddNode("MatMulNBits", node, [x, w.Weight, w.Scales!], [OnnxNames.Output(node)], OnnxDomains.Microsoft,
                Attr.Int("K", w.K), Attr.Int("N", w.N), Attr.Int("bits", w.Bits), Attr.Int("block_size", w.BlockSize),
                Attr.Int("accuracy_level", accuracyLevel))[0];
            if (biasNames is null)
            {
                return y;
            }

            string bias = weights.ConcatenatedVector(biasNames.Select(gguf.GetTensor).ToArray(), OnnxNames.Initializer(node, "bias"), "Add", widths);
            return g.Add("Add", node + "/add_bias", [y, bias]);
        }

        // Splits the last axis into widths a, b (and c when non-zero): fused projections (phi3 attn_qkv, ffn_up).
        private (string A, string B, string C) SplitLast(string node, string x, int a, int b, int c3)
        {
            long[] sizes = c3 > 0 ? [a, b, c3] : [a, b];
            string split = g.AddInt64(node + "/sizes", [sizes.Length], sizes);
            var outputs = g.AddNode("Split", node, [x, split], sizes.Select((_, i) => OnnxNames.Output(node, i)).ToArray(), OnnxDomains.Onnx, Attr.Int("axis", -1));
            return (outputs[0], outputs[1], c3 > 0 ? outputs[2] : "");
        }

        private string Mlp(int layer, string x)
        {
            string gate, up;
            if (c.FusedGateUp)
            {
                // llama.cpp swiglu on the fused tensor: silu(first half) · second half.
                string fused = Linear(OnnxNames.Layer(layer, "mlp/gate_up_proj"), gguf.GetTensor(GgufTensorNames.FfnUp(layer)), x, c.EmbeddingLength, 2 * c.FeedForwardLength);
                (gate, up, _) = SplitLast(OnnxNames.Layer(layer, "mlp/gate_up_split"), fused, c.FeedForwardLength, c.FeedForwardLength, 0);
            }
            else if (FusedProjection(OnnxNames.Layer(layer, "mlp/gate_up_proj"), [GgufTensorNames.FfnGate(layer), GgufTensorNames.FfnUp(layer)], null,
                x, [c.FeedForwardLength, c.FeedForwardLength]) is { } gateUpFused)
            {
                (gate, up, _) = SplitLast(OnnxNames.Layer(layer, "mlp/gate_up_split"), gateUpFused, c.FeedForwardLength, c.FeedForwardLength, 0);
            }
            else
            {
                gate = Linear(OnnxNames.Layer(layer, "mlp/gate_proj"), gguf.GetTensor(GgufTensorNames.FfnGate(layer)), x, c.EmbeddingLength, c.FeedForwardLength);
                up = Linear(OnnxNames.Layer(layer, "mlp/up_proj"), gguf.GetTensor(GgufTensorNames.FfnUp(layer)), x, c.EmbeddingLength, c.FeedForwardLength);
            }
            string activated;
            if (c.GeluMlp)
            {
                // gemma2: GELU, tanh approximation (ggml_gelu; com.microsoft FastGelu without bias).
                activated = g.Add("FastGelu", OnnxNames.Layer(layer, "mlp/act/gelu"), [gate], OnnxDomains.Microsoft);
            }
            else
            {
                string sigmoid = g.Add("Sigmoid", OnnxNames.Layer(layer, "mlp/act/sigmoid"), [gate]);
                activated = g.Add("Mul", OnnxNames.Layer(layer, "mlp/act/silu"), [gate, sigmoid]);
            }

            string gated = g.Add("Mul", OnnxNames.Layer(layer, "mlp/gated"), [activated, up]);
            return Linear(OnnxNames.Layer(layer, "mlp/down_proj"), gguf.GetTensor(GgufTensorNames.FfnDown(layer)), gated, c.FeedForwardLength, c.EmbeddingLength);
        }

        // The input as llama.cpp would round it for this weight type; shared by projections that read the same input.
        private string RoundedActivation(string node, string x, GgmlType weightType, int k)
        {
            var format = LlamaCppActivations.FormatFor(weightType);
            if (format == ActivationFormat.Float32)
            {
                return x;
            }

            if (!_roundedActivations.TryGetValue((x, format), out string? rounded))
            {
                rounded = LlamaCppActivations.Apply(g, node + "/llamacpp_" + format.ToString().ToLowerInvariant(), x, format, k);
                _roundedActivations[(x, format)] = rounded;
            }

            return rounded;
        }

        // Sums of x over consecutive blocks of `block` inputs: [.., k] → [.., k / block]; shared by projections of the same input.
        private string BlockSums(string node, string x, int k, int block)
        {
            if (!_blockSums.TryGetValue((x, block), out string? sums))
            {
                string shape = g.AddInt64(node + "/block_shape", [4], 0, 0, k / block, block);
                string axes = g.AddInt64(node + "/block_axes", [1], -1);
                sums = g.Add("ReduceSum", node + "/block_sums", [g.Add("Reshape", node + "/blocks", [x, shape]), axes], OnnxDomains.Onnx, Attr.Int("keepdims", 0));
                _blockSums[(x, block)] = sums;
            }

            return sums;
        }

        // y = x · W for a GGUF weight of ne = (k, n); the op depends on how the weight is stored.
        private string Linear(string node, GgufTensorInfo tensor, string x, int k, int n, string? output = null)
        {
            var w = weights.Linear(tensor, node, k, n);
            string[] outputs = [output ?? OnnxNames.Output(node)];
            if (emulateActivations)
            {
                x = RoundedActivation(node, x, tensor.Type, k);
            }

            switch (w.Encoding)
            {
                case LinearEncoding.NBits:
                    string[] nbitsOutputs = w.Offsets is null ? outputs : [OnnxNames.Output(node + "/nbits")];
                    g.AddNode("MatMulNBits", node, w.ZeroPoints is null ? [x, w.Weight, w.Scales!] : [x, w.Weight, w.Scales!, w.ZeroPoints], nbitsOutputs, OnnxDomains.Microsoft,
                        Attr.Int("K", k), Attr.Int("N", n), Attr.Int("bits", w.Bits), Attr.Int("block_size", w.BlockSize),
                        Attr.Int("accuracy_level", accuracyLevel));
                    if (w.Offsets is not null)
                    {
                        string offsetTerm = g.Add("MatMul", node + "/block_offsets", [BlockSums(node, x, k, w.BlockSize), w.Offsets]);
                        g.AddNode("Add", node + "/add_block_offsets", [nbitsOutputs[0], offsetTerm], outputs);
                    }

                    break;
                case LinearEncoding.Float16:
                    string cast = g.Add("Cast", node + "/cast_weight", [w.Weight], OnnxDomains.Onnx, Attr.Int("to", (long)DataType.Float));
                    g.AddNode("MatMul", node, [x, cast], outputs);
                    break;
                default:
                    g.AddNode("MatMul", node, [x, w.Weight], outputs);
                    break;
            }

            return outputs[0];
        }
    }
}
