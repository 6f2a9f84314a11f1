using Gguf2Qnn.Onnx;
using Gguf2Qnn.Onnx.Proto;
using Gguf2Qnn.Runtime;
using Google.Protobuf;
using Gguf2Qnn.Gguf;
using Gguf2Qnn.Tokenization;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Targets;

/// <summary>
/// <c>--activations uint16</c> for the qnn target: calibrates activation ranges on the float32 graphs and rewrites the
/// graphs with uint16 QuantizeLinear → DequantizeLinear (QDQ) pairs.
/// </summary>
/// <remarks>
/// <para>Which tensors: the activation (non-constant) inputs and outputs of every <c>MatMul</c> (ai.onnx) and
/// <c>com.microsoft:MatMulNBits</c> — the ops the HTP runs in integer arithmetic: the q/k/v/o and MLP projections and
/// the lm head (whose inputs are the RMSNorm outputs, the SwiGLU product and the merged attention context), and both
/// attention matmuls (queries × keysᵀ, softmax probabilities × values). A QDQ pair on each input and the output makes
/// each matmul a complete QDQ node unit, which is what the QNN EP lowers to a quantized HTP op. Everything else
/// (RMSNorm, rotary, softmax, residual adds, the SwiGLU gate) stays float and runs in fp16 on HTP. Graph inputs and
/// outputs (ids, cos/sin, mask, KV cache, hidden states between parts, logits) stay float32: a tensor that is a graph
/// output is not quantized, so the logits the host samples from are not clamped to a calibrated range.</para>
/// <para>Encoding (ONNX QuantizeLinear-21 / DequantizeLinear-21, per-tensor): range [lo, hi] = [min(min, 0), max(max, 0)]
/// of the calibrated values, scale = (hi − lo) / 65535, zero point = round(−lo / scale) as uint16 — asymmetric, with
/// 0 exactly representable (ONNX Runtime's MinMax calibration convention). y = saturate(round(x / scale) + zp),
/// x̂ = (y − zp) · scale.</para>
/// <para>Calibration: the float32 AR-N graphs, with those tensors added as extra graph outputs in calibration copies,
/// run on ONNX Runtime's CPU EP through <see cref="QnnStaticCausalLm"/> (the device's path: KV cache, parts) over the
/// calibration text's tokens, in chunks of whole AR-N windows (no padding rows), each chunk a fresh sequence; the
/// running min/max of every tensor is kept. The AR-1 graphs have the same node and tensor names and take the same
/// ranges.</para>
/// </remarks>
internal static class QnnQdq
{
    /// <summary>The logical name of the default calibration text (embedded resource).</summary>
    public const string DefaultCalibrationResource = "Gguf2Qnn.Targets.QnnCalibration.txt";

    private const string CalibrationPrefix = "calibration_";

    /// <summary>The default calibration text shipped with the project.</summary>
    public static string DefaultCalibrationText()
    {
        using var stream = typeof(QnnQdq).Assembly.GetManifestResourceStream(DefaultCalibrationResource)
            ?? throw new InvalidOperationException($"Embedded resource {DefaultCalibrationResource} is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>The tensors of <paramref name="graph"/> that get a QDQ pair (see remarks), in node order.</summary>
    public static IReadOnlyList<string> QuantizedTensors(GraphProto graph)
    {
        var dynamic = new HashSet<string>(graph.Input.Select(i => i.Name), StringComparer.Ordinal);
        var outputs = new HashSet<string>(graph.Output.Select(o => o.Name), StringComparer.Ordinal);
        var result = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            if (node.Input.Any(dynamic.Contains))
            {
                foreach (string o in node.Output)
                {
                    dynamic.Add(o);
                }
            }

            bool matmul = (node.OpType == "MatMul" && node.Domain.Length == 0) || (node.OpType == "MatMulNBits" && node.Domain == OnnxDomains.Microsoft);
            if (!matmul)
            {
                continue;
            }

            var candidates = node.OpType == "MatMul" ? [node.Input[0], node.Input[1], node.Output[0]] : new[] { node.Input[0], node.Output[0] };
            foreach (string t in candidates)
            {
                if (dynamic.Contains(t) && !outputs.Contains(t) && seen.Add(t))
                {
                    result.Add(t);
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Runs the float32 graphs of <paramref name="dir"/> over <paramref name="text"/> and returns each quantized
    /// tensor's (min, max).
    /// </summary>
    /// <param name="dir">A qnn-target folder (staging) with float32 graphs, data files and the rotary table.</param>
    /// <param name="layout">Its layout (Activations float32).</param>
    /// <param name="gguf">The source, for its tokenizer.</param>
    /// <param name="text">The calibration text.</param>
    /// <param name="tokenCount">Tokens run (BOS included).</param>
    /// <exception cref="ArgumentException">The text gives fewer tokens than one AR-N window.</exception>
    public static Dictionary<string, (float Min, float Max)> Calibrate(string dir, QnnModelLayout layout, IGgufSource gguf, string text, out int tokenCount)
    {
        tokenCount = 0;
        var tokenizer = GgufTokenizer.Create(gguf);
        int[] tokens = tokenizer.Encode(text, addBos: false);
        int n = layout.PrefillLength;
        bool bos = tokenizer.AddBosToken;
        int lead = bos ? 1 : 0;
        int perChunk = (layout.ContextLength / n * n) - lead;
        if (tokens.Length + lead < n)
        {
            throw new ArgumentException($"The calibration text gives {tokens.Length} tokens, fewer than one AR-{n} window.", nameof(text));
        }

        var ranges = new Dictionary<string, (float Min, float Max)>(StringComparer.Ordinal);
        var extra = new List<IReadOnlyList<string>>();
        var parts = new List<QnnPart>();
        var copies = new List<string>();
        try
        {
            foreach (var part in layout.Parts)
            {
                string file = part.Graphs[QnnModelLayout.GraphKey(n)];
                var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, file)));
                var names = QuantizedTensors(model.Graph);
                foreach (string name in names)
                {
                    model.Graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } } });
                }

                string copy = CalibrationPrefix + file;
                File.WriteAllBytes(Path.Combine(dir, copy), model.ToByteArray());
                copies.Add(copy);
                extra.Add(names);
                var graphs = new Dictionary<string, string>(part.Graphs, StringComparer.Ordinal) { [QnnModelLayout.GraphKey(n)] = copy };
                parts.Add(part with { Graphs = graphs });
            }

            using var lm = QnnStaticCausalLm.OpenForCalibration(dir, layout with { Parts = parts }, extra, (name, values) =>
            {
                float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
                foreach (float v in values)
                {
                    lo = Math.Min(lo, v);
                    hi = Math.Max(hi, v);
                }

                ranges[name] = ranges.TryGetValue(name, out var r) ? (Math.Min(r.Min, lo), Math.Max(r.Max, hi)) : (lo, hi);
            });
            for (int start = 0; start < tokens.Length; start += perChunk)
            {
                int count = Math.Min(perChunk, tokens.Length - start);
                int whole = (count + lead) / n * n;
                if (whole == 0)
                {
                    break;
                }

                int[] chunk = bos ? [tokenizer.BosTokenId ?? throw new InvalidDataException("The tokenizer adds BOS but has no BOS id."), .. tokens.AsSpan(start, whole - 1)] : tokens.AsSpan(start, whole).ToArray();
                lm.EvaluateLogits(chunk);
                tokenCount += chunk.Length;
            }
        }
        finally
        {
            foreach (string copy in copies)
            {
                File.Delete(Path.Combine(dir, copy));
            }
        }

        return ranges;
    }

    /// <summary>Rewrites <paramref name="graph"/> in place: each quantized tensor T (see <see cref="QuantizedTensors"/>)
    /// becomes producer → T/float → QuantizeLinear → T/uint16 → DequantizeLinear → T, consumers unchanged. Returns the
    /// number of QDQ pairs.</summary>
    /// <exception cref="InvalidDataException">A tensor has no calibrated range.</exception>
    public static int Rewrite(GraphProto graph, IReadOnlyDictionary<string, (float Min, float Max)> ranges)
    {
        var names = QuantizedTensors(graph);
        var inputs = new HashSet<string>(graph.Input.Select(i => i.Name), StringComparer.Ordinal);
        var nodes = graph.Node.ToList();
        var byTensor = names.ToHashSet(StringComparer.Ordinal);
        var result = new List<NodeProto>(nodes.Count + (2 * names.Count));
        var graphInputPairs = new List<NodeProto>();
        var renamedInputs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string t in names.Where(inputs.Contains))
        {
            renamedInputs[t] = t + "/dequantized";
            graphInputPairs.AddRange(Pair(graph, t, t, renamedInputs[t], ranges));
        }

        result.AddRange(graphInputPairs);
        foreach (var node in nodes)
        {
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (renamedInputs.TryGetValue(node.Input[i], out string? renamed))
                {
                    node.Input[i] = renamed;
                }
            }

            result.Add(node);
            for (int o = 0; o < node.Output.Count; o++)
            {
                string t = node.Output[o];
                if (byTensor.Contains(t))
                {
                    node.Output[o] = t + "/float";
                    result.AddRange(Pair(graph, t, t + "/float", t, ranges));
                }
            }
        }

        graph.Node.Clear();
        graph.Node.AddRange(result);
        return names.Count;
    }

    /// <summary>Scale and zero point of a range (see remarks).</summary>
    public static (float Scale, ushort ZeroPoint) Encoding(float min, float max)
    {
        float lo = Math.Min(min, 0f), hi = Math.Max(max, 0f);
        if (!(hi > lo))
        {
            hi = lo + 1e-6f;
        }

        float scale = (hi - lo) / ushort.MaxValue;
        double zp = Math.Round(-lo / (double)scale, MidpointRounding.ToEven);
        return (scale, (ushort)Math.Clamp(zp, 0, ushort.MaxValue));
    }

    private static NodeProto[] Pair(GraphProto graph, string tensor, string input, string output, IReadOnlyDictionary<string, (float Min, float Max)> ranges)
    {
        if (!ranges.TryGetValue(tensor, out var range))
        {
            throw new InvalidDataException($"No calibrated range for {tensor}.");
        }

        var (scale, zeroPoint) = Encoding(range.Min, range.Max);
        string scaleName = tensor + "/qdq_scale", zpName = tensor + "/qdq_zero_point", quantized = tensor + "/uint16";
        graph.Initializer.Add(new TensorProto { Name = scaleName, DataType = (int)DataType.Float, RawData = ByteString.CopyFrom(BitConverter.GetBytes(scale)) });
        graph.Initializer.Add(new TensorProto { Name = zpName, DataType = (int)DataType.Uint16, RawData = ByteString.CopyFrom(BitConverter.GetBytes(zeroPoint)) });
        var q = new NodeProto { Name = tensor + "/QuantizeLinear", OpType = "QuantizeLinear", Domain = OnnxDomains.Onnx };
        q.Input.AddRange([input, scaleName, zpName]);
        q.Output.Add(quantized);
        var dq = new NodeProto { Name = tensor + "/DequantizeLinear", OpType = "DequantizeLinear", Domain = OnnxDomains.Onnx };
        dq.Input.AddRange([quantized, scaleName, zpName]);
        dq.Output.Add(output);
        return [q, dq];
    }

    /// <summary>The range record written to conversion.json: tensor → [min, max, scale, zero point].</summary>
    public static System.Text.Json.Nodes.JsonObject ToJson(IReadOnlyDictionary<string, (float Min, float Max)> ranges)
    {
        var json = new System.Text.Json.Nodes.JsonObject();
        foreach (var (name, (min, max)) in ranges.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            var (scale, zp) = Encoding(min, max);
            json[name] = new System.Text.Json.Nodes.JsonArray(min, max, scale, (int)zp);
        }

        return json;
    }

}
