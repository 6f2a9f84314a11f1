namespace Gguf2Qnn.Conversion;

/// <summary>
/// How one GGUF tensor became ONNX initializers (a row of conversion.json's <c>tensors</c>).
/// </summary>
/// <param name="Name">GGUF tensor name.</param>
/// <param name="GgmlType">ggml type name (F32, Q4_0...).</param>
/// <param name="Shape">GGUF ne, innermost first.</param>
/// <param name="OnnxOp">The op that consumes it (MatMul, MatMulNBits, Gather, SimplifiedLayerNormalization, Add...).</param>
/// <param name="Initializers">The initializers written for it.</param>
/// <param name="Encoding">Stored form, e.g. <c>float32[K,N]</c>, <c>MatMulNBits bits=4 block=32</c>.</param>
/// <param name="Exact">True when the stored values equal ggml's dequantized values bit for bit.</param>
/// <param name="MaxAbsError">Largest |stored − ggml dequantized| (0 when exact).</param>
public sealed record TensorMapping(
    string Name,
    string GgmlType,
    long[] Shape,
    string OnnxOp,
    IReadOnlyList<string> Initializers,
    string Encoding,
    bool Exact,
    double MaxAbsError);
