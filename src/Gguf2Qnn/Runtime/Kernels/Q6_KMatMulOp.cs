using Gguf2Qnn.Runtime.CustomOps;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>
/// The ONNX Runtime custom op <c>com.gguf2qnn.MatMulQ6_K</c> that <see cref="Q6_KKernelRewriter"/> puts in place of a
/// Q6_K MatMulNBits node: inputs A float32 [..., K], B uint8 [N, K/16, 16] and scales float32 [N·K/16] (MatMulNBits'
/// own layout for bits 8, block_size 16, no zero_points; constant initializers), optional bias float32 [N]; attributes
/// K (a multiple of 256) and N. Output Y float32 [..., N]. The weights are recovered and re-packed once per session
/// (<see cref="Q6_KPackedWeights"/>) and every run calls <see cref="Q6_KMatMul"/> on ONNX Runtime's intra-op threads.
/// </summary>
public static class Q6_KMatMulOp
{
    /// <summary>The domain holding the op (<see cref="Gguf2QnnKernels.Domain"/>).</summary>
    public static CustomOpDomain Domain => Gguf2QnnKernels.Domain;

    /// <summary>The op's definition (inputs, outputs, kernel factory).</summary>
    internal static ManagedCustomOp Op { get; } = new(
        Q6_KKernelRewriter.OpType,
        [new(TensorElementType.Float), new(TensorElementType.UInt8), new(TensorElementType.Float), new(TensorElementType.Float, Optional: true)],
        [new(TensorElementType.Float)],
        info => new Kernel(info));

    private sealed unsafe class Kernel : ICustomOpKernel, IDisposable
    {
        private readonly Q6_KMatMul _matmul;
        private readonly int _k, _n;

        public Kernel(KernelInfo info)
        {
            (_k, _n) = MatMulOpKernel.ReadWeights(info, Q6_KKernelRewriter.OpType, Q6_KPackedWeights.BlockSize, out var b, out var scales);
            var packed = Q6_KPackedWeights.FromMatMulNBits(b.GetData<byte>(), scales.GetData<float>(), _n, _k);
            MatMulOpKernel.ReleaseOriginals(b, scales);
            try
            {
                _matmul = new Q6_KMatMul(packed, ownsWeights: true);
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
            long m = MatMulOpKernel.Rows(a, _k, Q6_KKernelRewriter.OpType);
            var shape = a.Shape;
            Span<long> outShape = stackalloc long[shape.Length];
            shape.CopyTo(outShape);
            outShape[^1] = _n;
            var y = context.GetOutput(0, outShape);

            float* bias = MatMulOpKernel.Bias(context, _n, Q6_KKernelRewriter.OpType);
            if (m == 0) return;
            int rows = MatMulOpKernel.CheckedRows(m, Q6_KKernelRewriter.OpType);
            using var parallel = context.CreateParallelFor();
            _matmul.Run((float*)a.DataPointer, rows, (float*)y.DataPointer, bias, parallel);
        }

        public void Dispose() => _matmul.Dispose();
    }
}
