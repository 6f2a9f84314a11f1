namespace Gguf2Qnn.Onnx;

/// <summary>
/// Operator-set domains, versions and the IR version gguf2qnn writes.
/// Source: onnx/onnx.proto (IR version 10 is required by ai.onnx opset 21) and ONNX Runtime's
/// docs/ContribOperators.md (every com.microsoft op used here is "available since version 1").
/// </summary>
public static class OnnxDomains
{
    /// <summary>The default ai.onnx domain, written as the empty string.</summary>
    public const string Onnx = "";

    /// <summary>ONNX Runtime's contrib-op domain (GroupQueryAttention, MatMulNBits, SkipSimplifiedLayerNormalization).</summary>
    public const string Microsoft = "com.microsoft";

    /// <summary>The ai.onnx opset imported by every model we write.</summary>
    public const long OnnxOpset = 21;

    /// <summary>The com.microsoft opset imported by every model we write.</summary>
    public const long MicrosoftOpset = 1;

    /// <summary>ModelProto.ir_version written (IR 10 introduced UINT4/INT4 and goes with opset 21).</summary>
    public const long IrVersion = 10;
}
