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
            long k = info.GetInt64("K"), n = info.GetInt64("N");
            if (k <= 0 || k % Q6_KPackedWeights.BlockSize != 0 || k > int.MaxValue || n <= 0 || n > int.MaxValue)
                throw new InvalidDataException($"{info.NodeName}: {Q6_KKernelRewriter.OpType} needs K a positive multiple of 256 and N > 0 (K={k}, N={n}).");
            if (!info.TryGetConstantInput(1, out var b) || !info.TryGetConstantInput(2, out var scales))
                throw new InvalidDataException($"{info.NodeName}: {Q6_KKernelRewriter.OpType} needs B and scales as constant initializers.");
            _k = (int)k;
            _n = (int)n;
            var packed = Q6_KPackedWeights.FromMatMulNBits(b.GetData<byte>(), scales.GetData<float>(), _n, _k);

            // The packed copy is what runs; ORT's memory-mapped original need not stay resident.
            MappedFilePages.TryRelease((void*)b.DataPointer, b.ByteLength);
            MappedFilePages.TryRelease((void*)scales.DataPointer, scales.ByteLength);
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
            var shape = a.Shape;
            if (shape.Length == 0 || shape[^1] != _k)
                throw new InvalidDataException($"{Q6_KKernelRewriter.OpType}: A's last dimension must be K = {_k}.");
            long m = a.ElementCount / _k;
            Span<long> outShape = stackalloc long[shape.Length];
            shape.CopyTo(outShape);
            outShape[^1] = _n;
            var y = context.GetOutput(0, outShape);

            float* bias = null;
            if (context.InputCount > 3)
            {
                var bt = context.GetInput(3);
                if (bt.IsPresent)
                {
                    if (bt.ElementCount != _n) throw new InvalidDataException($"{Q6_KKernelRewriter.OpType}: the bias must have N = {_n} values.");
                    bias = (float*)bt.DataPointer;
                }
            }

            if (m == 0) return;
            if (m > int.MaxValue) throw new InvalidDataException($"{Q6_KKernelRewriter.OpType}: too many rows ({m}).");
            using var parallel = context.CreateParallelFor();
            _matmul.Run((float*)a.DataPointer, (int)m, (float*)y.DataPointer, bias, parallel);
        }

        public void Dispose() => _matmul.Dispose();
    }
}
