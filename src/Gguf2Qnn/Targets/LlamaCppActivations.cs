using Gguf2Qnn.Gguf;
using Gguf2Qnn.Onnx;
using DataType = Gguf2Qnn.Onnx.Proto.TensorProto.Types.DataType;

namespace Gguf2Qnn.Targets;

/// <summary>
/// Optional subgraphs that round a linear layer's input the way llama.cpp's CPU backend does before its matrix
/// product, so that a converted model reproduces llama.cpp's logits closely instead of the exact float result.
/// </summary>
/// <remarks>
/// ggml-cpu converts the activations (src1 of GGML_OP_MUL_MAT) to the weight type's <c>vec_dot_type</c>:
/// F16 → float16, BF16 → bfloat16, Q4_0/Q5_0/Q8_0/IQ4_NL/Q4_1/Q5_1 → Q8_0-style blocks of 32 (d = amax / 127 stored
/// as fp16, q = round-to-nearest-even(x / d)), K-quants → Q8_K blocks of 256 (iscale = −127 / (the value of largest
/// magnitude), q = min(127, round(x · iscale)), d = 1 / iscale in float32). The subgraph applies the same rounding
/// and hands the dequantized activations (d · q, exact in float32) to the float or MatMulNBits product.
/// It costs a few element-wise ops per projection; the default graph leaves activations in float32.
/// </remarks>
internal static class LlamaCppActivations
{
    /// <summary>The activation format ggml uses for a weight of <paramref name="weightType"/>.</summary>
    public static ActivationFormat FormatFor(GgmlType weightType) => weightType switch
    {
        GgmlType.F16 => ActivationFormat.Float16,
        GgmlType.BF16 => ActivationFormat.BFloat16,
        GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0 or GgmlType.IQ4_NL or GgmlType.Q4_1 or GgmlType.Q5_1 => ActivationFormat.Q8_0,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.IQ2_XXS or GgmlType.IQ2_XS
            or GgmlType.IQ2_S or GgmlType.IQ3_XXS or GgmlType.IQ3_S or GgmlType.IQ1_S or GgmlType.IQ1_M or GgmlType.IQ4_XS
            or GgmlType.TQ1_0 or GgmlType.TQ2_0 => ActivationFormat.Q8_K,
        _ => ActivationFormat.Float32,
    };

    /// <summary>Adds the rounding of <paramref name="x"/> (last dimension <paramref name="k"/>) and returns the rounded value's name.</summary>
    public static string Apply(GraphBuilder g, string prefix, string x, ActivationFormat format, int k) => format switch
    {
        ActivationFormat.Float16 => RoundTrip(g, prefix, x, DataType.Float16),
        ActivationFormat.BFloat16 => RoundTrip(g, prefix, x, DataType.Bfloat16),
        ActivationFormat.Q8_0 when k % 32 == 0 => Q8_0(g, prefix, x, k),
        ActivationFormat.Q8_K when k % 256 == 0 => Q8_K(g, prefix, x, k),
        _ => x,
    };

    private static string RoundTrip(GraphBuilder g, string prefix, string x, DataType type)
    {
        string narrow = g.Add("Cast", prefix + "/to_" + type.ToString().ToLowerInvariant(), [x], OnnxDomains.Onnx, Attr.Int("to", (long)type));
        return g.Add("Cast", prefix + "/to_float", [narrow], OnnxDomains.Onnx, Attr.Int("to", (long)DataType.Float));
    }

    private static string Q8_0(GraphBuilder g, string prefix, string x, int k)
    {
        string blocks = g.Add("Reshape", prefix + "/blocks", [x, g.AddInt64(prefix + "/blocks_shape", [4], 0, 0, k / 32, 32)]);
        string axes = g.AddInt64(prefix + "/last_axis", [1], -1);
        string amax = g.Add("ReduceMax", prefix + "/amax", [g.Add("Abs", prefix + "/abs", [blocks]), axes], OnnxDomains.Onnx, Attr.Int("keepdims", 1));
        string d = g.Add("Div", prefix + "/d", [amax, Scalar(g, prefix + "/127", 127f)]);
        string zero = Scalar(g, prefix + "/zero", 0f);
        string isZero = g.Add("Equal", prefix + "/d_is_zero", [d, zero]);
        string id = g.Add("Where", prefix + "/id", [isZero, zero, g.Add("Reciprocal", prefix + "/inverse_d", [d])]);
        string q = g.Add("Round", prefix + "/q", [g.Add("Mul", prefix + "/scaled", [blocks, id])]);
        string d16 = RoundTrip(g, prefix + "/d", d, DataType.Float16);
        string values = g.Add("Mul", prefix + "/dequantized", [q, d16]);
        return g.Add("Reshape", prefix + "/rows", [values, g.AddInt64(prefix + "/rows_shape", [3], 0, 0, k)]);
    }

    private static string Q8_K(GraphBuilder g, string prefix, string x, int k)
    {
        string blocks = g.Add("Reshape", prefix + "/blocks", [x, g.AddInt64(prefix + "/blocks_shape", [4], 0, 0, k / 256, 256)]);
        string abs = g.Add("Abs", prefix + "/abs", [blocks]);
        string index = g.Add("ArgMax", prefix + "/amax_index", [abs], OnnxDomains.Onnx, Attr.Int("axis", -1), Attr.Int("keepdims", 1));
        string max = g.Add("GatherElements", prefix + "/max", [blocks, index], OnnxDomains.Onnx, Attr.Int("axis", -1));
        string zero = Scalar(g, prefix + "/zero", 0f);
        string isZero = g.Add("Equal", prefix + "/max_is_zero", [max, zero]);
        string safeMax = g.Add("Where", prefix + "/safe_max", [isZero, Scalar(g, prefix + "/one", 1f), max]);
        string iscale = g.Add("Div", prefix + "/iscale", [Scalar(g, prefix + "/minus_127", -127f), safeMax]);
        string q = g.Add("Min", prefix + "/q", [g.Add("Round", prefix + "/rounded", [g.Add("Mul", prefix + "/scaled", [blocks, iscale])]), Scalar(g, prefix + "/127", 127f)]);
        string d = g.Add("Where", prefix + "/d", [isZero, zero, g.Add("Reciprocal", prefix + "/inverse", [iscale])]);
        string values = g.Add("Mul", prefix + "/dequantized", [q, d]);
        return g.Add("Reshape", prefix + "/rows", [values, g.AddInt64(prefix + "/rows_shape", [3], 0, 0, k)]);
    }

    private static string Scalar(GraphBuilder g, string name, float value) =>
        g.AddInitializer<float>(name, DataType.Float, [], [value]);
}

/// <summary>How ggml presents activations to a weight type's dot product.</summary>
internal enum ActivationFormat
{
    /// <summary>Unchanged.</summary>
    Float32,

    /// <summary>Rounded to IEEE half.</summary>
    Float16,

    /// <summary>Rounded to bfloat16.</summary>
    BFloat16,

    /// <summary>Blocks of 32 with an fp16 scale.</summary>
    Q8_0,

    /// <summary>Blocks of 256 with a float32 scale.</summary>
    Q8_K,
}
