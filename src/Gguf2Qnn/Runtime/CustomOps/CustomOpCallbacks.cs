using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Gguf2Qnn.Runtime.CustomOps;

/// <summary>
/// The <see cref="OrtCustomOp"/> callbacks ORT calls (C calling convention). Schema queries answer from the
/// <see cref="NativeCustomOp"/> block alone; the kernel entries catch every exception and turn it into an
/// <c>OrtStatus*</c> (ORT_FAIL, or a <see cref="CustomOpException"/>'s code), so no managed exception ever unwinds
/// into native frames.
/// </summary>
internal static unsafe class CustomOpCallbacks
{
    // ORT_FAIL status used when even building the message fails.
    private static ReadOnlySpan<byte> FallbackMessage => "gguf2qnn custom op failed (the error could not be described)\0"u8;

    /// <summary>Fills the callback pointers of <paramref name="op"/>.</summary>
    internal static void Fill(OrtCustomOp* op)
    {
        op->Version = OrtApiTable.ApiVersion;
        op->GetName = &GetName;
        op->GetExecutionProviderType = &GetExecutionProviderType;
        op->GetInputType = &GetInputType;
        op->GetInputTypeCount = &GetInputTypeCount;
        op->GetOutputType = &GetOutputType;
        op->GetOutputTypeCount = &GetOutputTypeCount;
        op->KernelDestroy = &KernelDestroy;
        op->GetInputCharacteristic = &GetInputCharacteristic;
        op->GetOutputCharacteristic = &GetOutputCharacteristic;
        op->GetInputMemoryType = &GetInputMemoryType;
        op->GetVariadicInputMinArity = &GetVariadicMinArity;
        op->GetVariadicInputHomogeneity = &GetVariadicHomogeneity;
        op->GetVariadicOutputMinArity = &GetVariadicMinArity;
        op->GetVariadicOutputHomogeneity = &GetVariadicHomogeneity;
        op->CreateKernelV2 = &CreateKernelV2;
        op->KernelComputeV2 = &KernelComputeV2;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte* GetName(OrtCustomOp* op) => ((NativeCustomOp*)op)->Name;

    // Null: the CPU execution provider.
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte* GetExecutionProviderType(OrtCustomOp* op) => null;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int GetInputType(OrtCustomOp* op, nuint index)
    {
        var n = (NativeCustomOp*)op;
        return index < n->InputCount ? n->InputTypes[index] : 0;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nuint GetInputTypeCount(OrtCustomOp* op) => ((NativeCustomOp*)op)->InputCount;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int GetOutputType(OrtCustomOp* op, nuint index)
    {
        var n = (NativeCustomOp*)op;
        return index < n->OutputCount ? n->OutputTypes[index] : 0;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nuint GetOutputTypeCount(OrtCustomOp* op) => ((NativeCustomOp*)op)->OutputCount;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int GetInputCharacteristic(OrtCustomOp* op, nuint index)
    {
        var n = (NativeCustomOp*)op;
        return index < n->InputCount ? n->InputCharacteristics[index] : 0;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int GetOutputCharacteristic(OrtCustomOp* op, nuint index)
    {
        var n = (NativeCustomOp*)op;
        return index < n->OutputCount ? n->OutputCharacteristics[index] : 0;
    }

    // OrtMemTypeDefault (0): inputs on the provider's default device, the CPU.
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int GetInputMemoryType(OrtCustomOp* op, nuint index) => 0;

    // No input or output is variadic, so ORT does not act on these; they answer the defaults (arity 1, homogeneous).
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int GetVariadicMinArity(OrtCustomOp* op) => 1;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int GetVariadicHomogeneity(OrtCustomOp* op) => 1;

    /// <summary>OrtStatusPtr CreateKernelV2(const OrtCustomOp*, const OrtApi*, const OrtKernelInfo*, void** kernel).</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint CreateKernelV2(OrtCustomOp* op, void* api, nint info, void** kernel)
    {
        *kernel = null;
        string name = "?";
        try
        {
            var managed = (ManagedCustomOp)GCHandle.FromIntPtr(((NativeCustomOp*)op)->Managed).Target!;
            name = managed.Name;
            var created = managed.CreateKernel(new KernelInfo(info))
                ?? throw new InvalidOperationException("The kernel factory returned null.");
            *kernel = (void*)GCHandle.ToIntPtr(GCHandle.Alloc(created));
            return 0;
        }
        catch (Exception e)
        {
            return StatusFrom(e, $"Creating the kernel of custom op '{name}': ");
        }
    }

    /// <summary>OrtStatusPtr KernelComputeV2(void* op_kernel, OrtKernelContext* context).</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint KernelComputeV2(void* kernel, nint context)
    {
        try
        {
            var target = Unsafe.As<ICustomOpKernel>(GCHandle.FromIntPtr((nint)kernel).Target!);
            target.Compute(new KernelContext(context));
            return 0;
        }
        catch (Exception e)
        {
            return StatusFrom(e, string.Empty);
        }
    }

    /// <summary>void KernelDestroy(void* op_kernel): frees the handle and disposes the kernel.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void KernelDestroy(void* kernel)
    {
        if (kernel == null)
        {
            return;
        }

        try
        {
            var handle = GCHandle.FromIntPtr((nint)kernel);
            object? target = handle.Target;
            handle.Free();
            (target as IDisposable)?.Dispose();
        }
        catch (Exception e)
        {
            // ORT gives KernelDestroy no way to report a failure; a throwing Dispose is the kernel's bug, and letting
            // the exception reach native code would end the process.
            System.Diagnostics.Trace.TraceError($"gguf2qnn custom op kernel Dispose failed: {e}");
        }
    }

    /// <summary>A new <c>OrtStatus*</c> for <paramref name="e"/>. Never throws.</summary>
    private static nint StatusFrom(Exception e, string prefix)
    {
        try
        {
            var code = e is CustomOpException { ErrorCode: not OrtErrorCode.Ok } c ? c.ErrorCode : OrtErrorCode.Fail;
            return OrtApiTable.CreateStatusFor(code, $"{prefix}{e.GetType().FullName}: {e.Message}");
        }
        catch
        {
            fixed (byte* p = FallbackMessage)
            {
                return OrtApiTable.CreateStatus((int)OrtErrorCode.Fail, p);
            }
        }
    }
}
