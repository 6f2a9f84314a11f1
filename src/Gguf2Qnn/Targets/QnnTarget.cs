using Gguf2Qnn.Architectures;
using Gguf2Qnn.Conversion;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Onnx;
using Gguf2Qnn.Onnx.Proto;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Targets;

/// <summary>
/// One part of the static-shape decoder for the QNN execution provider's HTP backend (Qualcomm's LLM layout):
/// sequence length S fixed (S = N for the prompt processor AR-N, 1 for the token generator AR-1), context C fixed.
/// </summary>
/// <remarks>
/// <para>Inputs: <c>input_ids</c> int32 [1, S] (first part) or <c>hidden_states.{first layer}</c> float32 [1, S, hidden];
/// <c>position_ids_cos</c>/<c>position_ids_sin</c> float32 [1, 1, S, rope_dim/2]; <c>attention_mask</c> float32
/// [1, 1, S, C] (additive); <c>past_key_values.{i}.key|value</c> float32 [1, kv_heads, C − S, head_size] (the fixed-size
/// past cache; slots beyond the filled ones are masked). Outputs: <c>present.{i}.key|value</c> float32
/// [1, kv_heads, S, head_size] — only the S new entries (keys after rotary), which the host writes into its cache —
/// and <c>hidden_states.{end layer}</c> or, for the last part, <c>logits</c> float32 [1, S, vocab].</para>
/// <para>Operators: only ones the QNN EP lists for HTP (<c>Qnn/HtpOpSupport.json</c>): Gather (int32 indices),
/// SimplifiedLayerNormalization (RMSNorm), MatMulNBits (Q4_0, bits 4, block 32) or MatMul, Add, Mul, Sigmoid, Reshape,
/// Transpose, Split, Concat, Sub, Softmax, Cast. No GroupQueryAttention, no int64 runtime tensors (int64 appears only
/// as constant Reshape shapes, which the EP folds into op parameters), no bool tensors. Attention is explicit:
/// keys = Concat(past, new) → [kv, C, D]; queries grouped per KV head as [kv, G·S, D] so that every tensor stays 4-D or
/// less; scores · 1/√D + mask → Softmax → · values. Rotary is x·cos + rotate(x)·sin built from Split/Mul/Sub/Add/Concat
/// (half-split for NEOX, adjacent pairs for the llama style), in float32 like ggml's rope.</para>
/// <para>Activations and graph I/O are float32 (on HTP the QNN EP runs them in fp16 with
/// <c>enable_htp_fp16_precision=1</c>, its default) or, with <c>--activations fp16</c>, float16 everywhere (inputs,
/// outputs, KV cache, every intermediate tensor and every float weight). With <c>--activations uint16</c> the float32 graphs are
/// built here and then calibrated and rewritten with uint16 QDQ pairs by <see cref="QnnQdq"/>. Weights: Q4_0 → MatMulNBits bits=4
/// block_size=32 losslessly (scales float32, or float16 with fp16 activations: exact either way); the
/// QNN EP lowers MatMulNBits on HTP for 2/4-bit weights with block size 32 or 64 (onnxruntime-qnn PR #288, "Support
/// HTP MatMulNBits", listed in its docs/execution_providers/QNN-ExecutionProvider.md operator table). Other types are
/// dequantized as <see cref="WeightWriter"/> does for the CPU target (float32, or float16 + Cast with --weights f16).</para>
/// </remarks>
internal static class QnnTarget
{
    /// <summary>Builds part <paramref name="part"/> for sequence length <paramref name="s"/> into <paramref name="g"/>.</summary>
    /// <param name="gguf">The source file.</param>
    /// <param name="config">Its configuration.</param>
    /// <param name="part">The layers (and embedding / head) of this part.</param>
    /// <param name="s">Sequence length: N for AR-N, 1 for AR-1.</param>
    /// <param name="context">Fixed context length C.</param>
    /// <param name="weights">The part's weights, written once and shared by its graphs.</param>
    /// <param name="g">The graph to build into.</param>
    /// <param name="activations">Element type of activations and graph I/O: Float (float32) or Float16.</param>
    public static void BuildPart(IGgufSource gguf, ModelConfig config, QnnPartPlanner.Plan part, int s, int context, QnnSharedWeights weights, GraphBuilder g, DataType activations = DataType.Float)
    {
        if (config.RopeDimensionCount != config.HeadDim)
        {
            throw new NotSupportedException($"The qnn target rotates whole heads; rope_dim {config.RopeDimensionCount} ≠ head size {config.HeadDim} is not supported yet.");
        }

        if (s >= context)
        {
            throw new NotSupportedException($"AR-{s} needs a context longer than {s} positions (context {context}).");
        }

        weights.Begin(g);
        if (activations is not (DataType.Float or DataType.Float16))
        {
            throw new NotSupportedException($"Activations of type {activations} are not supported by the qnn target.");
        }

        new Builder(gguf, config, part, s, context, weights, g, activations).Build();
    }

    private sealed class Builder(IGgufSource gguf, ModelConfig c, QnnPartPlanner.Plan part, int s, int context, QnnSharedWeights weights, GraphBuilder g, DataType act)
    {
        private int Past => context - s;

        public void Build()
        {
            string x;
            if (part.HasEmbedding)
            {
                g.AddInput(QnnNames.InputIds, DataType.Int32, 1L, (long)s);
                string table = weights.Embedding(gguf.GetTensor(GgufTensorNames.TokenEmbedding), OnnxNames.Initializer("embed_tokens", "weight"), c.EmbeddingLength, c.VocabSize);
                x = g.Add("Gather", "embed_tokens", [table, QnnNames.InputIds], OnnxDomains.Onnx, Attr.Int("axis", 0));
            }
            else
            {
                x = g.AddInput(QnnNames.HiddenStates(part.First), act, 1L, (long)s, (long)c.EmbeddingLength);
            }

            long half = c.RopeDimensionCount / 2;
            g.AddInput(QnnNames.PositionCos, act, 1L, 1L, (long)s, half);
            g.AddInput(QnnNames.PositionSin, act, 1L, 1L, (long)s, half);
            g.AddInput(QnnNames.AttentionMask, act, 1L, 1L, (long)s, (long)context);
            for (int i = part.First; i < part.End; i++)
            {
                g.AddInput(OnnxNames.PastKey(i), act, 1L, (long)c.HeadCountKv, (long)Past, (long)c.HeadDim);
                g.AddInput(OnnxNames.PastValue(i), act, 1L, (long)c.HeadCountKv, (long)Past, (long)c.HeadDim);
            }

            for (int i = part.First; i < part.End; i++)
            {
                x = Layer(i, x);
            }

            if (part.HasHead)
            {
                string norm = RmsNorm("final_norm", GgufTensorNames.OutputNorm, x);
                var head = gguf.FindTensor(GgufTensorNames.Output) ?? gguf.GetTensor(GgufTensorNames.TokenEmbedding);
                Linear("lm_head", head, norm, c.EmbeddingLength, c.VocabSize, QnnNames.Logits);
                g.AddOutput(QnnNames.Logits, act, 1L, (long)s, (long)c.VocabSize);
            }
            else
            {
                g.AddNode("Identity", "hidden_states_out", [x], [QnnNames.HiddenStates(part.End)]);
                g.AddOutput(QnnNames.HiddenStates(part.End), act, 1L, (long)s, (long)c.EmbeddingLength);
            }

            for (int i = part.First; i < part.End; i++)
            {
                g.AddOutput(OnnxNames.PresentKey(i), act, 1L, (long)c.HeadCountKv, (long)s, (long)c.HeadDim);
                g.AddOutput(OnnxNames.PresentValue(i), act, 1L, (long)c.HeadCountKv, (long)s, (long)c.HeadDim);
            }
        }

        // llama.cpp order: x + attn(norm(x)), then + mlp(norm(.)).
        private string Layer(int i, string x)
        {
            string h = RmsNorm(OnnxNames.Layer(i, "attn_norm"), GgufTensorNames.AttnNorm(i), x);
            string attended = Attention(i, h);
            string mid = g.Add("Add", OnnxNames.Layer(i, "attn_residual"), [x, attended]);
            string h2 = RmsNorm(OnnxNames.Layer(i, "ffn_norm"), GgufTensorNames.FfnNorm(i), mid);
            string mlp = Mlp(i, h2);
            return g.Add("Add", OnnxNames.Layer(i, "ffn_residual"), [mid, mlp]);
        }

        private string RmsNorm(string node, string tensorName, string x)
        {
            string weight = weights.Vector(gguf.GetTensor(tensorName), OnnxNames.Initializer(node, "weight"), "SimplifiedLayerNormalization", c.EmbeddingLength);
            return g.Add("SimplifiedLayerNormalization", node, [x, weight], OnnxDomains.Onnx,
                Attr.Float("epsilon", c.RmsEpsilon), Attr.Int("axis", -1), Attr.Int("stash_type", 1));
        }

        private string Shape(string name, params long[] dims) => g.AddInt64(name, [dims.Length], dims);

        private string Attention(int layer, string x)
        {
            string P(string p) => OnnxNames.Layer(layer, "attn/" + p);
            int d = c.HeadDim, h = c.HeadCount, kv = c.HeadCountKv, groups = c.GroupSize;
            string q = Projection(P("q_proj"), GgufTensorNames.AttnQ(layer), GgufTensorNames.AttnQBias(layer), x, h * d);
            string k = Projection(P("k_proj"), GgufTensorNames.AttnK(layer), GgufTensorNames.AttnKBias(layer), x, kv * d);
            string v = Projection(P("v_proj"), GgufTensorNames.AttnV(layer), GgufTensorNames.AttnVBias(layer), x, kv * d);

            var bnsh = Attr.Ints("perm", 0, 2, 1, 3);
            string qh = g.Add("Transpose", P("q_bnsh"), [g.Add("Reshape", P("q_split"), [q, Shape(P("q_split_shape"), 1, s, h, d)])], OnnxDomains.Onnx, bnsh);
            string kh = g.Add("Transpose", P("k_bnsh"), [g.Add("Reshape", P("k_split"), [k, Shape(P("k_split_shape"), 1, s, kv, d)])], OnnxDomains.Onnx, bnsh);
            string vh = g.Add("Transpose", P("v_bnsh"), [g.Add("Reshape", P("v_split"), [v, Shape(P("v_split_shape"), 1, s, kv, d)])], OnnxDomains.Onnx, bnsh);
            qh = Rotary(P("q_rotary"), qh, h, null);
            kh = Rotary(P("k_rotary"), kh, kv, OnnxNames.PresentKey(layer));
            string presentV = g.AddNode("Identity", P("v_present"), [vh], [OnnxNames.PresentValue(layer)])[0];

            // [1, kv, C−S, D] ++ [1, kv, S, D] → [kv, C, D]
            string keys = g.Add("Reshape", P("keys"), [g.Add("Concat", P("k_cache"), [OnnxNames.PastKey(layer), kh], OnnxDomains.Onnx, Attr.Int("axis", 2)), Shape(P("kv_shape"), kv, context, d)]);
            string values = g.Add("Reshape", P("values"), [g.Add("Concat", P("v_cache"), [OnnxNames.PastValue(layer), presentV], OnnxDomains.Onnx, Attr.Int("axis", 2)), Shape(P("kv_shape_v"), kv, context, d)]);

            // Query head j reads KV head j / G (ggml's broadcast): [1, H, S, D] = [kv, G·S, D] in memory.
            string qg = g.Add("Reshape", P("q_groups"), [qh, Shape(P("q_groups_shape"), kv, groups * s, d)]);
            string kt = g.Add("Transpose", P("k_transpose"), [keys], OnnxDomains.Onnx, Attr.Ints("perm", 0, 2, 1));
            string scale = act == DataType.Float16
                ? g.AddInitializer<Half>(P("scale"), DataType.Float16, [], [(Half)(1.0f / MathF.Sqrt(d))])
                : g.AddInitializer<float>(P("scale"), DataType.Float, [], [1.0f / MathF.Sqrt(d)]);
            string scores = g.Add("Mul", P("scores_scaled"), [g.Add("MatMul", P("scores"), [qg, kt]), scale]);
            string scores4 = g.Add("Reshape", P("scores_4d"), [scores, Shape(P("scores_4d_shape"), kv, groups, s, context)]);
            string masked = g.Add("Add", P("scores_masked"), [scores4, QnnNames.AttentionMask]);
            string probs = g.Add("Softmax", P("softmax"), [masked], OnnxDomains.Onnx, Attr.Int("axis", -1));
            string probs3 = g.Add("Reshape", P("probs_3d"), [probs, Shape(P("probs_3d_shape"), kv, groups * s, context)]);
            string context3 = g.Add("MatMul", P("context"), [probs3, values]);
            string context4 = g.Add("Reshape", P("context_bnsh"), [context3, Shape(P("context_bnsh_shape"), 1, h, s, d)]);
            string merged = g.Add("Reshape", P("merge"), [g.Add("Transpose", P("context_bsnh"), [context4], OnnxDomains.Onnx, bnsh), Shape(P("merge_shape"), 1, s, h * d)]);
            return Linear(P("o_proj"), gguf.GetTensor(GgufTensorNames.AttnOutput(layer)), merged, h * d, c.EmbeddingLength);
        }

        // x [1, heads, S, D] rotated at the positions given by the cos/sin inputs [1, 1, S, D/2].
        private string Rotary(string node, string x, int heads, string? output)
        {
            int d = c.HeadDim;
            string[] outputs = [output ?? OnnxNames.Output(node + "/rotated")];
            if (c.RopeStyle == RopeStyle.Neox)
            {
                // pairs (i, i + D/2): [x1, x2] → [x1·cos − x2·sin, x2·cos + x1·sin]
                var parts = g.AddNode("Split", node + "/split", [x], [OnnxNames.Output(node + "/split", 0), OnnxNames.Output(node + "/split", 1)],
                    OnnxDomains.Onnx, Attr.Int("axis", -1), Attr.Int("num_outputs", 2));
                string a = g.Add("Sub", node + "/first", [g.Add("Mul", node + "/x1_cos", [parts[0], QnnNames.PositionCos]), g.Add("Mul", node + "/x2_sin", [parts[1], QnnNames.PositionSin])]);
                string b = g.Add("Add", node + "/second", [g.Add("Mul", node + "/x2_cos", [parts[1], QnnNames.PositionCos]), g.Add("Mul", node + "/x1_sin", [parts[0], QnnNames.PositionSin])]);
                g.AddNode("Concat", node + "/rotated", [a, b], outputs, OnnxDomains.Onnx, Attr.Int("axis", -1));
                return outputs[0];
            }

            // llama style, adjacent pairs (2i, 2i + 1): view as [heads, S, D/2, 2].
            string pairs = g.Add("Reshape", node + "/pairs", [x, Shape(node + "/pairs_shape", heads, s, d / 2, 2)]);
            var xs = g.AddNode("Split", node + "/split", [pairs], [OnnxNames.Output(node + "/split", 0), OnnxNames.Output(node + "/split", 1)],
                OnnxDomains.Onnx, Attr.Int("axis", -1), Attr.Int("num_outputs", 2));
            string cos = g.Add("Reshape", node + "/cos", [QnnNames.PositionCos, Shape(node + "/table_shape", 1, s, d / 2, 1)]);
            string sin = g.Add("Reshape", node + "/sin", [QnnNames.PositionSin, Shape(node + "/table_shape_sin", 1, s, d / 2, 1)]);
            string even = g.Add("Sub", node + "/even", [g.Add("Mul", node + "/x0_cos", [xs[0], cos]), g.Add("Mul", node + "/x1_sin", [xs[1], sin])]);
            string odd = g.Add("Add", node + "/odd", [g.Add("Mul", node + "/x0_sin", [xs[0], sin]), g.Add("Mul", node + "/x1_cos", [xs[1], cos])]);
            string joined = g.Add("Concat", node + "/join", [even, odd], OnnxDomains.Onnx, Attr.Int("axis", -1));
            g.AddNode("Reshape", node + "/rotated", [joined, Shape(node + "/heads_shape", 1, heads, s, d)], outputs);
            return outputs[0];
        }

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

        private string Linear(string node, GgufTensorInfo tensor, string x, int k, int n, string? output = null)
        {
            var w = weights.Linear(tensor, node, k, n);
            string[] outputs = [output ?? OnnxNames.Output(node)];
            switch (w.Encoding)
            {
                case LinearEncoding.NBits:
                    g.AddNode("MatMulNBits", node, [x, w.Weight, w.Scales!], outputs, OnnxDomains.Microsoft,
                        Attr.Int("K", k), Attr.Int("N", n), Attr.Int("bits", w.Bits), Attr.Int("block_size", MatMulNBitsPacking.BlockSize));
                    break;
                case LinearEncoding.Float16 when act == DataType.Float16:
                    g.AddNode("MatMul", node, [x, w.Weight], outputs);
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

/// <summary>
/// Writes each weight of a part once (through <see cref="WeightWriter"/>, into the part's external-data file) while
/// the first graph is built, and hands the second graph (AR-1 after AR-N) the same initializers: TensorProtos that
/// point at the same bytes of the same file, so both graphs share one copy of the weights on disk.
/// </summary>
internal sealed class QnnSharedWeights(WeightWriter writer)
{
    private readonly Dictionary<string, object> _memo = new(StringComparer.Ordinal);
    private GraphBuilder? _first;
    private GraphBuilder? _current;
    private Dictionary<string, TensorProto>? _written;
    private HashSet<string> _attached = new(StringComparer.Ordinal);

    /// <summary>Starts a graph: the first one writes the weights, later ones reuse them.</summary>
    public void Begin(GraphBuilder g)
    {
        _first ??= g;
        _current = g;
        _attached = new HashSet<string>(StringComparer.Ordinal);
        if (!ReferenceEquals(g, _first) && _written is null)
        {
            _written = _first.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        }
    }

    public LinearWeight Linear(GgufTensorInfo tensor, string node, int k, int n) =>
        Get("linear|" + node, () => writer.Linear(tensor, node, k, n), w => [w.Weight, w.Scales]);

    public string Vector(GgufTensorInfo tensor, string name, string op, int length) =>
        Get("vector|" + name, () => writer.Vector(tensor, name, op, length), v => [v]);

    public string Embedding(GgufTensorInfo tensor, string name, int hidden, int vocab) =>
        Get("embedding|" + name, () => writer.Embedding(tensor, name, hidden, vocab), v => [v]);

    private T Get<T>(string key, Func<T> write, Func<T, string?[]> names)
        where T : notnull
    {
        if (_written is null || ReferenceEquals(_current, _first))
        {
            var value = write();
            _memo[key] = value;
            return value;
        }

        var cached = (T)_memo[key];
        foreach (string? name in names(cached))
        {
            if (name is not null && _attached.Add(name))
            {
                _current!.Graph.Initializer.Add(_written[name].Clone());
            }
        }

        return cached;
    }
}
