using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.ML.OnnxRuntime;

namespace Gguf2Qnn.Runtime.CustomOps;

/// <summary>
/// The ONNX Runtime C API entries the custom-op bridge calls, read out of <c>struct OrtApi</c> (a table of function
/// pointers in declaration order) by index.
/// </summary>
/// <remarks>
/// <para>Source: <c>onnxruntime_c_api.h</c> of the Microsoft.ML.OnnxRuntime 1.31.1 package
/// (<c>build/native/include</c>). Each index is the member's position in <c>struct OrtApi</c>; they were computed
/// with <c>offsetof(OrtApi, Member) / sizeof(void*)</c> by a C compiler over that header, and the tests call each
/// group of entries (status round trip, attribute reads, a session run with a custom op) to prove them.</para>
/// <para>The library is the one the managed package loads: it is resolved through
/// <see cref="NativeLibrary.Load(string, Assembly, DllImportSearchPath?)"/> with the managed package's assembly, so
/// its DllImport resolver and probing paths apply and both sides share one ONNX Runtime (an
/// <c>OrtSessionOptions*</c> from the managed <see cref="SessionOptions"/> is only valid for that copy).</para>
/// <para>Every entry uses the platform's C calling convention (<c>ORT_API_CALL</c> is empty except on 32-bit
/// Windows, which .NET 10 does not target with this package). Opaque ORT types are passed as <see cref="nint"/>.</para>
/// </remarks>
internal static unsafe class OrtApiTable
{
    /// <summary><c>ORT_API_VERSION</c> in onnxruntime_c_api.h (line 43) of ONNX Runtime 1.31.1.</summary>
    internal const uint ApiVersion = 31;

    /// <summary>The native library name the managed package imports (NativeMethods.DllName).</summary>
    internal const string LibraryName = "onnxruntime";

    // Positions in struct OrtApi (onnxruntime_c_api.h, 1.31.1; the header line of each declaration in brackets).
    internal const int CreateStatusIndex = 0;                              // [1381] CreateStatus
    internal const int GetErrorCodeIndex = 1;                              // [1388] GetErrorCode
    internal const int GetErrorMessageIndex = 2;                           // [1395] GetErrorMessage
    internal const int CreateCustomOpDomainIndex = 26;                     // [1700] CreateCustomOpDomain
    internal const int CustomOpDomainAddIndex = 27;                        // [1711] CustomOpDomain_Add
    internal const int AddCustomOpDomainIndex = 28;                        // [1726] AddCustomOpDomain
    internal const int GetTensorMutableDataIndex = 51;                     // [2007] GetTensorMutableData
    internal const int KernelInfoGetAttributeFloatIndex = 85;              // [2435] KernelInfoGetAttribute_float
    internal const int KernelInfoGetAttributeInt64Index = 86;              // [2446] KernelInfoGetAttribute_int64
    internal const int KernelInfoGetAttributeStringIndex = 87;             // [2471] KernelInfoGetAttribute_string
    internal const int KernelContextGetInputCountIndex = 88;               // [2483] KernelContext_GetInputCount
    internal const int KernelContextGetOutputCountIndex = 89;              // [2489] KernelContext_GetOutputCount
    internal const int KernelContextGetInputIndex = 90;                    // [2502] KernelContext_GetInput
    internal const int KernelContextGetOutputIndex = 91;                   // [2518] KernelContext_GetOutput
    internal const int ReleaseStatusIndex = 93;                            // [2528] ORT_CLASS_RELEASE(Status)
    internal const int ReleaseCustomOpDomainIndex = 101;                   // [2560] ORT_CLASS_RELEASE(CustomOpDomain)
    internal const int KernelInfoGetAttributeArrayFloatIndex = 162;        // [3397] KernelInfoGetAttributeArray_float
    internal const int KernelInfoGetAttributeArrayInt64Index = 163;        // [3421] KernelInfoGetAttributeArray_int64
    internal const int KernelInfoGetInputCountIndex = 230;                 // [4590] KernelInfo_GetInputCount
    internal const int KernelInfoGetNodeNameIndex = 244;                   // [4854] KernelInfo_GetNodeName
    internal const int KernelInfoGetConstantInputTensorIndex = 249;        // [4942] KernelInfoGetConstantInput_tensor
    internal const int KernelContextParallelForIndex = 274;                // [5297] KernelContext_ParallelFor
    internal const int GetTensorSizeInBytesIndex = 318;                    // [5869] GetTensorSizeInBytes
    internal const int GetTensorElementTypeAndShapeDataReferenceIndex = 414; // [7464] GetTensorElementTypeAndShapeDataReference

    /// <summary><c>struct OrtApiBase</c> [992]: <c>GetApi(uint32_t version)</c>, then <c>GetVersionString(void)</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct OrtApiBase
    {
        public delegate* unmanaged[Cdecl]<uint, void**> GetApi;
        public delegate* unmanaged[Cdecl]<byte*> GetVersionString;
    }

    // OrtStatus* CreateStatus(OrtErrorCode code, const char* msg)
    internal static readonly delegate* unmanaged[Cdecl]<int, byte*, nint> CreateStatus;

    // OrtErrorCode GetErrorCode(const OrtStatus* status)
    internal static readonly delegate* unmanaged[Cdecl]<nint, int> GetErrorCode;

    // const char* GetErrorMessage(const OrtStatus* status)
    internal static readonly delegate* unmanaged[Cdecl]<nint, byte*> GetErrorMessage;

    // void ReleaseStatus(OrtStatus* input)
    internal static readonly delegate* unmanaged[Cdecl]<nint, void> ReleaseStatus;

    // OrtStatus* CreateCustomOpDomain(const char* domain, OrtCustomOpDomain** out)
    internal static readonly delegate* unmanaged[Cdecl]<byte*, nint*, nint> CreateCustomOpDomain;

    // OrtStatus* CustomOpDomain_Add(OrtCustomOpDomain* custom_op_domain, const OrtCustomOp* op)
    internal static readonly delegate* unmanaged[Cdecl]<nint, void*, nint> CustomOpDomainAdd;

    // OrtStatus* AddCustomOpDomain(OrtSessionOptions* options, OrtCustomOpDomain* custom_op_domain)
    internal static readonly delegate* unmanaged[Cdecl]<nint, nint, nint> AddCustomOpDomain;

    // void ReleaseCustomOpDomain(OrtCustomOpDomain* input)
    internal static readonly delegate* unmanaged[Cdecl]<nint, void> ReleaseCustomOpDomain;

    // OrtStatus* GetTensorMutableData(OrtValue* value, void** out)
    internal static readonly delegate* unmanaged[Cdecl]<nint, void**, nint> GetTensorMutableData;

    // OrtStatus* KernelInfoGetAttribute_float(const OrtKernelInfo* info, const char* name, float* out)
    internal static readonly delegate* unmanaged[Cdecl]<nint, byte*, float*, nint> KernelInfoGetAttributeFloat;

    // OrtStatus* KernelInfoGetAttribute_int64(const OrtKernelInfo* info, const char* name, int64_t* out)
    internal static readonly delegate* unmanaged[Cdecl]<nint, byte*, long*, nint> KernelInfoGetAttributeInt64;

    // OrtStatus* KernelInfoGetAttribute_string(const OrtKernelInfo* info, const char* name, char* out, size_t* size)
    internal static readonly delegate* unmanaged[Cdecl]<nint, byte*, byte*, nuint*, nint> KernelInfoGetAttributeString;

    // OrtStatus* KernelInfoGetAttributeArray_float(const OrtKernelInfo* info, const char* name, float* out, size_t* size)
    internal static readonly delegate* unmanaged[Cdecl]<nint, byte*, float*, nuint*, nint> KernelInfoGetAttributeArrayFloat;

    // OrtStatus* KernelInfoGetAttributeArray_int64(const OrtKernelInfo* info, const char* name, int64_t* out, size_t* size)
    internal static readonly delegate* unmanaged[Cdecl]<nint, byte*, long*, nuint*, nint> KernelInfoGetAttributeArrayInt64;

    // OrtStatus* KernelInfo_GetInputCount(const OrtKernelInfo* info, size_t* out)
    internal static readonly delegate* unmanaged[Cdecl]<nint, nuint*, nint> KernelInfoGetInputCount;

    // OrtStatus* KernelInfo_GetNodeName(const OrtKernelInfo* info, char* out, size_t* size)
    internal static readonly delegate* unmanaged[Cdecl]<nint, byte*, nuint*, nint> KernelInfoGetNodeName;

    // OrtStatus* KernelInfoGetConstantInput_tensor(const OrtKernelInfo* info, size_t index, int* is_constant, const OrtValue** out)
    internal static readonly delegate* unmanaged[Cdecl]<nint, nuint, int*, nint*, nint> KernelInfoGetConstantInputTensor;

    // OrtStatus* KernelContext_GetInputCount(const OrtKernelContext* context, size_t* out)
    internal static readonly delegate* unmanaged[Cdecl]<nint, nuint*, nint> KernelContextGetInputCount;

    // OrtStatus* KernelContext_GetOutputCount(const OrtKernelContext* context, size_t* out)
    internal static readonly delegate* unmanaged[Cdecl]<nint, nuint*, nint> KernelContextGetOutputCount;

    // OrtStatus* KernelContext_GetInput(const OrtKernelContext* context, size_t index, const OrtValue** out)
    internal static readonly delegate* unmanaged[Cdecl]<nint, nuint, nint*, nint> KernelContextGetInput;

    // OrtStatus* KernelContext_GetOutput(OrtKernelContext* context, size_t index, const int64_t* dim_values, size_t dim_count, OrtValue** out)
    internal static readonly delegate* unmanaged[Cdecl]<nint, nuint, long*, nuint, nint*, nint> KernelContextGetOutput;

    // OrtStatus* KernelContext_ParallelFor(const OrtKernelContext* context, void (*fn)(void*, size_t), size_t total, size_t num_batch, void* usr_data)
    internal static readonly delegate* unmanaged[Cdecl]<nint, delegate* unmanaged[Cdecl]<void*, nuint, void>, nuint, nuint, void*, nint> KernelContextParallelFor;

    // OrtStatus* GetTensorSizeInBytes(const OrtValue* ort_value, size_t* size)
    internal static readonly delegate* unmanaged[Cdecl]<nint, nuint*, nint> GetTensorSizeInBytes;

    // OrtStatus* GetTensorElementTypeAndShapeDataReference(const OrtValue* value, ONNXTensorElementDataType* elem_type, const int64_t** shape_data, size_t* shape_data_count)
    internal static readonly delegate* unmanaged[Cdecl]<nint, int*, long**, nuint*, nint> GetTensorElementTypeAndShapeDataReference;

    /// <summary>The <c>OrtApiBase</c> of the loaded library (<c>OrtGetApiBase()</c>).</summary>
    internal static readonly OrtApiBase* Base;

    /// <summary>The <c>const OrtApi*</c> for <see cref="ApiVersion"/>.</summary>
    internal static readonly void** Table;

    static OrtApiTable()
    {
        // Same library handle as the managed package: load by its name in the context of its assembly.
        nint library = NativeLibrary.Load(LibraryName, typeof(SessionOptions).Assembly, null);
        var getApiBase = (delegate* unmanaged[Cdecl]<OrtApiBase*>)NativeLibrary.GetExport(library, "OrtGetApiBase");
        Base = getApiBase();
        Table = Base->GetApi(ApiVersion);
        if (Table == null)
        {
            string version = Marshal.PtrToStringUTF8((nint)Base->GetVersionString()) ?? "unknown";
            throw new NotSupportedException(
                $"ONNX Runtime {version} does not provide C API version {ApiVersion} (ONNX Runtime 1.31 or newer is needed for gguf2qnn's custom ops).");
        }

        CreateStatus = (delegate* unmanaged[Cdecl]<int, byte*, nint>)Table[CreateStatusIndex];
        GetErrorCode = (delegate* unmanaged[Cdecl]<nint, int>)Table[GetErrorCodeIndex];
        GetErrorMessage = (delegate* unmanaged[Cdecl]<nint, byte*>)Table[GetErrorMessageIndex];
        ReleaseStatus = (delegate* unmanaged[Cdecl]<nint, void>)Table[ReleaseStatusIndex];
        CreateCustomOpDomain = (delegate* unmanaged[Cdecl]<byte*, nint*, nint>)Table[CreateCustomOpDomainIndex];
        CustomOpDomainAdd = (delegate* unmanaged[Cdecl]<nint, void*, nint>)Table[CustomOpDomainAddIndex];
        AddCustomOpDomain = (delegate* unmanaged[Cdecl]<nint, nint, nint>)Table[AddCustomOpDomainIndex];
        ReleaseCustomOpDomain = (delegate* unmanaged[Cdecl]<nint, void>)Table[ReleaseCustomOpDomainIndex];
        GetTensorMutableData = (delegate* unmanaged[Cdecl]<nint, void**, nint>)Table[GetTensorMutableDataIndex];
        KernelInfoGetAttributeFloat = (delegate* unmanaged[Cdecl]<nint, byte*, float*, nint>)Table[KernelInfoGetAttributeFloatIndex];
        KernelInfoGetAttributeInt64 = (delegate* unmanaged[Cdecl]<nint, byte*, long*, nint>)Table[KernelInfoGetAttributeInt64Index];
        KernelInfoGetAttributeString = (delegate* unmanaged[Cdecl]<nint, byte*, byte*, nuint*, nint>)Table[KernelInfoGetAttributeStringIndex];
        KernelInfoGetAttributeArrayFloat = (delegate* unmanaged[Cdecl]<nint, byte*, float*, nuint*, nint>)Table[KernelInfoGetAttributeArrayFloatIndex];
        KernelInfoGetAttributeArrayInt64 = (delegate* unmanaged[Cdecl]<nint, byte*, long*, nuint*, nint>)Table[KernelInfoGetAttributeArrayInt64Index];
        KernelInfoGetInputCount = (delegate* unmanaged[Cdecl]<nint, nuint*, nint>)Table[KernelInfoGetInputCountIndex];
        KernelInfoGetNodeName = (delegate* unmanaged[Cdecl]<nint, byte*, nuint*, nint>)Table[KernelInfoGetNodeNameIndex];
        KernelInfoGetConstantInputTensor = (delegate* unmanaged[Cdecl]<nint, nuint, int*, nint*, nint>)Table[KernelInfoGetConstantInputTensorIndex];
        KernelContextGetInputCount = (delegate* unmanaged[Cdecl]<nint, nuint*, nint>)Table[KernelContextGetInputCountIndex];
        KernelContextGetOutputCount = (delegate* unmanaged[Cdecl]<nint, nuint*, nint>)Table[KernelContextGetOutputCountIndex];
        KernelContextGetInput = (delegate* unmanaged[Cdecl]<nint, nuint, nint*, nint>)Table[KernelContextGetInputIndex];
        KernelContextGetOutput = (delegate* unmanaged[Cdecl]<nint, nuint, long*, nuint, nint*, nint>)Table[KernelContextGetOutputIndex];
        KernelContextParallelFor = (delegate* unmanaged[Cdecl]<nint, delegate* unmanaged[Cdecl]<void*, nuint, void>, nuint, nuint, void*, nint>)Table[KernelContextParallelForIndex];
        GetTensorSizeInBytes = (delegate* unmanaged[Cdecl]<nint, nuint*, nint>)Table[GetTensorSizeInBytesIndex];
        GetTensorElementTypeAndShapeDataReference = (delegate* unmanaged[Cdecl]<nint, int*, long**, nuint*, nint>)Table[GetTensorElementTypeAndShapeDataReferenceIndex];
    }

    /// <summary>The loaded library's version string (<c>OrtApiBase::GetVersionString</c>), e.g. "1.31.1".</summary>
    internal static string VersionString => Marshal.PtrToStringUTF8((nint)Base->GetVersionString()) ?? string.Empty;

    /// <summary>
    /// Throws <see cref="OnnxRuntimeException"/> carrying the status's code and message when
    /// <paramref name="status"/> is not null, releasing the status first.
    /// </summary>
    /// <param name="status">An <c>OrtStatus*</c> returned by an API entry (null means success).</param>
    /// <param name="what">The call, for the message.</param>
    internal static void Check(nint status, string what)
    {
        if (status != 0)
        {
            Throw(status, what);
        }
    }

    /// <summary>Reads and releases a non-null status; returns its code and message.</summary>
    internal static (OrtErrorCode Code, string Message) TakeStatus(nint status)
    {
        var code = (OrtErrorCode)GetErrorCode(status);
        string message = Marshal.PtrToStringUTF8((nint)GetErrorMessage(status)) ?? string.Empty;
        ReleaseStatus(status);
        return (code, message);
    }

    /// <summary>
    /// Creates an <c>OrtStatus*</c> (ORT owns and releases it once returned from a callback) with
    /// <paramref name="code"/> and <paramref name="message"/>. Never throws: an unencodable message degrades to
    /// a fixed text.
    /// </summary>
    internal static nint CreateStatusFor(OrtErrorCode code, string message)
    {
        int max = Encoding.UTF8.GetMaxByteCount(message.Length) + 1;
        byte[]? rented = null;
        Span<byte> buffer = max <= 1024 ? stackalloc byte[max] : (rented = new byte[max]);
        int length = Encoding.UTF8.GetBytes(message, buffer);
        buffer[length] = 0;
        fixed (byte* p = buffer)
        {
            return CreateStatus((int)code, p);
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Throw(nint status, string what)
    {
        var (code, message) = TakeStatus(status);
        throw new CustomOpException(code, $"{what} failed ({code}): {message}");
    }
}
