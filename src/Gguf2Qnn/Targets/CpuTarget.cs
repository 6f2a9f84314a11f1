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
/// [batch_size, kv_heads, past_sequence_length, head_size]. Outputs: <c>logits</c> float32
/// [batch_size, sequence_length, vocab]; <c>present.{i}.key|value</c> float32
/// [batch_size, kv_heads, total_sequence_length, head_size].</para>
/// <para>Per layer (llama.cpp <c>llm_build_llama</c> / <c>llm_build_qwen2</c> order): RMSNorm
/// (SimplifiedLayerNormalization, or SkipSimplifiedLayerNormalization which also emits the residual sum) → Q/K/V
/// projections (+ bias) → GroupQueryAttention (rotary inside, do_rotary = 1, rotary_interleaved = 1 for
/// <see cref="RopeStyle.Normal"/>, 0 for <see cref="RopeStyle.Neox"/>; seqlens_k = sum(attention_mask) − 1 and
/// total_sequence_length as int32) → o_proj → residual + RMSNorm → SwiGLU MLP (silu(gate)·up → down) → residual.
/// Then the final RMSNorm and the lm head (output.weight, or token_embd.weight when tied).</para>
/// </remarks>
public static class CpuTarget
{
    internal static void Build(GgufFile gguf, ModelConfig config, GraphBuilder g, WeightWriter weights, int contextLength, int accuracyLevel) =>
        new Builder(gguf, config, g, weights, contextLength, accuracyLevel).Build();

    private sealed class Builder(GgufFile gguf, ModelConfig c, GraphBuilder g, WeightWriter weights, int contextLength, int accuracyLevel)
    {
        private const string Batch = "batch_size";
        private const string Sequence = "sequence_length";
        private const string Total = "total_sequence_length";
        private const string Past = "past_sequence_length";

        private string _seqlensK = "";
        private string _totalLength = "";
        private string _cos = "";
        private string _sin = "";
        private string _positionIds = "";

        // GroupQueryAttention's built-in rotary (CPU kernel, ORT group_query_attention_helper.h) needs head_size and
        // rotary_dim to be multiples of 16; otherwise rotate Q and K with com.microsoft RotaryEmbedding first.
        private bool FusedRotary => c.HeadDim % 16 == 0 && c.RopeDimensionCount % 16 == 0;

        public void Build()
        {
            g.AddInput(OnnxNames.InputIds, DataType.Int64, Batch, Sequence);
            g.AddInput(OnnxNames.AttentionMask, DataType.Int64, Batch, Total);
            for (int i = 0; i < c.BlockCount; i++)
            {
                g.AddInput(OnnxNames.PastKey(i), DataType.Float, Batch, (long)c.HeadCountKv, Past, (long)c.HeadDim);
                g.AddInput(OnnxNames.PastValue(i), DataType.Float, Batch, (long)c.HeadCountKv, Past, (long)c.HeadDim);
            }

            AttentionLengths();
            RotaryTables();
            if (!FusedRotary)
            {
                PositionIds();
            }

            string embeddings = weights.Embedding(gguf.GetTensor(GgufTensorNames.TokenEmbedding), OnnxNames.Initializer("embed_tokens", "weight"), c.EmbeddingLength, c.VocabSize);
            string hidden = g.Add("Gather", "embed_tokens", [embeddings, OnnxNames.InputIds], OnnxDomains.Onnx, Attr.Int("axis", 0));

            // The residual stream: `residual` is the running sum, `pending` the block output not yet added to it.
            string residual = hidden;
            string? pending = null;
            for (int i = 0; i < c.BlockCount; i++)
            {
                string norm = OnnxNames.Layer(i, "attn_norm");
                string x = RmsNorm(norm, GgufTensorNames.AttnNorm(i), ref residual, pending);
                string attention = Attention(i, x);
                string ffnNorm = OnnxNames.Layer(i, "ffn_norm");
                string y = RmsNorm(ffnNorm, GgufTensorNames.FfnNorm(i), ref residual, attention);
                pending = Mlp(i, y);
            }

            string final = RmsNorm("final_norm", GgufTensorNames.OutputNorm, ref residual, pending);
            var head = gguf.FindTensor(GgufTensorNames.Output) ?? gguf.GetTensor(GgufTensorNames.TokenEmbedding);
            Linear("lm_head", head, final, c.EmbeddingLength, c.VocabSize, OnnxNames.Logits);

            g.AddOutput(OnnxNames.Logits, DataType.Float, Batch, Sequence, (long)c.VocabSize);
            for (int i = 0; i < c.BlockCount; i++)
            {
                g.AddOutput(OnnxNames.PresentKey(i), DataType.Float, Batch, (long)c.HeadCountKv, Total, (long)c.HeadDim);
                g.AddOutput(OnnxNames.PresentValue(i), DataType.Float, Batch, (long)c.HeadCountKv, Total, (long)c.HeadDim);
            }
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
        }

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
            string q = Projection(OnnxNames.Layer(layer, "attn/q_proj"), GgufTensorNames.AttnQ(layer), GgufTensorNames.AttnQBias(layer), x, qWidth);
            string k = Projection(OnnxNames.Layer(layer, "attn/k_proj"), GgufTensorNames.AttnK(layer), GgufTensorNames.AttnKBias(layer), x, kvWidth);
            string v = Projection(OnnxNames.Layer(layer, "attn/v_proj"), GgufTensorNames.AttnV(layer), GgufTensorNames.AttnVBias(layer), x, kvWidth);

            if (!FusedRotary)
            {
                q = Rotary(OnnxNames.Layer(layer, "attn/q_rotary"), q, c.HeadCount);
                k = Rotary(OnnxNames.Layer(layer, "attn/k_rotary"), k, c.HeadCountKv);
            }

            string node = OnnxNames.Layer(layer, "attn/gqa");
            var outputs = g.AddNode(
                "GroupQueryAttention",
                node,
                FusedRotary
                    ? [q, k, v, OnnxNames.PastKey(layer), OnnxNames.PastValue(layer), _seqlensK, _totalLength, _cos, _sin]
                    : [q, k, v, OnnxNames.PastKey(layer), OnnxNames.PastValue(layer), _seqlensK, _totalLength],
                [OnnxNames.Output(node), OnnxNames.PresentKey(layer), OnnxNames.PresentValue(layer)],
                OnnxDomains.Microsoft,
                Attr.Int("num_heads", c.HeadCount),
                Attr.Int("kv_num_heads", c.HeadCountKv),
                Attr.Int("do_rotary", FusedRotary ? 1 : 0),
                Attr.Int("rotary_interleaved", c.RopeStyle == RopeStyle.Normal ? 1 : 0),
                Attr.Float("scale", 1.0f / MathF.Sqrt(c.HeadDim)));

            return Linear(OnnxNames.Layer(layer, "attn/o_proj"), gguf.GetTensor(GgufTensorNames.AttnOutput(layer)), outputs[0], qWidth, c.EmbeddingLength);
        }

        private string Rotary(string node, string x, int heads) =>
            g.Add("RotaryEmbedding", node, [x, _positionIds, _cos, _sin], OnnxDomains.Microsoft,
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

        private string Mlp(int layer, string x)
        {
            string gate = Linear(OnnxNames.Layer(layer, "mlp/gate_proj"), gguf.GetTensor(GgufTensorNames.FfnGate(layer)), x, c.EmbeddingLength, c.FeedForwardLength);
            string up = Linear(OnnxNames.Layer(layer, "mlp/up_proj"), gguf.GetTensor(GgufTensorNames.FfnUp(layer)), x, c.EmbeddingLength, c.FeedForwardLength);
            string sigmoid = g.Add("Sigmoid", OnnxNames.Layer(layer, "mlp/act/sigmoid"), [gate]);
            string silu = g.Add("Mul", OnnxNames.Layer(layer, "mlp/act/silu"), [gate, sigmoid]);
            string gated = g.Add("Mul", OnnxNames.Layer(layer, "mlp/gated"), [silu, up]);
            return Linear(OnnxNames.Layer(layer, "mlp/down_proj"), gguf.GetTensor(GgufTensorNames.FfnDown(layer)), gated, c.FeedForwardLength, c.EmbeddingLength);
        }

        // y = x · W for a GGUF weight of ne = (k, n); the op depends on how the weight is stored.
        private string Linear(string node, GgufTensorInfo tensor, string x, int k, int n, string? output = null)
        {
            var w = weights.Linear(tensor, node, k, n);
            string[] outputs = [output ?? OnnxNames.Output(node)];
            switch (w.Encoding)
            {
                case LinearEncoding.NBits:
                    g.AddNode("MatMulNBits", node, [x, w.Weight, w.Scales!], outputs, OnnxDomains.Microsoft,
                        Attr.Int("K", k), Attr.Int("N", n), Attr.Int("bits", w.Bits), Attr.Int("block_size", MatMulNBitsPacking.BlockSize),
                        Attr.Int("accuracy_level", accuracyLevel));
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
