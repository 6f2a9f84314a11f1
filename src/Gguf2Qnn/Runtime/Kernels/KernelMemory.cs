using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Gguf2Qnn.Runtime.Kernels;

/// <summary>What the Q4_0 and Q6_K kernels share outside their hot loops: packed-weight memory, task sizing, and the
/// partial vector at the end of a row.</summary>
internal static unsafe class KernelMemory
{
    /// <summary>Bytes of an x86-64 transparent huge page.</summary>
    public const nuint HugePage = 2 * 1024 * 1024;

    /// <summary>
    /// Native memory for <paramref name="bytes"/> bytes of packed weights, aligned to 2 MiB so that whole huge pages can
    /// back it and, on Linux, advised for transparent huge pages (madvise MADV_HUGEPAGE; where refused, 4 KiB pages
    /// serve as well). The size is rounded up to 4 KiB only, not to 2 MiB, so a tail shorter than a huge page stays on
    /// 4 KiB pages instead of pinning up to 2 MiB per weight. Free with <see cref="NativeMemory.AlignedFree"/>.
    /// </summary>
    public static byte* AllocateHugePageAligned(long bytes)
    {
        nuint size = ((nuint)bytes + 4095) & ~(nuint)4095;
        var data = (byte*)NativeMemory.AlignedAlloc(size, HugePage);
        Madvise.TryAdvise(data, size, Madvise.HugePage);
        return data;
    }

    /// <summary>
    /// Splits <paramref name="pairs"/> panel pairs into tasks of at least <paramref name="minPairsPerTask"/> pairs and at
    /// most <paramref name="maxTasks"/> tasks: enough for ONNX Runtime's pool to balance two to a few threads, not so
    /// many that per-task overhead shows. Returns the task count; <paramref name="pairsPerTask"/> the pairs of each.
    /// </summary>
    public static int TaskCount(int pairs, int minPairsPerTask, int maxTasks, out int pairsPerTask)
    {
        int tasks = Math.Max(1, Math.Min(pairs / minPairsPerTask, maxTasks));
        pairsPerTask = (pairs + tasks - 1) / tasks;
        return (pairs + pairsPerTask - 1) / pairsPerTask;
    }

    /// <summary>Stores <paramref name="v"/> at <paramref name="y"/>: all 16 floats when <paramref name="width"/> ≥ 16, else
    /// the first <paramref name="width"/> (no write past the end of the row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> v, float* y, int width)
    {
        if (width >= 16)
        {
            v.Store(y);
            return;
        }

        for (int i = 0; i < width; i++) y[i] = v[i];
    }

    /// <summary>The first <paramref name="count"/> (&lt; 16) floats at <paramref name="p"/> in a vector, zeros after them
    /// (no read past the end of the row).</summary>
    public static Vector512<float> Tail(float* p, int count)
    {
        var v = Vector512<float>.Zero;
        for (int i = 0; i < count; i++) v = v.WithElement(i, p[i]);
        return v;
    }
}
