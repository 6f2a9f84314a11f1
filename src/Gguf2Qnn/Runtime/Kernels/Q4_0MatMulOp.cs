using Gguf2Qnn.Runtime.CustomOps;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>
/// The ONNX Runtime custom op <c>com.gguf2qnn.MatMulQ4_0</c> that <see cref="Q4_0KernelRewriter"/> puts in place of
/// a Q4_0 MatMulNBits node: inputs A float32 [..., K], B uint8 [N, K/32, 16] and scales float32 [N·K/32] (MatMulNBits'
/// own layout, constant initializers), optional bias float32 [N]; attributes K, N, optional <c>split</c> (ints) and
/// <c>swiglu</c> (int, 0 or 1). Outputs: Y float32 [..., N]; with <c>split</c> = [w0, w1(, w2)] Y's last axis split into
/// that many outputs (as an ONNX Split); with <c>swiglu</c> = 1 one output [..., N/2] = silu(Y[..., :N/2]) · Y[..., N/2:].
/// The weights are re-packed once per session (<see cref="Q4_0PackedWeights"/>) and every run calls
/// <see cref="Q4_0MatMul"/> on ONNX Runtime's intra-op threads.
/// </summary>
public static class Q4_0MatMulOp
{
    /// <summary>The domain holding the op (<see cref="Gguf2QnnKernels.Domain"/>, with gguf2qnn's other kernels); created
    /// once per process and never freed (see <see cref="CustomOpDomain"/>).</summary>
    public static CustomOpDomain Domain => Gguf2QnnKernels.Domain;

    /// <summary>The op's definition (inputs, outputs, kernel factory).</summary>
    internal static ManagedCustomOp Op { get; } = new(
        Q4_0KernelRewriter.OpType,
        [new(TensorElementType.Float), new(TensorElementType.UInt8), new(TensorElementType.Float), new(TensorElementType.Float, Optional: true)],
        [new(TensorElementType.Float), new(TensorElementType.Float, Optional: true), new(TensorElementType.Float, Optional: true)],
        info => new Kernel(info));

    private sealed unsafe class Kernel : ICustomOpKernel, IDisposable
    {
        private readonly Q4_0MatMul _matmul;
        private readonly int _k, _n;

        public Kernel(KernelInfo info)
        {
            (_k, _n) = MatMulOpKernel.ReadWeights(info, Q4_0KernelRewriter.OpType, Q4_0PackedWeights.BlockSize, out var b, out var scales);
            bool swiGlu = info.GetInt64("swiglu", 0) != 0;
            var split = info.GetInt64Array("split");
            if (split.Any(w => w <= 0 || w > _n))
                throw new InvalidDataException($"{info.NodeName}: split widths must be in [1, N].");
            var epilogue = swiGlu ? Q4_0Epilogue.SwiGlu : split.Length <= 1 ? Q4_0Epilogue.None : Q4_0Epilogue.Split(split.Select(w => (int)w).ToArray());
            var packed = Q4_0PackedWeights.FromMatMulNBits(b.GetData<byte>(), scales.GetData<float>(), _n, _k, pairHalves: swiGlu);
            MatMulOpKernel.ReleaseOriginals(b, scales);
            try
            {
                _matmul = new Q4_0MatMul(packed, ownsWeights: true, epilogue);
            }
            catch
            {
                packed.Dispose();
                throw;
            }
        }

        public void Compute(KernelContext context)
        {
            var a = context.GetInput(0);
            long m = MatMulOpKernel.Rows(a, _k, Q4_0KernelRewriter.OpType);
            var shape = a.Shape;
            Span<long> outShape = stackalloc long[shape.Length];
            shape.CopyTo(outShape);
            var widths = _matmul.OutputWidths;
            Span<nint> outputs = stackalloc nint[widths.Count];
            for (int i = 0; i < widths.Count; i++)
            {
                outShape[^1] = widths[i];
                outputs[i] = context.GetOutput(i, outShape).DataPointer;
            }

            float* bias = MatMulOpKernel.Bias(context, _n, Q4_0KernelRewriter.OpType);
            if (m == 0) return;
            int rows = MatMulOpKernel.CheckedRows(m, Q4_0KernelRewriter.OpType);
            using var parallel = context.CreateParallelFor();
            _matmul.Run((float*)a.DataPointer, rows, outputs, bias, parallel);
        }

        public void Dispose() => _matmul.Dispose();
    }
}
