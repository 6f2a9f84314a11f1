namespace Gguf2Qnn.Runtime.CustomOps;

/// <summary>
/// ONNX Runtime's status codes (<c>OrtErrorCode</c> in onnxruntime_error_code.h, 1.31.1, in declaration order;
/// the managed package keeps its own copy internal).
/// </summary>
public enum OrtErrorCode
{
    /// <summary>ORT_OK: success.</summary>
    Ok = 0,

    /// <summary>ORT_FAIL: a failure with no more specific code.</summary>
    Fail = 1,

    /// <summary>ORT_INVALID_ARGUMENT.</summary>
    InvalidArgument = 2,

    /// <summary>ORT_NO_SUCHFILE.</summary>
    NoSuchFile = 3,

    /// <summary>ORT_NO_MODEL.</summary>
    NoModel = 4,

    /// <summary>ORT_ENGINE_ERROR.</summary>
    EngineError = 5,

    /// <summary>ORT_RUNTIME_EXCEPTION.</summary>
    RuntimeException = 6,

    /// <summary>ORT_INVALID_PROTOBUF.</summary>
    InvalidProtobuf = 7,

    /// <summary>ORT_MODEL_LOADED.</summary>
    ModelLoaded = 8,

    /// <summary>ORT_NOT_IMPLEMENTED.</summary>
    NotImplemented = 9,

    /// <summary>ORT_INVALID_GRAPH.</summary>
    InvalidGraph = 10,

    /// <summary>ORT_EP_FAIL.</summary>
    EpFail = 11,
}

/// <summary>
/// An ONNX Runtime C API call made by the custom-op bridge failed (the <c>OrtStatus</c>'s code and message), or a
/// kernel wants to fail with a specific ORT error code: thrown from <see cref="ICustomOpKernel.Compute"/>, its
/// <see cref="ErrorCode"/> becomes the returned status's code (any other exception gives <see cref="OrtErrorCode.Fail"/>).
/// </summary>
public sealed class CustomOpException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="errorCode">The ORT error code.</param>
    /// <param name="message">The message.</param>
    public CustomOpException(OrtErrorCode errorCode, string message)
        : base(message) => ErrorCode = errorCode;

    /// <summary>The ORT error code.</summary>
    public OrtErrorCode ErrorCode { get; }
}
