using Gguf2Qnn.Onnx;
using Gguf2Qnn.Onnx.Proto;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>
/// What <see cref="Q4_0KernelRewriter"/> and <see cref="Q6_KKernelRewriter"/> share: finding the com.microsoft
/// MatMulNBits nodes (ORT docs/ContribOperators.md) of one weight form whose weight is constant, and swapping such a
/// node for one of gguf2qnn's ops in <see cref="Q4_0KernelRewriter.Domain"/>.
/// </summary>
internal static class MatMulNBitsNodes
{
    /// <summary>The graph's initializers by name, less those that are also graph inputs: such an initializer is only a
    /// default the caller may replace (ONNX IR ≥ 4), not a constant weight.</summary>
    public static Dictionary<string, TensorProto> ConstantInitializers(GraphProto graph)
    {
        var graphInputs = graph.Input.Select(i => i.Name).ToHashSet();
        var initializers = new Dictionary<string, TensorProto>();
        foreach (var t in graph.Initializer.Where(t => !graphInputs.Contains(t.Name))) initializers[t.Name] = t;
        return initializers;
    }

    /// <summary>
    /// Whether <paramref name="node"/> is MatMulNBits with <paramref name="bits"/> and <paramref name="blockSize"/>,
    /// accuracy_level 4 (int8 activations, the arithmetic of gguf2qnn's kernels; lower levels ask for float activations
    /// and stay with ONNX Runtime), no zero_points and no g_idx, and B (uint8) and scales (float32) among
    /// <paramref name="initializers"/>; then <paramref name="b"/> and <paramref name="scales"/> are those.
    /// </summary>
    public static bool TryMatch(NodeProto node, long bits, long blockSize, Dictionary<string, TensorProto> initializers, out TensorProto b, out TensorProto scales)
    {
        b = scales = null!;
        if (node.OpType != "MatMulNBits" || node.Domain != OnnxDomains.Microsoft) return false;
        if (Int(node, "accuracy_level", 0) != 4 || Int(node, "bits", 4) != bits || Int(node, "block_size", 0) != blockSize) return false;
        var inputs = node.Input;
        if (inputs.Count < 3 || (inputs.Count > 3 && inputs[3].Length != 0) || (inputs.Count > 4 && inputs[4].Length != 0)) return false;
        return initializers.TryGetValue(inputs[1], out b!) && b.DataType == (int)TensorProto.Types.DataType.Uint8
            && initializers.TryGetValue(inputs[2], out scales!) && scales.DataType == (int)TensorProto.Types.DataType.Float;
    }

    /// <summary>Makes <paramref name="node"/> a <see cref="Q4_0KernelRewriter.Domain"/>.<paramref name="opType"/> node
    /// with the inputs A, B, scales and the optional bias (MatMulNBits input 5), and only the attributes K and N.</summary>
    public static void Replace(NodeProto node, string opType)
    {
        var inputs = node.Input;
        string bias = inputs.Count > 5 ? inputs[5] : string.Empty;
        var kept = new[] { inputs[0], inputs[1], inputs[2], bias };
        inputs.Clear();
        inputs.AddRange(bias.Length == 0 ? kept[..3] : kept);
        node.OpType = opType;
        node.Domain = Q4_0KernelRewriter.Domain;
        var attributes = node.Attribute.Where(a => a.Name is "K" or "N").ToArray();
        node.Attribute.Clear();
        node.Attribute.AddRange(attributes);
    }

    /// <summary>Adds <see cref="Q4_0KernelRewriter.Domain"/> version 1 to the model's opset imports unless it is there.</summary>
    public static void ImportDomain(ModelProto model)
    {
        if (!model.OpsetImport.Any(o => o.Domain == Q4_0KernelRewriter.Domain))
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = Q4_0KernelRewriter.Domain, Version = 1 });
        }
    }

    /// <summary>The integer attribute <paramref name="name"/> of <paramref name="node"/>, or <paramref name="fallback"/>.</summary>
    public static long Int(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;
}
