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
/// block_size = 32, accuracy_level = 4 (activations quantized to int8 per block, which is what the kernel computes, as
/// llama.cpp does), K a multiple of 32, no zero_points and no g_idx, and its B (uint8) and scales (float32) inputs
/// are constant initializers (not also graph inputs): exactly what the cpu target writes for a Q4_0 weight (<c>convert --accuracy-level 0</c> keeps
/// float activations, and ONNX Runtime's kernels). The new node keeps the inputs A, B,
/// scales and the optional bias (input 5), and the attributes K and N.
/// </remarks>
public static class Q4_0KernelRewriter
{
    /// <summary>The custom-op domain of gguf2qnn's kernels.</summary>
    public const string Domain = "com.gguf2qnn";

    /// <summary>The op type of the Q4_0 matmul: Y [..., N] = A [..., K] · Wᵀ (+ bias).</summary>
    public const string OpType = "MatMulQ4_0";

    /// <summary>Rewrites qualifying nodes in place and says what changed (<see cref="Q4_0Rewrite.Nodes"/> = 0: nothing).</summary>
    /// <exception cref="ArgumentNullException">No model.</exception>
    public static Q4_0Rewrite Rewrite(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph;
        if (graph is null) return default;
        var initializers = MatMulNBitsNodes.ConstantInitializers(graph);

        int count = 0;
        foreach (var node in graph.Node)
        {
            if (!MatMulNBitsNodes.TryMatch(node, 4, Q4_0PackedWeights.BlockSize, initializers, out _, out _)) continue;
            long k = MatMulNBitsNodes.Int(node, "K", 0), n = MatMulNBitsNodes.Int(node, "N", 0);
            if (k <= 0 || k % 32 != 0 || n <= 0 || k > int.MaxValue || n > int.MaxValue) continue;
            MatMulNBitsNodes.Replace(node, OpType);
            node.Attribute.Add(Ints("split", [n]));
            count++;
        }

        int biasAdds = 0, splits = 0, swiGlus = 0;
        if (count > 0)
        {
            // Values that must keep being produced: graph outputs, and names a subgraph (If, Loop, Scan bodies) reads
            // from this scope, which the consumer lists below (this graph's nodes) do not show.
            var pinned = graph.Output.Select(o => o.Name).ToHashSet();
            foreach (var node in graph.Node) AddSubgraphReads(node, pinned);
            biasAdds = FoldBiasAdds(graph, initializers, pinned);
            (splits, swiGlus) = FuseSplits(graph, initializers, pinned);
        }

        if (count > 0) MatMulNBitsNodes.ImportDomain(model);
        return new Q4_0Rewrite(count, biasAdds, splits, swiGlus);
    }

    /// <summary>
    /// Moves a bias Add into the new node's bias input: where the node's only consumer is an ai.onnx Add of its output
    /// and a float32 initializer of shape [N], and the output is not pinned (a graph output or read by a subgraph), the
    /// Add goes away.
    /// </summary>
    private static int FoldBiasAdds(GraphProto graph, Dictionary<string, TensorProto> initializers, HashSet<string> pinned)
    {
        var consumers = Consumers(graph);

        var removed = new HashSet<NodeProto>();
        foreach (var node in graph.Node)
        {
            if (node.OpType != OpType || node.Domain != Domain || node.Input.Count != 3 || node.Output.Count != 1) continue;
            string y = node.Output[0];
            if (pinned.Contains(y) || !consumers.TryGetValue(y, out var users) || users.Count != 1) continue;
            var add = users[0];
            if (add.OpType != "Add" || add.Domain.Length != 0 || add.Input.Count != 2 || add.Output.Count != 1) continue;
            string other = add.Input[0] == y ? add.Input[1] : add.Input[1] == y ? add.Input[0] : string.Empty;
            long n = MatMulNBitsNodes.Int(node, "N", 0);
            if (!initializers.TryGetValue(other, out var bias) || bias.DataType != (int)TensorProto.Types.DataType.Float
                || bias.Dims.Count != 1 || bias.Dims[0] != n) continue;
            node.Input.Add(other);
            node.Output[0] = add.Output[0];
            removed.Add(add);
        }

        Remove(graph, removed);
        return removed.Count;
    }

    /// <summary>
    /// Lets the new nodes write what follows them. A Split of the output along the last axis into two or three parts
    /// (all but the last a multiple of 16 wide) becomes the node's <c>split</c> outputs; and where the Split has two
    /// equal halves feeding exactly silu(first) · second (Sigmoid, Mul, Mul: the cpu target's SwiGLU MLP) the node
    /// writes that product (<c>swiglu</c> = 1). Values used elsewhere, graph outputs or values a subgraph reads are
    /// left alone.
    /// </summary>
    private static (int Splits, int SwiGlus) FuseSplits(GraphProto graph, Dictionary<string, TensorProto> initializers, HashSet<string> pinned)
    {
        var consumers = Consumers(graph);

        List<NodeProto> Only(string value) =>
            pinned.Contains(value) || !consumers.TryGetValue(value, out var users) ? [] : users;
        var removed = new HashSet<NodeProto>();
        int splits = 0, swiGlus = 0;
        foreach (var node in graph.Node)
        {
            if (node.OpType != OpType || node.Domain != Domain || node.Output.Count != 1) continue;
            long n = MatMulNBitsNodes.Int(node, "N", 0);
            var users = Only(node.Output[0]);
            if (users.Count != 1 || users[0] is not { OpType: "Split", Domain: "" } split) continue;
            if (split.Input.Count != 2 || !initializers.TryGetValue(split.Input[1], out var sizesTensor)) continue;
            long axis = MatMulNBitsNodes.Int(split, "axis", 0);
            if (axis != -1 || split.Output.Count is < 2 or > 3 || split.Output.Any(o => o.Length == 0)) continue;
            var sizes = Int64s(sizesTensor);
            if (sizes is null || sizes.Length != split.Output.Count || sizes.Sum() != n || sizes.Any(w => w <= 0)
                || sizes[..^1].Any(w => w % Q4_0PackedWeights.PanelRows != 0)) continue;

            if (sizes.Length == 2 && sizes[0] == sizes[1] && n % (2 * Q4_0PackedWeights.PanelRows) == 0
                && MatchSwiGlu(split.Output[0], split.Output[1], Only) is { } swiGlu)
            {
                node.Output[0] = swiGlu.Output;
                node.Attribute.Add(new AttributeProto { Name = "swiglu", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
                removed.Add(split);
                removed.UnionWith(swiGlu.Nodes);
                swiGlus++;
                continue;
            }

            node.Output.Clear();
            node.Output.AddRange(split.Output);
            var kept = node.Attribute.Where(a => a.Name != "split").ToArray();
            node.Attribute.Clear();
            node.Attribute.AddRange(kept);
            node.Attribute.Add(Ints("split", sizes));
            removed.Add(split);
            splits++;
        }

        Remove(graph, removed);
        return (splits, swiGlus);
    }

    /// <summary>The nodes of <paramref name="graph"/> reading each value name (this graph's nodes only).</summary>
    private static Dictionary<string, List<NodeProto>> Consumers(GraphProto graph)
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

        return consumers;
    }

    /// <summary>Drops <paramref name="removed"/> from the graph's nodes, keeping the order of the rest.</summary>
    private static void Remove(GraphProto graph, HashSet<NodeProto> removed)
    {
        if (removed.Count == 0) return;
        var kept = graph.Node.Where(n => !removed.Contains(n)).ToArray();
        graph.Node.Clear();
        graph.Node.AddRange(kept);
    }

    // gate → Sigmoid → s; Mul(gate, s) → a; Mul(a, up) → y, each value used by those nodes only.
    private static (string Output, NodeProto[] Nodes)? MatchSwiGlu(string gate, string up, Func<string, List<NodeProto>> users)
    {
        var gateUsers = users(gate);
        if (gateUsers.Count != 2) return null;
        var sigmoid = gateUsers.FirstOrDefault(u => u is { OpType: "Sigmoid", Domain: "" } && u.Input.Count == 1);
        var silu = gateUsers.FirstOrDefault(u => u is { OpType: "Mul", Domain: "" });
        if (sigmoid is null || silu is null || sigmoid.Output.Count != 1) return null;
        if (!SameInputs(silu, gate, sigmoid.Output[0]) || users(sigmoid.Output[0]).Count != 1 || silu.Output.Count != 1) return null;
        var siluUsers = users(silu.Output[0]);
        var upUsers = users(up);
        if (siluUsers.Count != 1 || upUsers.Count != 1 || siluUsers[0] != upUsers[0]) return null;
        var gated = siluUsers[0];
        if (gated is not { OpType: "Mul", Domain: "" } || !SameInputs(gated, silu.Output[0], up) || gated.Output.Count != 1) return null;
        return (gated.Output[0], [sigmoid, silu, gated]);
    }

    // Every input name read by nodes of the node's subgraph attributes, at any depth (a superset of the outer values
    // they read: names a subgraph defines itself are harmless extras).
    private static void AddSubgraphReads(NodeProto node, HashSet<string> names)
    {
        foreach (var attribute in node.Attribute)
        {
            foreach (var sub in attribute.G is { } one ? attribute.Graphs.Append(one) : attribute.Graphs)
            {
                foreach (var inner in sub.Node)
                {
                    names.UnionWith(inner.Input);
                    AddSubgraphReads(inner, names);
                }
            }
        }
    }

    private static bool SameInputs(NodeProto node, string a, string b) =>
        node.Input.Count == 2 && ((node.Input[0] == a && node.Input[1] == b) || (node.Input[0] == b && node.Input[1] == a));

    private static long[]? Int64s(TensorProto t)
    {
        if (t.DataType != (int)TensorProto.Types.DataType.Int64 || t.Dims.Count != 1 || t.DataLocation == TensorProto.Types.DataLocation.External) return null;
        if (t.Int64Data.Count > 0) return [.. t.Int64Data];
        var raw = t.RawData.Span;
        if (raw.Length != t.Dims[0] * 8) return null;
        var values = new long[t.Dims[0]];
        for (int i = 0; i < values.Length; i++) values[i] = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..]);
        return values;
    }

    private static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }
}

/// <summary>What <see cref="Q4_0KernelRewriter.Rewrite"/> changed.</summary>
/// <param name="Nodes">MatMulNBits nodes now run by <see cref="Q4_0KernelRewriter.OpType"/>.</param>
/// <param name="BiasAdds">Bias Add nodes folded into them.</param>
/// <param name="Splits">Split nodes replaced by their split outputs.</param>
/// <param name="SwiGlus">Split + silu + Mul chains replaced by their SwiGLU output.</param>
public readonly record struct Q4_0Rewrite(int Nodes, int BiasAdds, int Splits, int SwiGlus);
