using Gguf2Qnn.Onnx;
using Gguf2Qnn.Onnx.Proto;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>
/// Swaps, in a loaded ONNX model, each MatMulNBits node that holds ggml Q4_0 weights for gguf2qnn's own
/// <see cref="OpType"/> node (domain <see cref="Domain"/>), run by <see cref="Q4_0MatMul"/> through an ONNX Runtime
/// custom op. The artifact on disk is not changed: the rewrite happens in memory when a session opens, so the same
/// folder still runs on any ONNX Runtime (and ONNX Runtime GenAI) with MatMulNBits.
/// </summary>
/// <remarks>
/// A node qualifies when it is com.microsoft MatMulNBits (ORT docs/ContribOperators.md) with bits = 4,
/// block_size = 32, K a multiple of 32, no zero_points and no g_idx, and its B (uint8) and scales (float32) inputs
/// are initializers: exactly what the cpu target writes for a Q4_0 weight. The new node keeps the inputs A, B,
/// scales and the optional bias (input 5), and the attributes K and N.
/// </remarks>
public static class Q4_0KernelRewriter
{
    /// <summary>The custom-op domain of gguf2qnn's kernels.</summary>
    public const string Domain = "com.gguf2qnn";

    /// <summary>The op type of the Q4_0 matmul: Y [..., N] = A [..., K] · Wᵀ (+ bias).</summary>
    public const string OpType = "MatMulQ4_0";

    /// <summary>Rewrites qualifying nodes in place and returns how many were rewritten (0: the model is unchanged).</summary>
    /// <exception cref="ArgumentNullException">No model.</exception>
    public static int Rewrite(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph;
        if (graph is null) return 0;
        var initializers = new Dictionary<string, TensorProto>();
        foreach (var t in graph.Initializer) initializers[t.Name] = t;

        int count = 0;
        foreach (var node in graph.Node)
        {
            if (node.OpType != "MatMulNBits" || node.Domain != OnnxDomains.Microsoft) continue;
            long bits = Int(node, "bits", 4), blockSize = Int(node, "block_size", 0), k = Int(node, "K", 0), n = Int(node, "N", 0);
            if (bits != 4 || blockSize != Q4_0PackedWeights.BlockSize || k <= 0 || k % 32 != 0 || n <= 0 || k > int.MaxValue || n > int.MaxValue) continue;
            var inputs = node.Input;
            if (inputs.Count < 3 || (inputs.Count > 3 && inputs[3].Length != 0) || (inputs.Count > 4 && inputs[4].Length != 0)) continue;
            if (!initializers.TryGetValue(inputs[1], out var b) || b.DataType != (int)TensorProto.Types.DataType.Uint8) continue;
            if (!initializers.TryGetValue(inputs[2], out var scales) || scales.DataType != (int)TensorProto.Types.DataType.Float) continue;

            string bias = inputs.Count > 5 ? inputs[5] : string.Empty;
            var kept = new[] { inputs[0], inputs[1], inputs[2], bias };
            inputs.Clear();
            inputs.AddRange(bias.Length == 0 ? kept[..3] : kept);
            node.OpType = OpType;
            node.Domain = Domain;
            var attributes = node.Attribute.Where(a => a.Name is "K" or "N").ToArray();
            node.Attribute.Clear();
            node.Attribute.AddRange(attributes);
            count++;
        }

        if (count > 0)
        {
            FoldBiasAdds(graph, initializers);
        }

        if (count > 0 && !model.OpsetImport.Any(o => o.Domain == Domain))
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = Domain, Version = 1 });
        }

        return count;
    }

    /// <summary>
    /// Moves a bias Add into the new node's bias input: where the node's only consumer is an ai.onnx Add of its output
    /// and a float32 initializer of shape [N], and the output is not a graph output, the Add goes away.
    /// </summary>
    private static void FoldBiasAdds(GraphProto graph, Dictionary<string, TensorProto> initializers)
    {
        var consumers = new Dictionary<string, List<NodeProto>>();
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input)
            {
                if (!consumers.TryGetValue(input, out var list)) consumers[input] = list = [];
                list.Add(node);
            }
        }

        var graphOutputs = graph.Output.Select(o => o.Name).ToHashSet();
        var removed = new HashSet<NodeProto>();
        foreach (var node in graph.Node)
        {
            if (node.OpType != OpType || node.Domain != Domain || node.Input.Count != 3 || node.Output.Count != 1) continue;
            string y = node.Output[0];
            if (graphOutputs.Contains(y) || !consumers.TryGetValue(y, out var users) || users.Count != 1) continue;
            var add = users[0];
            if (add.OpType != "Add" || add.Domain.Length != 0 || add.Input.Count != 2 || add.Output.Count != 1) continue;
            string other = add.Input[0] == y ? add.Input[1] : add.Input[1] == y ? add.Input[0] : string.Empty;
            long n = Int(node, "N", 0);
            if (!initializers.TryGetValue(other, out var bias) || bias.DataType != (int)TensorProto.Types.DataType.Float
                || bias.Dims.Count != 1 || bias.Dims[0] != n) continue;
            node.Input.Add(other);
            node.Output[0] = add.Output[0];
            removed.Add(add);
        }

        if (removed.Count == 0) return;
        var kept = graph.Node.Where(n => !removed.Contains(n)).ToArray();
        graph.Node.Clear();
        graph.Node.AddRange(kept);
    }

    private static long Int(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;
}
