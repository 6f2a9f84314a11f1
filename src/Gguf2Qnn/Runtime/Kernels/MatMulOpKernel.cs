using Gguf2Qnn.Runtime.CustomOps;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>
/// What the <see cref="Q4_0MatMulOp"/> and <see cref="Q6_KMatMulOp"/> kernels share: reading their K, N and constant
/// B and scales when ONNX Runtime creates them, and their A and optional bias inputs on every run.
/// </summary>
internal static unsafe class MatMulOpKernel
{
    /// <summary>
    /// The attributes K (a positive multiple of <paramref name="kMultiple"/>) and N (positive), and the constant
    /// initializers B (input 1) and scales (input 2).
    /// </summary>
    /// <exception cref="InvalidDataException">K or N out of range, or B or scales not a constant initializer.</exception>
    public static (int K, int N) ReadWeights(KernelInfo info, string opType, int kMultiple, out KernelTensor b, out KernelTensor scales)
    {
        long k = info.GetInt64("K"), n = info.GetInt64("N");
        if (k <= 0 || k % kMultiple != 0 || k > int.MaxValue || n <= 0 || n > int.MaxValue)
            throw new InvalidDataException($"{info.NodeName}: {opType} needs K a positive multiple of {kMultiple} and N > 0 (K={k}, N={n}).");
        if (!info.TryGetConstantInput(1, out b) || !info.TryGetConstantInput(2, out scales))
            throw new InvalidDataException($"{info.NodeName}: {opType} needs B and scales as constant initializers.");
        return ((int)k, (int)n);
    }

    /// <summary>Once the packed copy is made it is what runs: ONNX Runtime's memory-mapped originals of B and scales
    /// need not stay resident (<see cref="MappedFilePages.TryRelease"/>).</summary>
    public static void ReleaseOriginals(KernelTensor b, KernelTensor scales)
    {
        MappedFilePages.TryRelease((void*)b.DataPointer, b.ByteLength);
        MappedFilePages.TryRelease((void*)scales.DataPointer, scales.ByteLength);
    }

    /// <summary>The rows M of A [..., K]: its element count over K.</summary>
    /// <exception cref="InvalidDataException">A's last dimension is not K.</exception>
    public static long Rows(KernelTensor a, int k, string opType)
    {
        var shape = a.Shape;
        if (shape.Length == 0 || shape[^1] != k)
            throw new InvalidDataException($"{opType}: A's last dimension must be K = {k}.");
        return a.ElementCount / k;
    }

    /// <summary>The optional bias (input 3) float32 [N], or null when the node has none.</summary>
    /// <exception cref="InvalidDataException">The bias does not hold N values.</exception>
    public static float* Bias(KernelContext context, int n, string opType)
    {
        if (context.InputCount <= 3) return null;
        var bias = context.GetInput(3);
        if (!bias.IsPresent) return null;
        if (bias.ElementCount != n) throw new InvalidDataException($"{opType}: the bias must have N = {n} values.");
        return (float*)bias.DataPointer;
    }

    /// <summary>M as an int for the kernels.</summary>
    /// <exception cref="InvalidDataException">M is past int.MaxValue.</exception>
    public static int CheckedRows(long m, string opType) =>
        m <= int.MaxValue ? (int)m : throw new InvalidDataException($"{opType}: too many rows ({m}).");
}
