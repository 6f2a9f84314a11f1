using System.Runtime.InteropServices;

namespace Gguf2Qnn.Runtime.CustomOps;

/// <summary>
/// Mirror of <c>struct OrtCustomOp</c> (onnxruntime_c_api.h, 1.31.1, line 7731): a <c>uint32_t version</c> then 25
/// function pointers, in declaration order; 208 bytes on 64-bit (the version is padded to 8 bytes). Callbacks ORT
/// checks for null (CreateKernel and KernelCompute when the V2 forms are set, InferOutputShapeFn, GetStartVersion,
/// GetEndVersion, GetMayInplace, GetAliasMap and their releases) are left null.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct OrtCustomOp
{
    /// <summary>Size in bytes on 64-bit platforms (offsetof and sizeof from the header).</summary>
    internal const int Size64 = 208;

    public uint Version;

    // void* CreateKernel(const OrtCustomOp* op, const OrtApi* api, const OrtKernelInfo* info)
    public void* CreateKernel;

    // const char* GetName(const OrtCustomOp* op)
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, byte*> GetName;

    // const char* GetExecutionProviderType(const OrtCustomOp* op); null result = CPU execution provider
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, byte*> GetExecutionProviderType;

    // ONNXTensorElementDataType GetInputType(const OrtCustomOp* op, size_t index)
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, nuint, int> GetInputType;

    // size_t GetInputTypeCount(const OrtCustomOp* op)
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, nuint> GetInputTypeCount;

    // ONNXTensorElementDataType GetOutputType(const OrtCustomOp* op, size_t index)
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, nuint, int> GetOutputType;

    // size_t GetOutputTypeCount(const OrtCustomOp* op)
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, nuint> GetOutputTypeCount;

    // void KernelCompute(void* op_kernel, OrtKernelContext* context)
    public void* KernelCompute;

    // void KernelDestroy(void* op_kernel)
    public delegate* unmanaged[Cdecl]<void*, void> KernelDestroy;

    // OrtCustomOpInputOutputCharacteristic GetInputCharacteristic(const OrtCustomOp* op, size_t index)
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, nuint, int> GetInputCharacteristic;

    // OrtCustomOpInputOutputCharacteristic GetOutputCharacteristic(const OrtCustomOp* op, size_t index)
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, nuint, int> GetOutputCharacteristic;

    // OrtMemType GetInputMemoryType(const OrtCustomOp* op, size_t index)
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, nuint, int> GetInputMemoryType;

    // int GetVariadicInputMinArity(const OrtCustomOp* op)
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, int> GetVariadicInputMinArity;

    // int GetVariadicInputHomogeneity(const OrtCustomOp* op)
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, int> GetVariadicInputHomogeneity;

    // int GetVariadicOutputMinArity(const OrtCustomOp* op)
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, int> GetVariadicOutputMinArity;

    // int GetVariadicOutputHomogeneity(const OrtCustomOp* op)
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, int> GetVariadicOutputHomogeneity;

    // OrtStatusPtr CreateKernelV2(const OrtCustomOp* op, const OrtApi* api, const OrtKernelInfo* info, void** kernel)
    public delegate* unmanaged[Cdecl]<OrtCustomOp*, void*, nint, void**, nint> CreateKernelV2;

    // OrtStatusPtr KernelComputeV2(void* op_kernel, OrtKernelContext* context)
    public delegate* unmanaged[Cdecl]<void*, nint, nint> KernelComputeV2;

    // OrtStatusPtr InferOutputShapeFn(const OrtCustomOp* op, OrtShapeInferContext*)
    public void* InferOutputShapeFn;

    // int GetStartVersion(const OrtCustomOp* op)
    public void* GetStartVersion;

    // int GetEndVersion(const OrtCustomOp* op)
    public void* GetEndVersion;

    // size_t GetMayInplace(int** input_index, int** output_index)
    public void* GetMayInplace;

    // void ReleaseMayInplace(int* input_index, int* output_index)
    public void* ReleaseMayInplace;

    // size_t GetAliasMap(int** input_index, int** output_index)
    public void* GetAliasMap;

    // void ReleaseAliasMap(int* input_index, int* output_index)
    public void* ReleaseAliasMap;
}

/// <summary>
/// One registered op in native memory: the <see cref="OrtCustomOp"/> ORT sees (first, so an <c>OrtCustomOp*</c> is a
/// <c>NativeCustomOp*</c>), then what the callbacks answer from without touching managed objects: the UTF-8 name
/// and the input/output element types and characteristics. Allocated once with <see cref="NativeMemory"/> and never
/// freed (see <see cref="CustomOpDomain"/>).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeCustomOp
{
    public OrtCustomOp Op;

    /// <summary>GCHandle (normal) of the <see cref="ManagedCustomOp"/>.</summary>
    public nint Managed;

    /// <summary>Null-terminated UTF-8 op name.</summary>
    public byte* Name;

    public nuint InputCount;

    /// <summary>ONNXTensorElementDataType per input.</summary>
    public int* InputTypes;

    /// <summary>OrtCustomOpInputOutputCharacteristic per input (0 required, 1 optional).</summary>
    public int* InputCharacteristics;

    public nuint OutputCount;

    public int* OutputTypes;

    public int* OutputCharacteristics;
}
